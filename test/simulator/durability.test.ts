import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { randomUUID, createHash, verify, createPublicKey } from 'crypto';
import { Harness, CRYPTO_USER, CRYPTO_OFFICER, httpsRequest } from './harness';
import { startSimulator } from '../../simulator';
import { Journal } from '../../simulator/store/journal';
import { collections, VersionRecord } from '../../simulator/managedhsm/model';
import { DOMAIN_KEY_ID } from '../../simulator/managedhsm/keys';

const REPO = path.resolve(__dirname, '../..');

describe('durability: restart, kill -9, torn journal', () => {
  test('a restart keeps keys, versions, tags, soft-deleted state, role assignments and activation', async () => {
    const dir = Harness.tempDir();
    const adminId = randomUUID();
    let h = await Harness.start({ dir, adminId });
    await h.assignRole(adminId, CRYPTO_USER);
    await h.assignRole(adminId, CRYPTO_OFFICER); // reads the soft-deleted key after the restart
    const kc = h.keyClient();
    const k = await kc.createEcKey('keep', { curve: 'P-256', hsm: true, tags: { env: 'dev' } });
    const k2 = await kc.rotateKey('keep');
    await kc.createEcKey('dropped', { curve: 'P-256', hsm: true });
    await (await kc.beginDeleteKey('dropped', { intervalInMs: 10 })).pollUntilDone();
    const uri = h.hsmUri;
    await h.sim.close();

    h = await Harness.start({ dir, adminId, activate: false });
    try {
      expect(h.sim.managedHsm('hsm1').activated).toBe(true);
      expect(h.hsmUri).toBe(uri);
      const kc2 = h.keyClient();
      const got = await kc2.getKey('keep');
      expect(got.properties.version).toBe(k2.properties.version);
      expect(got.properties.tags).toEqual({ env: 'dev' });
      const old = await kc2.getKey('keep', { version: k.properties.version! });
      const digest = createHash('sha256').update('x').digest();
      const sig = await h.cryptoClient(old.id!).sign('ES256', digest);
      const b = (x?: Uint8Array) => Buffer.from(x!).toString('base64url');
      const pub = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b(k.key!.x), y: b(k.key!.y) }, format: 'jwk' });
      expect(verify('sha256', Buffer.from('x'), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.result))).toBe(true);
      expect((await kc2.getDeletedKey('dropped')).name).toBe('dropped');
    } finally {
      await h.close();
    }
  });

  test('a torn last journal line is cut off and the state before it survives', async () => {
    const dir = Harness.tempDir('journal-');
    const j = Journal.open(dir);
    await j.commit([{ c: 'x', id: 'a', v: { n: 1 } }]);
    await j.commit([{ c: 'x', id: 'b', v: { n: 2 } }]);
    await j.close();
    fs.appendFileSync(path.join(dir, 'journal.log'), '0123456789abcdef\t[{"c":"x","id":"c","v":{"n":3}}]'.slice(0, 30));
    const j2 = Journal.open(dir);
    expect(j2.list('x')).toEqual([{ n: 1 }, { n: 2 }]);
    await j2.commit([{ c: 'x', id: 'a' }]);
    await j2.close();
    expect(Journal.open(dir).list('x')).toEqual([{ n: 2 }]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('kill -9 during concurrent key creation loses nothing acknowledged and leaves token and metadata in agreement', async () => {
    const dir = Harness.tempDir();
    const adminId = randomUUID();
    const specFile = path.join(dir, 'hsms.json');
    fs.writeFileSync(specFile, JSON.stringify([{ name: 'hsm1', administrators: [adminId] }]));
    const stateDir = path.join(dir, 'state');
    const child = spawn(process.execPath, ['scripts/hsmctl.js', 'simulator', 'start', '--state-dir', stateDir, '--instances', specFile], { cwd: REPO, stdio: 'ignore' });
    try {
      const endpointsFile = path.join(stateDir, 'endpoints.json');
      for (let i = 0; i < 300 && !fs.existsSync(endpointsFile); i++) await new Promise((r) => setTimeout(r, 50));
      const e = JSON.parse(fs.readFileSync(endpointsFile, 'utf8'));
      const ca = fs.readFileSync(e.caCertificate, 'utf8');
      const mgmt = fs.readFileSync(e.managementTokenFile, 'utf8').trim();
      expect((await httpsRequest(e.authorityHost, ca, 'POST', '/_simulator/managedHsms/hsm1/activate', '', mgmt)).status).toBe(200);
      const secret = fs.readFileSync(e.principals[0].secretFile, 'utf8').trim();
      const form = `grant_type=client_credentials&client_id=${adminId}&client_secret=${encodeURIComponent(secret)}&scope=${encodeURIComponent('https://managedhsm.azure.net/.default')}`;
      const tok = await httpsRequest(e.authorityHost, ca, 'POST', `/${e.tenantId}/oauth2/v2.0/token`, form, undefined, { 'content-type': 'application/x-www-form-urlencoded' });
      const token = tok.body.access_token as string;
      const hsm = e.managedHsms[0].hsmUri as string;
      const put = await httpsRequest(hsm, ca, 'PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`, JSON.stringify({ properties: { roleDefinitionId: CRYPTO_USER, principalId: adminId } }), token);
      expect(put.status).toBe(201);

      const acked = new Map<string, { x: string; y: string }>();
      let stop = false;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const name = `k-${w}-${i}`;
          try {
            const r = await httpsRequest(hsm, ca, 'POST', `/keys/${name}/create?api-version=7.4`, JSON.stringify({ kty: 'EC-HSM', crv: 'P-256' }), token);
            if (r.status === 200) acked.set(name, { x: r.body.key.x, y: r.body.key.y });
          } catch {
            return; // the process is gone
          }
        }
      };
      const workers = Array.from({ length: 8 }, (_, w) => worker(w));
      while (acked.size < 40) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      await new Promise((r) => (child.exitCode !== null || child.signalCode ? r(null) : child.once('exit', r)));

      const sim = await startSimulator({ stateDir, logger: { info: () => undefined, error: () => undefined } });
      try {
        const inst = sim.managedHsm('hsm1');
        for (const [name, { x, y }] of acked) {
          const v = inst.keys.get(name);
          expect(v.pub && 'x' in v.pub ? v.pub.x : undefined).toBe(x);
          // The private key in the token is the one whose public half was acknowledged: its signature verifies.
          const sig = await inst.crypto.sign(name, '', 'ES256', createHash('sha256').update(name).digest());
          const pub = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
          expect(verify('sha256', Buffer.from(name), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.value))).toBe(true);
        }
        // Token objects and metadata agree: no orphan objects, no version without objects.
        const j = (inst as unknown as { store: Journal }).store;
        const versions = j.list<VersionRecord>(collections.versions('hsm1')).map((v) => v.version).sort();
        expect(inst.token.ids().filter((id) => id !== DOMAIN_KEY_ID).sort()).toEqual(versions);
      } finally {
        await sim.close();
      }
    } finally {
      if (child.exitCode === null && !child.signalCode) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
