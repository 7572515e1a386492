import { randomUUID } from 'crypto';
import { CRYPTO_USER, Harness } from '../simulator/harness';
import { hsmctl } from '../hsmctl-in-process';

const ADMINISTRATOR = 'a290e904-7015-4bba-90c8-60543313cdb4';

describe('hsmctl roles against the simulator', () => {
  let h: Harness;
  let target: string[];
  let user: string;
  beforeAll(async () => {
    h = await Harness.start();
    target = ['--simulator', h.dir, '--hsm', 'hsm1'];
    user = randomUUID();
    await h.sim.addPrincipal(user); // a principal with a secret file and no role
  });
  afterAll(() => h.close());

  const assignments = async (assignee: string) => JSON.parse((await hsmctl(['roles', 'list', ...target, '--assignee', assignee, '--json'])).out);

  test('GIVEN a principal with no role WHEN it creates a key THEN the 403 names the role and the roles assign that grants it (exit 1)', async () => {
    const r = await hsmctl(['keys', 'create', 'app-1', ...target, '--principal', user, '--kty', 'EC-HSM']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^hsmctl keys create: the HSM refused: 403 \w+/);
    expect(r.err).toContain('The caller needs the role "Managed HSM Crypto User" at scope /keys');
    expect(r.err).toContain(`hsmctl roles assign --role "Managed HSM Crypto User" --assignee ${user} --scope /keys --simulator ${h.dir} --hsm hsm1`);
  });

  test('roles assign grants it, a second assign changes nothing, and the key can then be created', async () => {
    const first = await hsmctl(['roles', 'assign', ...target, '--role', 'Crypto User', '--assignee', user, '--scope', '/keys']);
    expect(first).toMatchObject({ code: 0, err: '' });
    expect(first.out).toMatch(new RegExp(`^assigned: Managed HSM Crypto User to ${user} at /keys \\(assignment [0-9a-f-]{36}\\)`));
    const again = await hsmctl(['roles', 'assign', ...target, '--role', '21dbd100-6940-42c2-9190-5d6cb909625b', '--assignee', user.toUpperCase(), '--scope', '/keys/']);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^already assigned: Managed HSM Crypto User/);
    expect(await assignments(user)).toEqual([expect.objectContaining({ role: 'Managed HSM Crypto User', principalId: user, scope: '/keys' })]);
    expect((await hsmctl(['keys', 'create', 'app-1', ...target, '--principal', user, '--kty', 'EC-HSM'])).code).toBe(0);
  });

  test('roles remove takes it away, and a second remove says there is nothing to remove (exit 0)', async () => {
    const r = await hsmctl(['roles', 'remove', ...target, '--role', 'Managed HSM Crypto User', '--assignee', user, '--scope', '/keys']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^removed: Managed HSM Crypto User of/);
    expect(await assignments(user)).toEqual([]);
    const again = await hsmctl(['roles', 'remove', ...target, '--role', 'Managed HSM Crypto User', '--assignee', user, '--scope', '/keys']);
    expect(again).toMatchObject({ code: 0 });
    expect(again.out).toMatch(/^nothing to remove/);
    expect((await hsmctl(['keys', 'show', 'app-1', ...target, '--principal', user])).code).toBe(1);
  });

  test('roles assign at one key\'s scope lets the principal use that key only', async () => {
    // A second key, made by the administrator (who takes a key role for it).
    await h.assignRole(h.admin.objectId, CRYPTO_USER, '/keys');
    await h.keyClient().createEcKey('app-2', { hsm: true, curve: 'P-256' });
    expect((await hsmctl(['roles', 'assign', ...target, '--role', 'Crypto User', '--assignee', user, '--scope', '/keys/app-1'])).code).toBe(0);
    expect((await hsmctl(['keys', 'show', 'app-1', ...target, '--principal', user])).code).toBe(0);
    const other = await hsmctl(['keys', 'show', 'app-2', ...target, '--principal', user]);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/^hsmctl keys show: the HSM refused: 403 /);
    expect(await assignments(user)).toEqual([expect.objectContaining({ scope: '/keys/app-1' })]);
  });

  test('roles definitions lists the built-in roles with their data actions', async () => {
    const r = await hsmctl(['roles', 'definitions', ...target, '--json']);
    expect(r.code).toBe(0);
    const defs = JSON.parse(r.out) as Array<{ name: string; properties: { roleName: string } }>;
    expect(defs.map((d) => d.properties.roleName)).toEqual(expect.arrayContaining(['Managed HSM Administrator', 'Managed HSM Crypto User', 'Managed HSM Crypto Officer']));
    expect((await hsmctl(['roles', 'definitions', ...target])).out).toMatch(/Managed HSM Administrator \(a290e904-7015-4bba-90c8-60543313cdb4, AKVBuiltInRole\)\n {4}data actions: /);
  });

  test('the last Administrator at "/" is not removed (exit 1, nothing changed)', async () => {
    const r = await hsmctl(['roles', 'remove', ...target, '--role', ADMINISTRATOR, '--assignee', h.admin.objectId, '--scope', '/']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/holds the last Administrator assignment at "\/".*Nothing was removed/);
    expect(await assignments(h.admin.objectId)).toEqual(expect.arrayContaining([expect.objectContaining({ role: 'Managed HSM Administrator', scope: '/' })]));
  });

  test.each([
    [['--role', 'Crypto Janitor', '--assignee', randomUUID(), '--scope', '/'], /--role "Crypto Janitor": the HSM has no such role; its roles: .*Managed HSM Crypto User/],
    [['--role', 'Crypto User', '--assignee', 'alice@contoso.com', '--scope', '/'], /--assignee "alice@contoso.com": give the principal's object id/],
    [['--role', 'Crypto User', '--assignee', randomUUID(), '--scope', '/secrets'], /--scope "\/secrets": allowed "\/" \(the whole HSM\), "\/keys" \(every key\) or "\/keys\/NAME" \(one key\)/],
    [['--role', 'Crypto User', '--assignee', randomUUID()], /--scope is required/],
  ])('roles assign %j is a usage error (exit 2) and assigns nothing', async (args, message) => {
    const before = (await hsmctl(['roles', 'list', ...target, '--json'])).out;
    const r = await hsmctl(['roles', 'assign', ...target, ...(args as string[])]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message as RegExp);
    expect((await hsmctl(['roles', 'list', ...target, '--json'])).out).toBe(before);
  });
});
