import * as fs from 'fs';
import * as path from 'path';
import { Harness } from '../simulator/harness';
import { hsmctl } from '../hsmctl-in-process';


describe('hsmctl keys (against the simulator, target from Terraform outputs)', () => {
  let h: Harness;
  let outputs: string;
  let target: string[];
  beforeAll(async () => {
    h = await Harness.start();
    outputs = path.join(h.dir, 'outputs.json');
    // `terraform output -json` of a deployed stack whose Managed HSM is the simulator's hsm1.
    fs.writeFileSync(
      outputs,
      JSON.stringify({
        hsm_uri: { sensitive: false, type: 'string', value: h.hsmUri },
        managed_hsm_name: { sensitive: false, type: 'string', value: 'hsm1' },
        resource_group_name: { sensitive: false, type: 'string', value: 'rg-hsm' },
      }),
    );
    target = ['--from-outputs', outputs, '--simulator', h.dir];
    await h.assignRole(h.admin.objectId, '21dbd100-6940-42c2-9190-5d6cb909625b'); // Crypto User: administrators hold no key permissions, and Crypto Officer none over live keys
  });
  afterAll(() => h.close());

  test('creates RSA, EC and oct keys with operations, expiry, tags and a rotation policy; shows and lists them', async () => {
    const rsa = await hsmctl(['keys', 'create', 'wrap-1', ...target, '--kty', 'RSA-HSM', '--size', '3072', '--ops', 'wrapKey', 'unwrapKey', '--expires', 'P400D', '--tag', 'owner=sec',
      '--rotation-policy', '{"expiresIn":"P2Y","lifetimeActions":[{"action":"Rotate","timeAfterCreate":"P1Y"},{"action":"Notify","timeBeforeExpiry":"P30D"}]}']);
    expect(rsa.err).toBe('');
    expect(rsa.code).toBe(0);
    expect(rsa.out).toMatch(/created wrap-1: RSA-HSM 3072, ops wrapKey,unwrapKey, version \w+, expires .*rotation policy set/);
    const ec = await hsmctl(['keys', 'create', 'sign-1', ...target, '--kty', 'ec-hsm', '--curve', 'P-384', '--ops', 'sign,verify', '--expires', new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10)]);
    expect(ec.code).toBe(0);
    const oct = await hsmctl(['keys', 'create', 'aes-1', ...target, '--kty', 'oct-HSM', '--json']);
    expect(oct.code).toBe(0);
    expect(JSON.parse(oct.out)).toMatchObject({ name: 'aes-1', kty: 'oct-HSM' });

    const show = await hsmctl(['keys', 'show', 'wrap-1', ...target, '--json']);
    expect(show.code).toBe(0);
    const d = JSON.parse(show.out);
    expect(d).toMatchObject({ kty: 'RSA-HSM', size: 3072, keyOps: ['wrapKey', 'unwrapKey'], tags: { owner: 'sec' }, enabled: true });
    expect(d.rotationPolicy.expiresIn).toBe('P2Y');
    expect(d.rotationPolicy.lifetimeActions).toEqual(expect.arrayContaining([{ action: 'Rotate', timeAfterCreate: 'P1Y' }, { action: 'Notify', timeBeforeExpiry: 'P30D' }]));
    expect(show.out).not.toMatch(/"n"|"e"/); // no key material, not even the public modulus

    const human = await hsmctl(['keys', 'show', 'sign-1', ...target]);
    expect(human.out).toMatch(/sign-1 \(version \w+\): EC-HSM P-384, enabled/);
    expect(human.out).toMatch(/rotation policy: none/);

    const list = await hsmctl(['keys', 'list', ...target, '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out).map((k: { name: string }) => k.name)).toEqual(['aes-1', 'sign-1', 'wrap-1']);
  });

  test('rotate makes a new version; create refuses an existing name and changes nothing', async () => {
    const before = JSON.parse((await hsmctl(['keys', 'show', 'wrap-1', ...target, '--json'])).out);
    const r = await hsmctl(['keys', 'rotate', 'wrap-1', ...target]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`rotated wrap-1: version ${before.version} -> \\w+`));
    const after = JSON.parse((await hsmctl(['keys', 'show', 'wrap-1', ...target, '--json'])).out);
    expect(after.version).not.toBe(before.version);
    const again = await hsmctl(['keys', 'create', 'wrap-1', ...target, '--kty', 'RSA-HSM']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already exists.*keys rotate wrap-1.*nothing was changed/);
    expect(JSON.parse((await hsmctl(['keys', 'show', 'wrap-1', ...target, '--json'])).out).version).toBe(after.version);
  });

  test('a missing key fails with exit 1 and a clear message', async () => {
    const r = await hsmctl(['keys', 'show', 'nope', ...target]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/hsmctl keys show: error: no key named nope/);
    expect((await hsmctl(['keys', 'rotate', 'nope', ...target])).code).toBe(1);
  });

  test.each([
    [['--kty', 'RSA'], /only HSM-protected keys; use RSA-HSM, EC-HSM, oct-HSM/],
    [['--kty', 'DSA'], /--kty DSA: allowed: RSA-HSM/],
    [[], /--kty is required/],
    [['--kty', 'RSA-HSM', '--size', '1024'], /--size 1024: a RSA-HSM key is 2048, 3072, 4096 bits/],
    [['--kty', 'oct-HSM', '--size', '512'], /128, 192, 256/],
    [['--kty', 'EC-HSM', '--size', '256'], /--size is for RSA-HSM and oct-HSM/],
    [['--kty', 'EC-HSM', '--curve', 'P-999'], /--curve P-999: allowed P-256, P-384, P-521, P-256K/],
    [['--kty', 'RSA-HSM', '--curve', 'P-256'], /--curve is for EC-HSM keys/],
    [['--kty', 'EC-HSM', '--ops', 'encrypt'], /--ops encrypt does not apply to a EC-HSM key/],
    [['--kty', 'RSA-HSM', '--ops', 'export'], /--ops export: allowed/],
    [['--kty', 'RSA-HSM', '--ops', 'import', 'wrapKey'], /import makes a BYOK key-exchange key/],
    [['--kty', 'RSA-HSM', '--expires', 'tomorrow'], /--expires "tomorrow": give a date/],
    [['--kty', 'RSA-HSM', '--expires', '2001-01-01'], /--expires must be in the future/],
    [['--kty', 'RSA-HSM', '--tag', 'novalue'], /write KEY=VALUE/],
    [['--kty', 'RSA-HSM', '--rotation-policy', '{"lifetimeActions":[]}'], /1 or 2 actions/],
    [['--kty', 'RSA-HSM', '--rotation-policy', '{"lifetimeActions":[{"action":"Explode","timeAfterCreate":"P1Y"}]}'], /Rotate or Notify/],
    [['--kty', 'RSA-HSM', '--rotation-policy', '{"lifetimeActions":[{"action":"Rotate","timeBeforeExpiry":"P30D"}]}'], /needs expiresIn/],
    [['--kty', 'RSA-HSM', '--rotation-policy', '{"expiresIn":"P1Y","lifetimeActions":[{"action":"Rotate","timeAfterCreate":"P2Y"}]}'], /would expire before it rotates/],
    [['--kty', 'RSA-HSM', '--rotation-policy', '{"expiresIn":"two years","lifetimeActions":[{"action":"Rotate","timeAfterCreate":"P1Y"}]}'], /ISO 8601 duration/],
    [['--kty', 'RSA-HSM', '--rotation-policy', '/no/such/file.json'], /not inline JSON and not a readable file/],
    [['--kty', 'RSA-HSM', '--bogus'], /unknown option '--bogus'\nallowed: --hsm, .*--kty/],
  ])('fails with exit 2 on bad input %j, before calling the HSM', async (extra, message) => {
    const r = await hsmctl(['keys', 'create', 'bad-input', ...target, ...(extra as string[])]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message as RegExp);
    expect((await hsmctl(['keys', 'show', 'bad-input', ...target])).code).toBe(1);
  });

  test('the REST/az shape of a rotation policy is accepted too', async () => {
    const file = path.join(h.dir, 'policy.json');
    fs.writeFileSync(file, JSON.stringify({ lifetimeActions: [{ trigger: { timeAfterCreate: 'P90D' }, action: { type: 'rotate' } }], attributes: { expiryTime: 'P1Y' } }));
    const r = await hsmctl(['keys', 'create', 'az-shape', ...target, '--kty', 'EC-HSM', '--rotation-policy', file]);
    expect(r.code).toBe(0);
    const d = JSON.parse((await hsmctl(['keys', 'show', 'az-shape', ...target, '--json'])).out);
    expect(d.rotationPolicy).toEqual({ expiresIn: 'P1Y', lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P90D' }] });
  });

  test('usage: a key name is required, one only; --help exits 0', async () => {
    expect((await hsmctl(['keys', 'show', ...target])).code).toBe(2);
    expect((await hsmctl(['keys', 'show', 'a', 'b', ...target])).code).toBe(2);
    expect((await hsmctl(['keys', 'show', 'bad_name!', ...target])).code).toBe(2);
    expect((await hsmctl(['keys', 'list', 'extra', ...target])).code).toBe(2);
    expect((await hsmctl(['keys', 'create', '--help'])).code).toBe(0);
  });
});
