import * as fs from 'fs';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { KeyClient } from '@azure/keyvault-keys';
import { Harness, CRYPTO_USER, CRYPTO_OFFICER, clientOptions } from './harness';
import { ManagedHsmAdminClient } from '../../scripts/clients/mhsm-admin';
import { downloadSecurityDomain, makeWrappingKeys, recoverSecurityDomain, loadWrappingKeys, SD_FILE } from '../../scripts/ceremonies/security-domain';
import { Azurite, startAzurite } from '../../simulator/storage/azurite';
import { ErrorCodes } from '../../simulator';

describe('full backup to blob storage (Azurite) and restore', () => {
  let h: Harness;
  let az: Azurite;
  let work: string;
  let src: ManagedHsmAdminClient;
  let storage: { containerUri: string; sas: string };
  const admin = (uri: string) => h.adminClient(uri);

  beforeAll(async () => {
    work = Harness.tempDir('backup-work-');
    [h, az] = await Promise.all([Harness.start({ activate: false }), startAzurite({ location: path.join(work, 'azurite') })]);
    src = admin(h.hsmUri);
    await downloadSecurityDomain(src, { out: path.join(work, 'sd'), required: 2, made: await makeWrappingKeys(3, 2048, 365) });
    storage = await az.containerSas('mhsm-backups');
  });
  afterAll(async () => {
    await h.close();
    await az.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  async function recovered(name: string) {
    const i = await h.sim.createManagedHsm({ name, administrators: [h.admin.objectId], softDeleteRetentionDays: 7 });
    const keys = loadWrappingKeys([0, 1].map((n) => path.join(work, 'sd', `cert_${n}.key`)), () => undefined);
    await recoverSecurityDomain(admin(i.hsmUri), fs.readFileSync(path.join(work, 'sd', SD_FILE), 'utf8'), keys);
    return i;
  }

  test('a full backup restores keys, versions, attributes, tags and role assignments into an HSM of the same domain', async () => {
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
    // Reading a deleted key takes Crypto Officer (deletedKeys/read), which Crypto User lacks.
    await h.assignRole(h.admin.objectId, CRYPTO_OFFICER);
    const kc = h.keyClient();
    const ec = await kc.createEcKey('sig', { curve: 'P-256', hsm: true, tags: { team: 'payments' } });
    const ec2 = await kc.rotateKey('sig');
    await kc.updateKeyProperties('sig', ec.properties.version!, { enabled: false });
    const aes = await kc.createOctKey('wrap', { hsm: true, keySize: 256 });
    const gone = await kc.createEcKey('gone', { curve: 'P-256', hsm: true });
    await (await kc.beginDeleteKey('gone', { intervalInMs: 10 })).pollUntilDone();
    const reader = randomUUID();
    await h.assignRole(reader, '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', '/keys');
    // A custom role and its assignment travel with the backup.
    const customRole = randomUUID();
    const def = await h.request('PUT', `/providers/Microsoft.Authorization/roleDefinitions/${customRole}?api-version=7.6`, { properties: { roleName: 'backup-travels', permissions: [{ dataActions: ['Microsoft.KeyVault/managedHsm/keys/read/action'] }] } });
    expect(def.status).toBe(201);
    const customHolder = randomUUID();
    await h.assignRole(customHolder, customRole, '/keys/sig');

    const job = await src.startBackup(storage.containerUri, storage.sas);
    expect(job.status).toBe('InProgress');
    const done = await src.waitJob('backup', job.jobId);
    expect(done).toMatchObject({ status: 'Succeeded', error: null });
    const folder = done.azureStorageBlobContainerUri!.split('/').pop()!;
    expect(folder).toMatch(/^mhsm-hsm1-\d{16}$/);
    expect(done.azureStorageBlobContainerUri).toBe(`${storage.containerUri}/${folder}`);

    const dst = await recovered('bk-dst');
    const c2 = admin(dst.hsmUri);
    const r = await c2.waitJob('restore', (await c2.startRestore(storage.containerUri, storage.sas, folder)).jobId);
    expect(r).toMatchObject({ status: 'Succeeded' });
    const kc2 = new KeyClient(dst.hsmUri, h.admin.credential, clientOptions(h.sim));
    const versions: string[] = [];
    for await (const p of kc2.listPropertiesOfKeyVersions('sig')) versions.push(p.version!);
    expect(versions.sort()).toEqual([ec.properties.version, ec2.properties.version].sort());
    const old = await kc2.getKey('sig', { version: ec.properties.version });
    expect(old.properties.enabled).toBe(false);
    expect(old.properties.tags).toEqual({ team: 'payments' });
    expect(Buffer.from(old.key!.x!).equals(Buffer.from(ec.key!.x!))).toBe(true);
    expect((await kc2.getKey('wrap')).properties.version).toBe(aes.properties.version);
    expect((await kc2.getDeletedKey('gone')).properties.version).toBe(gone.properties.version);
    expect(dst.rbac.assignments().some((a) => a.principalId === reader && a.scope === '/keys')).toBe(true);
    expect(dst.rbac.role(customRole)).toMatchObject({ roleName: 'backup-travels', roleType: 'CustomRole' });
    expect(dst.rbac.allows(customHolder, 'Microsoft.KeyVault/managedHsm/keys/read/action', '/keys/sig')).toBe(true);
    // The restored oct key decrypts what the source encrypted.
    const enc = await h.cryptoClient(aes.id!).encrypt({ algorithm: 'A256GCM', plaintext: Buffer.from('restored?') });
    const { CryptographyClient } = await import('@azure/keyvault-keys');
    const dec = await new CryptographyClient(`${dst.hsmUri}keys/wrap/${aes.properties.version}`, h.admin.credential, clientOptions(h.sim)).decrypt({ algorithm: 'A256GCM', ciphertext: enc.result, iv: enc.iv!, authenticationTag: enc.authenticationTag! });
    expect(Buffer.from(dec.result).toString()).toBe('restored?');

    // Selective restore of one key into a third HSM of the same domain; an existing key is refused.
    const one = await recovered('bk-one');
    const c3 = admin(one.hsmUri);
    const sel = await c3.waitJob('restore', (await c3.startSelectiveRestore('wrap', storage.containerUri, storage.sas, folder)).jobId);
    expect(sel).toMatchObject({ status: 'Succeeded' });
    expect(one.keys.list().map((v) => v.name)).toEqual(['wrap']);
    await expect(c3.startSelectiveRestore('wrap', storage.containerUri, storage.sas, folder)).rejects.toMatchObject({ status: 409, code: ErrorCodes.Conflict });
    const missing = await c3.waitJob('restore', (await c3.startSelectiveRestore('nope', storage.containerUri, storage.sas, folder)).jobId);
    expect(missing).toMatchObject({ status: 'Failed', error: { code: 'KeyNotFound' } });

    // An HSM of another domain refuses the folder and keeps its keys.
    const other = await h.sim.createManagedHsm({ name: 'bk-other', administrators: [h.admin.objectId] });
    await other.setActivated(true);
    const co = admin(other.hsmUri);
    const refused = await co.waitJob('restore', (await co.startRestore(storage.containerUri, storage.sas, folder)).jobId);
    expect(refused.status).toBe('Failed');
    expect(refused.error!.message).toMatch(/security domain .* this HSM holds/);
    expect(other.keys.list()).toHaveLength(0);
  });

  test('storage failures fail the job with a clear error, without the SAS, and lose nothing', async () => {
    const kc = h.keyClient();
    await kc.createEcKey('keep', { curve: 'P-256', hsm: true });
    const before = h.sim.managedHsm('hsm1').keys.list().map((v) => v.version).sort();
    const sig = /sig=([^&]+)/.exec(storage.sas)![1];

    const badSas = storage.sas.replace(/sig=[^&]+/, 'sig=' + encodeURIComponent(Buffer.alloc(32, 7).toString('base64')));
    const j1 = await src.waitJob('backup', (await src.startBackup(storage.containerUri, badSas)).jobId);
    expect(j1).toMatchObject({ status: 'Failed', error: { code: 'StorageError' } });
    expect(j1.error!.message).toMatch(/access denied/);

    const wrong = storage.containerUri.replace(/mhsm-backups$/, 'no-such-container');
    const j2 = await src.waitJob('backup', (await src.startBackup(wrong, storage.sas)).jobId);
    expect(j2.status).toBe('Failed');
    expect(j2.error!.message).toMatch(/no-such-container/);

    const j3 = await src.waitJob('restore', (await src.startRestore(storage.containerUri, storage.sas, 'mhsm-hsm1-1999010100000000')).jobId);
    expect(j3.status).toBe('Failed');
    expect(j3.error!.message).toMatch(/holds no manifest\.json/);

    // Azurite stopped: the backup fails and a restore from it changes nothing.
    const az2 = await startAzurite({ location: path.join(work, 'azurite2') });
    const st2 = await az2.containerSas('bk2');
    const ok = await src.waitJob('backup', (await src.startBackup(st2.containerUri, st2.sas)).jobId);
    expect(ok.status).toBe('Succeeded');
    await az2.stop();
    const j4 = await src.waitJob('backup', (await src.startBackup(st2.containerUri, st2.sas)).jobId);
    expect(j4.status).toBe('Failed');
    expect(j4.error!.message).toMatch(/cannot be reached|ECONNREFUSED/);
    const j5 = await src.waitJob('restore', (await src.startRestore(st2.containerUri, st2.sas, ok.azureStorageBlobContainerUri!.split('/').pop()!)).jobId);
    expect(j5.status).toBe('Failed');

    for (const j of [j1, j2, j3, j4, j5]) expect(JSON.stringify(j)).not.toContain(sig);
    expect(h.sim.managedHsm('hsm1').keys.list().map((v) => v.version).sort()).toEqual(before);
    // Bad requests are refused up front.
    await expect(src.startBackup(`${storage.containerUri}?${storage.sas}`, storage.sas)).rejects.toMatchObject({ status: 400, code: ErrorCodes.BadParameter });
    await expect(src.startRestore(storage.containerUri, storage.sas, '../etc')).rejects.toMatchObject({ status: 400 });
  });

  test('refuses a malformed, unsigned or expired SAS token at once (400 BadRequest) and starts no job', async () => {
    const hsm = h.sim.managedHsm('hsm1');
    const jobsBefore = hsm.backups.jobs().length;
    const expired = storage.sas.replace(/se=[^&]+/, `se=${encodeURIComponent('2001-01-01T00:00:00Z')}`);
    const uri = storage.containerUri;
    const calls: Array<[string, string, (token: string) => unknown]> = [
      ['POST', '/backup', (token) => ({ storageResourceUri: uri, token })],
      ['POST', '/prebackup', (token) => ({ storageResourceUri: uri, token })],
      ['PUT', '/restore', (token) => ({ sasTokenParameters: { storageResourceUri: uri, token }, folderToRestore: 'mhsm-hsm1-2001' })],
      ['PUT', '/prerestore', (token) => ({ sasTokenParameters: { storageResourceUri: uri, token }, folderToRestore: 'mhsm-hsm1-2001' })],
      ['PUT', '/keys/sig/restore', (token) => ({ sasTokenParameters: { storageResourceUri: uri, token }, folder: 'mhsm-hsm1-2001' })],
    ];
    for (const [method, path, body] of calls) {
      await expect(src.request(method, path, body('bad_token'))).rejects.toMatchObject({ status: 400, code: 'BadRequest', message: expect.stringContaining('The customer provided SAS token is malformed. The SAS token does not contain the expiry field') });
      await expect(src.request(method, path, body(expired))).rejects.toMatchObject({ status: 400, code: 'BadRequest', message: expect.stringContaining('The customer provided SAS token has expired') });
      await expect(src.request(method, path, body(storage.sas.replace(/&?sig=[^&]+/, '')))).rejects.toMatchObject({ status: 400, message: expect.stringContaining('signature') });
    }
    expect(hsm.backups.jobs().length).toBe(jobsBefore);
  });

  test('pre-backup and pre-restore checks (7.6) report whether a backup or restore would work, and change nothing', async () => {
    const hsm = h.sim.managedHsm('hsm1');
    const keysBefore = hsm.keys.list().map((v) => v.version).sort();
    const pre = (await src.request<{ jobId: string; status: string }>('POST', '/prebackup', { storageResourceUri: storage.containerUri, token: storage.sas })).body;
    expect(pre.status).toBe('InProgress');
    expect(await src.waitJob('backup', pre.jobId)).toMatchObject({ status: 'Succeeded', error: null });
    const container = az.serviceClient().getContainerClient('mhsm-backups');
    for await (const b of container.listBlobsFlat()) expect(b.name).not.toMatch(/prebackup/);
    const missing = (await src.request<{ jobId: string }>('POST', '/prebackup', { storageResourceUri: storage.containerUri.replace(/mhsm-backups$/, 'no-container'), token: storage.sas })).body;
    expect(await src.waitJob('backup', missing.jobId)).toMatchObject({ status: 'Failed', error: { code: 'StorageError' } });

    const done = await src.waitJob('backup', (await src.startBackup(storage.containerUri, storage.sas)).jobId);
    const folder = done.azureStorageBlobContainerUri!.split('/').pop()!;
    const ok = (await src.request<{ jobId: string }>('PUT', '/prerestore', { sasTokenParameters: { storageResourceUri: storage.containerUri, token: storage.sas }, folderToRestore: folder })).body;
    const okDone = await src.waitJob('restore', ok.jobId);
    expect(okDone).toMatchObject({ status: 'Succeeded' });
    expect(okDone.statusDetails).toMatch(/key\(s\)/);
    const bad = (await src.request<{ jobId: string }>('PUT', '/prerestore', { sasTokenParameters: { storageResourceUri: storage.containerUri, token: storage.sas }, folderToRestore: 'mhsm-hsm1-1999010100000000' })).body;
    expect(await src.waitJob('restore', bad.jobId)).toMatchObject({ status: 'Failed', error: { code: 'StorageError' } });
    expect(hsm.keys.list().map((v) => v.version).sort()).toEqual(keysBefore);
  });

  test('backup, selective restore and full restore through the HSM managed identity (the simulator stands in for it on Azurite)', async () => {
    const mi = { storageResourceUri: storage.containerUri, useManagedIdentity: true };
    const job = (await src.request<{ jobId: string }>('POST', '/backup', mi)).body;
    const done = await src.waitJob('backup', job.jobId);
    expect(done).toMatchObject({ status: 'Succeeded', error: null });
    const folder = done.azureStorageBlobContainerUri!.split('/').pop()!;

    const one = await recovered('mi-one');
    const c = admin(one.hsmUri);
    const sel = (await c.request<{ jobId: string }>('PUT', '/keys/keep/restore', { sasTokenParameters: mi, folder })).body;
    expect(await c.waitJob('restore', sel.jobId)).toMatchObject({ status: 'Succeeded' });
    expect(one.keys.list().map((v) => v.name)).toEqual(['keep']);
    const full = (await c.request<{ jobId: string }>('PUT', '/restore', { sasTokenParameters: mi, folderToRestore: folder })).body;
    expect(await c.waitJob('restore', full.jobId)).toMatchObject({ status: 'Succeeded' });
    expect(one.keys.list().map((v) => v.name).sort()).toEqual(h.sim.managedHsm('hsm1').keys.list().map((v) => v.name).sort());

    // Outside the local Azurite account the simulator has no identity to stand in for: refused at once.
    await expect(src.request('POST', '/backup', { storageResourceUri: 'https://account.blob.core.windows.net/backups', useManagedIdentity: true })).rejects.toMatchObject({ status: 400, code: ErrorCodes.NotSupported });
  });
});
