import * as fs from 'fs';
import * as path from 'path';
import { formatStatus, managedHsmStatus, parseClientList, statusOk } from '../../scripts/ceremonies/status';
import { ManagedHsmAdminClient } from '../../scripts/clients/mhsm-admin';
import { KeyClient } from '@azure/keyvault-keys';
import { Harness, clientOptions } from '../simulator/harness';
import { hsmctl } from '../hsmctl-in-process';
import { randomUUID } from 'crypto';
import * as net from 'net';

/** A loopback port nothing listens on (bound, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}


describe('hsmctl status against the simulator, targets from the cdktf outputs file', () => {
  let h: Harness;
  let outputs: string;
  let target: string[];
  beforeAll(async () => {
    h = await Harness.start({ activate: false });
    outputs = path.join(h.dir, 'outputs.json');
    fs.writeFileSync(outputs, JSON.stringify({ 'hsm-test': { hsm_uri: h.hsmUri, managed_hsm_name: 'hsm1', resource_group_name: 'rg-hsm' } }));
    target = ['--from-outputs', outputs, '--simulator', h.dir];
  });
  afterAll(() => h.close());

  test('GIVEN a new Managed HSM THEN it is reachable and not activated; keys are not listed; exit 0', async () => {
    const r = await hsmctl(['status', ...target]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toBe('Managed HSM hsm1: reachable; not activated; not checked: last backup (give --storage-url and a SAS to look for it)');
  });

  test('WHEN it is activated (sd activate, target from the same outputs) and holds keys THEN status reports them and those expiring soon', async () => {
    const sd = path.join(h.dir, 'sd');
    const a = await hsmctl(['sd', 'activate', ...target, '--certs', '3', '--quorum', '2', '--key-size', '2048', '--out', sd]);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    await h.assignRole(h.admin.objectId, '21dbd100-6940-42c2-9190-5d6cb909625b'); // Crypto User: creates and reads keys
    expect((await hsmctl(['keys', 'create', 'soon', ...target, '--kty', 'EC-HSM', '--expires', 'P10D'])).code).toBe(0);
    expect((await hsmctl(['keys', 'create', 'later', ...target, '--kty', 'EC-HSM', '--expires', 'P100D'])).code).toBe(0);
    const r = await hsmctl(['status', ...target, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.ok).toBe(true);
    expect(report.hsms).toHaveLength(1);
    expect(report.hsms[0]).toMatchObject({ hsm: 'hsm1', kind: 'Managed HSM', reachable: true, activated: true, keys: 2 });
    expect(report.hsms[0].keysExpiringSoon).toEqual([expect.stringMatching(/^soon \(\d{4}-\d{2}-\d{2}\)$/)]);
    const wide = await hsmctl(['status', ...target, '--expiring-days', '200']);
    expect(wide.out).toMatch(/Managed HSM hsm1: reachable; activated; 2 keys; expiring within 200 days: (later|soon) .*, (later|soon) /);
    // --simulator alone reports every HSM of the simulator, the same way.
    expect((await hsmctl(['status', '--simulator', h.dir])).out).toMatch(/Managed HSM hsm1: reachable; activated; 2 keys/);
  });

  test('a Dedicated HSM of the outputs with no appliance behind it is UNREACHABLE: exit 1', async () => {
    const f = path.join(h.dir, 'with-dedicated.json');
    const id = '/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-hsm/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs/luna-1';
    fs.writeFileSync(f, JSON.stringify({ 'hsm-test': { hsm_uri: h.hsmUri, managed_hsm_name: 'hsm1', dedicated_hsm_ids: [id], dedicated_hsm_private_ips: ['10.2.1.8'] } }));
    const r = await hsmctl(['status', '--from-outputs', f, '--simulator', h.dir]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/Dedicated HSM luna-1: UNREACHABLE; no Luna appliance answers for it/);
  });

  test('an HSM of the outputs that the standing-in simulator does not hold is a usage error naming it (exit 2)', async () => {
    const f = path.join(h.dir, 'unreachable.json');
    fs.writeFileSync(f, JSON.stringify({ hsm_uri: { sensitive: false, type: 'string', value: 'https://127.0.0.1:9/' } }));
    const r = await hsmctl(['status', '--from-outputs', f, '--principal', h.admin.objectId, '--simulator', h.dir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no such Managed HSM/);
  });

  test('a principal without key or security-domain rights: reachable, with what was denied and the role that would let it read; exit 1', async () => {
    const reader = randomUUID();
    await h.sim.addPrincipal(reader);
    const r = await hsmctl(['status', ...target, '--principal', reader]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^Managed HSM hsm1: reachable; access denied: activation status \(403 \w+; needs Managed HSM Administrator\), keys \(403 \w+; needs Managed HSM Crypto User or Crypto Auditor at \/keys\)/);
    const json = JSON.parse((await hsmctl(['status', ...target, '--principal', reader, '--json'])).out);
    expect(json).toMatchObject({ ok: false, hsms: [{ hsm: 'hsm1', reachable: true, accessDenied: [expect.stringMatching(/^activation status/), expect.stringMatching(/^keys/)] }] });
  });

  test('an HSM that does not answer is UNREACHABLE, told apart from a refusal (real clients against a closed port)', async () => {
    const closed = `https://127.0.0.1:${await freePort()}/`;
    const admin = new ManagedHsmAdminClient(closed, h.admin.credential, { ca: h.sim.caCert });
    try {
      const keys = new KeyClient(closed, h.admin.credential, { ...clientOptions(h.sim) });
      const row = await managedHsmStatus({ name: 'gone', admin, keys });
      expect(row).toMatchObject({ hsm: 'gone', reachable: false, problem: expect.stringMatching(/^ECONNREFUSED: /) });
      expect(statusOk(row)).toBe(false);
      expect(formatStatus(row)).toMatch(/^Managed HSM gone: UNREACHABLE; ECONNREFUSED/);
    } finally {
      admin.close();
    }
  });

  test('usage: bad --expiring-days, a SAS without --storage-url, no target, unknown flags exit 2; --help exits 0', async () => {
    expect((await hsmctl(['status', ...target, '--expiring-days', '0'])).code).toBe(2);
    expect((await hsmctl(['status', ...target, '--sas-file', 'sas.txt'])).code).toBe(2);
    expect((await hsmctl(['status'])).code).toBe(2);
    expect((await hsmctl(['status', '--what'])).code).toBe(2);
    expect((await hsmctl(['status', ...target, '--luna-password-env', 'HSMCTL_TEST_UNSET_VAR'])).code).toBe(2);
    expect((await hsmctl(['status', '--help'])).code).toBe(0);
  });
});

describe('status formatting and LunaSH parsing', () => {
  test('parses `client list` output', () => {
    expect(parseClientList('\nregistered client 1: ctm\nregistered client 2: vsrx-1\n\nCommand Result : 0 (Success)\n')).toEqual(['ctm', 'vsrx-1']);
    expect(parseClientList('\nNo clients are registered.\n\nCommand Result : 0 (Success)')).toEqual([]);
  });
  test('formats a Dedicated HSM whose clients were not checked', () => {
    expect(formatStatus({ hsm: 'luna-1', kind: 'Dedicated HSM', reachable: true, notChecked: 'registered clients (no password)' })).toBe(
      'Dedicated HSM luna-1: reachable; not checked: registered clients (no password)',
    );
  });
});
