import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { Harness } from './harness';
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

    await target.uploadSecurityDomain(fs.readFileSync(blobFile, 'utf8'));
    const status = await target.waitSecurityDomain('upload');
    expect(status.status).toBe('Success');
    expect(second.activated).toBe(true);
  });
});
