import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { Harness, CRYPTO_USER, Principal } from '../simulator/harness';
import { hsmctl } from '../hsmctl-in-process';
import { Azurite, startAzurite } from '../../simulator/storage/azurite';
import { AUDIT_CONTAINER } from '../../formats/audit-event';

describe('hsmctl audit', () => {
  let h: Harness;
  let az: Azurite;
  let work: string;
  let user: Principal;
  let nobody: Principal;
  let base: string[];

  beforeAll(async () => {
    work = Harness.tempDir('audit-cmd-');
    [h, az] = await Promise.all([Harness.start(), startAzurite({ location: path.join(work, 'azurite') })]);
    const storage = await az.containerSas(AUDIT_CONTAINER);
    h.sim.audit.deliverTo({ containerUrl: storage.containerUri, sas: storage.sas });
    fs.writeFileSync(path.join(work, 'sas.txt'), storage.sas, { mode: 0o600 });
    base = ['audit', '--storage-url', storage.containerUri, '--sas-file', path.join(work, 'sas.txt')];
    user = await h.newPrincipal();
    nobody = await h.newPrincipal();
    await h.assignRole(user.objectId, CRYPTO_USER, '/keys');
    const kc = h.keyClient(user);
    const k1 = await kc.createEcKey('k1', { curve: 'P-256', hsm: true });
    await kc.createEcKey('k2', { curve: 'P-256', hsm: true });
    await h.cryptoClient(k1.id!, user).sign('ES256', createHash('sha256').update('x').digest());
    await expect(h.cryptoClient(k1.id!, nobody).sign('ES256', createHash('sha256').update('x').digest())).rejects.toMatchObject({ statusCode: 403 });
    await h.sim.audit.flush();
  });
  afterAll(async () => {
    await h.close();
    await az.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('filters by key, principal and outcome', async () => {
    const r = await hsmctl([...base, '--key', 'k1']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n').filter((l) => /^\d{4}-/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toMatch(/\bk1\b/);
    expect(r.out).not.toMatch(/\bk2\b/);

    const denied = await hsmctl([...base, '--principal', nobody.objectId, '--outcome', 'failure']);
    expect(denied.code).toBe(0);
    const rows = denied.out.split('\n').filter((l) => /^\d{4}-/.test(l));
    // CryptographyClient reads the key before it signs: both calls were refused.
    expect(rows.map((l) => l.split(/\s+/)[1])).toEqual(['KeyGet', 'KeySign']);
    for (const l of rows) expect(l).toMatch(new RegExp(`Failure 403\\s+${nobody.objectId}\\s+k1`));
    expect(denied.out).toMatch(/2 record\(s\) \(2 refused or failed\)/);
  });

  test('filters by operation and time, and prints JSON records', async () => {
    const r = await hsmctl([...base, '--operation', 'KeyCreate', '--since', 'PT1H', '--json']);
    expect(r.code).toBe(0);
    const events = JSON.parse(r.out);
    expect(events.map((e: { properties: { id: string } }) => e.properties.id.split('/')[4]).sort()).toEqual(['k1', 'k2']);
    expect(events.every((e: { operationName: string; resultType: string }) => e.operationName === 'KeyCreate' && e.resultType === 'Success')).toBe(true);
    const future = await hsmctl([...base, '--since', '2999-01-01T00:00:00Z']);
    expect(future.out).toMatch(/^0 record\(s\)/m);
  });

  test('refuses bad filters and a container that is not the audit container, naming what is allowed', async () => {
    for (const [args, why] of [
      [['--outcome', 'maybe'], /--outcome must be success or failure/],
      [['--principal', 'bob'], /--principal must be an object id/],
      [['--since', 'yesterday'], /--since must be an ISO 8601 instant/],
      [['--since', 'PT1H', '--until', 'PT2H'], /--since must be earlier than --until/],
      [['--key', 'a/b'], /--key must be a key name/],
    ] as Array<[string[], RegExp]>) {
      const r = await hsmctl([...base, ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err).toMatch(why);
    }
    const other = await hsmctl(['audit', '--storage-url', `${az.blobEndpoint}/mhsm-backups`, '--sas-file', path.join(work, 'sas.txt')]);
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/insights-logs-auditevent/);
  });
});
