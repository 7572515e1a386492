import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { createHash, createPublicKey, verify } from 'crypto';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { Harness, CRYPTO_USER, clientOptions } from './harness';
import { downloadSecurityDomain, keyFiles, makeWrappingKeys } from '../../scripts/ceremonies/security-domain';
import { derToPem } from '../../simulator/managedhsm/x509';

/**
 * Compatibility with the real Azure CLI (Debian's azure-cli, installed by scripts/setup-system.sh): its
 * offline `az keyvault security-domain restore-blob` opens the simulator's security-domain file with a quorum
 * of the wrapping keys and re-encrypts it for a second HSM's exchange key; the simulator accepts that blob,
 * and the second HSM then holds the same domain.
 */
describe('security domain files and the Azure CLI', () => {
  let h: Harness;
  let work: string;
  const admin = (uri: string) => h.adminClient(uri);

  beforeAll(async () => {
    h = await Harness.start({ activate: false });
    work = Harness.tempDir('sd-azcli-');
  });
  afterAll(async () => {
    await h.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('az restore-blob accepts our file, and the blob it makes recovers a second HSM', async () => {
    const sdDir = path.join(work, 'sd');
    const made = await makeWrappingKeys(3, 2048, 30);
    const download = await downloadSecurityDomain(admin(h.hsmUri), { out: sdDir, required: 2, made });
    // A key of the first HSM and its single-key backup, which only an HSM holding the same domain can open.
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
    const key = await h.keyClient().createEcKey('domain-proof', { curve: 'P-256' });
    const backup = (await h.keyClient().backupKey('domain-proof'))!;

    const second = await h.sim.createManagedHsm({ name: 'hsm2', administrators: [h.admin.objectId], softDeleteRetentionDays: 7 });
    const target = admin(second.hsmUri);
    const exchange = await target.exchangeKey();
    const exchangeFile = path.join(work, 'hsm2-exchange-key.cer');
    fs.writeFileSync(exchangeFile, derToPem(Buffer.from(exchange.x5c[0], 'base64')));

    const blobFile = path.join(work, 'restore-blob.json');
    const keys = keyFiles(sdDir, 3).slice(0, 2).map((f) => f.key);
    execFileSync('az', ['keyvault', 'security-domain', 'restore-blob', '--sd-file', download.sdFile, '--sd-exchange-key', exchangeFile, '--sd-wrapping-keys', ...keys, '--sd-file-restore-blob', blobFile, '--only-show-errors'], {
      stdio: 'pipe',
      timeout: 120_000,
      env: { ...process.env, AZURE_CONFIG_DIR: path.join(work, 'az-config'), AZURE_CORE_COLLECT_TELEMETRY: 'false' },
    });

    // A new client: the az run can outlast the simulator's 30 s keep-alive, and a reused idle socket would be reset.
    const uploader = admin(second.hsmUri);
    await uploader.uploadSecurityDomain(fs.readFileSync(blobFile, 'utf8'));
    const status = await uploader.waitSecurityDomain('upload');
    expect(status.status).toBe('Success');
    expect(second.activated).toBe(true);

    // Same domain, not merely "activated": the second HSM opens the first one's backup, and the key signs as before.
    await uploader.assignRole(h.admin.objectId, CRYPTO_USER);
    const kc2 = new KeyClient(second.hsmUri, h.admin.credential, clientOptions(h.sim));
    const restored = await kc2.restoreKeyBackup(backup);
    expect(restored.properties.version).toBe(key.properties.version);
    const digest = createHash('sha256').update('same domain').digest();
    const sig = await new CryptographyClient(restored.id!, h.admin.credential, clientOptions(h.sim)).sign('ES256', digest);
    const pub = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: Buffer.from(key.key!.x!).toString('base64url'), y: Buffer.from(key.key!.y!).toString('base64url') }, format: 'jwk' });
    expect(verify('sha256', Buffer.from('same domain'), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.result))).toBe(true);
  });
});
