import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess } from 'child_process';
import { X509Certificate, createHash, randomUUID } from 'crypto';
import { KeyClient, CryptographyClient } from '@azure/keyvault-keys';
import { Harness, CRYPTO_USER } from './harness';
import { kill9, startSimulatorProcess } from './simulator-process';
import { startSimulator } from '../../simulator';
import { silentLogger } from '../../simulator/logger';
import { startAzurite, Azurite } from '../../simulator/storage/azurite';
import { DOMAIN_KEY_ID } from '../../simulator/managedhsm/keys';
import { ManagedHsmAdminClient } from '../../scripts/clients/mhsm-admin';
import { readEndpoints, simulatorCredential } from '../../scripts/clients/target';
import { SD_FILE, downloadSecurityDomain, loadWrappingKeys, makeWrappingKeys, restoreBlob } from '../../scripts/ceremonies/security-domain';

/** A simulator in a child process, optionally parked at a fault point (simulator/managedhsm/faults.ts). */
async function startChild(stateDir: string, specFile: string, fault?: { point: string; marker: string }): Promise<ChildProcess> {
  const env = { ...process.env, ...(fault ? { MHSM_SIM_FAULT: `${fault.point}=${fault.marker}` } : {}) };
  return (await startSimulatorProcess(stateDir, specFile, env)).child;
}

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 600 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 25));
  if (!fs.existsSync(file)) throw new Error(`fault point not reached (${path.basename(file)})`);
}

describe('kill -9 during a security-domain upload and during a restore job, then a clean retry', () => {
  let dir: string;
  let az: Azurite;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    dir = Harness.tempDir('dr-crash-');
    az = await startAzurite({ location: path.join(dir, 'azurite') });
  });
  afterAll(async () => {
    for (const c of children) await kill9(c);
    await az.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('nothing is half done: the upload and the restore are retried cleanly after the crash', async () => {
    const adminId = randomUUID();
    const stateDir = path.join(dir, 'state');
    const specFile = path.join(dir, 'hsms.json');
    fs.writeFileSync(specFile, JSON.stringify([{ name: 'src', administrators: [adminId] }, { name: 'dst', administrators: [adminId] }]));
    const clientsFor = () => {
      const e = readEndpoints(stateDir);
      const cred = simulatorCredential(e, stateDir, adminId);
      const ca = fs.readFileSync(e.caCertificate, 'utf8');
      const uri = (n: string) => e.managedHsms.find((m) => m.name === n)!.hsmUri;
      return { cred, ca, uri, admin: (n: string) => new ManagedHsmAdminClient(uri(n), cred, { ca, pollIntervalMs: 20 }) };
    };
    const storage = await az.containerSas('crash');

    // 1. Source activated with keys and backed up; the upload into the target is killed before its commit.
    const uploadMarker = path.join(dir, 'upload.marker');
    let child = await startChild(stateDir, specFile, { point: 'sd-upload-before-commit', marker: uploadMarker });
    children.push(child);
    let c = clientsFor();
    const src = c.admin('src');
    await downloadSecurityDomain(src, { out: path.join(dir, 'sd'), required: 2, made: await makeWrappingKeys(3, 2048, 365) });
    await src.assignRole(adminId, CRYPTO_USER);
    const kc = new KeyClient(c.uri('src'), c.cred, { disableChallengeResourceVerification: true, tlsOptions: { ca: c.ca }, retryOptions: { maxRetries: 0 } } as never);
    const ec = await kc.createEcKey('ec', { curve: 'P-256', hsm: true });
    await kc.createOctKey('aes', { hsm: true, keySize: 256 });
    const backup = await src.waitJob('backup', (await src.startBackup(storage.containerUri, storage.sas)).jobId);
    expect(backup.status).toBe('Succeeded');
    const folder = backup.azureStorageBlobContainerUri!.split('/').pop()!;
    const exchange = await c.admin('dst').exchangeKey();
    const keys = loadWrappingKeys([0, 1].map((i) => path.join(dir, 'sd', `cert_${i}.key`)), () => undefined);
    const blob = restoreBlob(fs.readFileSync(path.join(dir, 'sd', SD_FILE), 'utf8'), new X509Certificate(Buffer.from(exchange.x5c[0], 'base64')), keys);
    const pending = c.admin('dst').uploadSecurityDomain(blob).catch((e) => e);
    await waitFor(uploadMarker);
    await kill9(child);
    expect(await pending).toBeInstanceOf(Error);

    // 2. After the restart the target is not active, the upload reads Failed, and the same blob succeeds.
    const restoreMarker = path.join(dir, 'restore.marker');
    child = await startChild(stateDir, specFile, { point: 'restore-before-commit', marker: restoreMarker });
    children.push(child);
    c = clientsFor();
    const dst = c.admin('dst');
    expect(await dst.uploadStatus()).toMatchObject({ status: 'Failed', status_details: expect.stringMatching(/interrupted/) });
    await dst.uploadSecurityDomain(blob);
    expect(await dst.waitSecurityDomain('upload')).toMatchObject({ status: 'Success' });
    const job = await dst.startRestore(storage.containerUri, storage.sas, folder);
    await waitFor(restoreMarker);
    await kill9(child);

    // 3. Restarted (in process, no fault): the job reads Failed, the target holds no keys and no orphan objects;
    //    the retried restore succeeds and the restored key signs verifiably.
    const sim = await startSimulator({ stateDir, logger: silentLogger });
    try {
      const inst = sim.managedHsm('dst');
      expect(inst.activated).toBe(true);
      expect(inst.record().domain!.id).toBe(sim.managedHsm('src').record().domain!.id);
      expect(inst.keys.list()).toHaveLength(0);
      expect(inst.token.ids()).toEqual([DOMAIN_KEY_ID]);
      c = clientsFor();
      const dst2 = c.admin('dst');
      expect(await dst2.restoreStatus(job.jobId)).toMatchObject({ status: 'Failed', error: { code: 'JobInterrupted' } });
      const retry = await dst2.waitJob('restore', (await dst2.startRestore(storage.containerUri, storage.sas, folder)).jobId);
      expect(retry.status).toBe('Succeeded');
      expect(inst.keys.list().map((v) => v.name).sort()).toEqual(['aes', 'ec']);
      const digest = createHash('sha256').update('after the crash').digest();
      const cc = new CryptographyClient(`${c.uri('dst')}keys/ec/${ec.properties.version}`, c.cred, { disableChallengeResourceVerification: true, tlsOptions: { ca: c.ca } } as never);
      const sig = await cc.sign('ES256', digest);
      expect((await cc.verify('ES256', digest, sig.result)).result).toBe(true);
      dst2.close();
    } finally {
      await sim.close();
    }
  });
});
