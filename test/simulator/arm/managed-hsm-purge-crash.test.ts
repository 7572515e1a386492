import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess, execFile } from 'child_process';
import { promisify } from 'util';
import { randomUUID } from 'crypto';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { KeyClient } from '@azure/keyvault-keys';
import { TokenCredential } from '@azure/identity';
import { startSimulator } from '../../../simulator';
import { readEndpoints, simulatorCredential } from '../../../scripts/clients/target';
import { CRYPTO_USER, Harness, httpsRequest, testLogger } from '../harness';
import { RG, SUB } from './arm-harness';
import { startSimulatorProcess } from '../simulator-process';


function keyVault(arm: string, credential: TokenCredential, ca: string): KeyVaultManagementClient {
  return new KeyVaultManagementClient(credential, SUB, {
    endpoint: arm,
    credentials: { scopes: ['https://management.azure.com/.default'] },
    tlsOptions: { ca },
    retryOptions: { maxRetries: 0 },
  } as ConstructorParameters<typeof KeyVaultManagementClient>[2]);
}

/** Objects left in the HSM's token, as pkcs11-tool (another process) lists them. */
async function tokenObjects(stateDir: string, name: string): Promise<number> {
  const pins = JSON.parse(fs.readFileSync(path.join(stateDir, 'softhsm', 'pins', `mhsm-${name}.json`), 'utf8'));
  const { stdout } = await promisify(execFile)(
    'pkcs11-tool',
    ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--token-label', `mhsm-${name}`, '--login', '--pin', pins.user, '--list-objects'],
    { env: { ...process.env, SOFTHSM2_CONF: path.join(stateDir, 'softhsm', 'softhsm2.conf') } },
  );
  return (stdout.match(/^(Private Key|Public Key|Secret Key) Object/gm) ?? []).length;
}

describe('kill -9 in the middle of a Managed HSM purge', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeAll(() => {
    dir = Harness.tempDir('purge-crash-');
  });
  afterAll(() => {
    if (child && child.exitCode === null && !child.signalCode) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the purge is finished at the next start: no token object, no record, no deleted entry; the other HSM is untouched', async () => {
    const stateDir = path.join(dir, 'state');
    const specFile = path.join(dir, 'hsms.json');
    const marker = path.join(dir, 'purge.marker');
    const adminId = randomUUID();
    // "seed" is declared at start only so that its administrator gets a client secret for ARM and the data plane.
    fs.writeFileSync(specFile, JSON.stringify([{ name: 'seed', administrators: [adminId] }]));
    child = (await startSimulatorProcess(stateDir, specFile, { ...process.env, MHSM_SIM_FAULT: `purge-before-records=${marker}` })).child;
    const e = readEndpoints(stateDir);
    const ca = fs.readFileSync(e.caCertificate, 'utf8');
    const credential = simulatorCredential(e, stateDir, adminId);
    const kv = keyVault(e.armEndpoint!, credential, ca);

    const created = await kv.managedHsms.createOrUpdate(
      RG,
      'mhsm-crash',
      { location: 'westeurope', sku: { family: 'B', name: 'Standard_B1' }, properties: { tenantId: e.tenantId, initialAdminObjectIds: [adminId], softDeleteRetentionInDays: 7 } },
      { updateIntervalInMs: 50 },
    );
    const hsmUri = created.properties!.hsmUri!;
    const management = fs.readFileSync(path.join(stateDir, 'secrets', 'management.token'), 'utf8').trim();
    expect((await httpsRequest(e.armEndpoint!, ca, 'POST', '/_simulator/managedHsms/mhsm-crash/activate', undefined, management)).status).toBe(200);
    const dataToken = (await credential.getToken('https://managedhsm.azure.net/.default'))!.token;
    const assign = JSON.stringify({ properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_USER}`, principalId: adminId } });
    expect((await httpsRequest(hsmUri, ca, 'PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`, assign, dataToken)).status).toBe(201);
    const kc = new KeyClient(hsmUri, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca }, retryOptions: { maxRetries: 0 } } as never);
    await kc.createRsaKey('doomed', { hsm: true, keySize: 2048 });
    expect(await tokenObjects(stateDir, 'mhsm-crash')).toBeGreaterThanOrEqual(3);

    await kv.managedHsms.delete(RG, 'mhsm-crash', { updateIntervalInMs: 50 });
    const purging = kv.managedHsms.purgeDeleted('mhsm-crash', 'westeurope', { updateIntervalInMs: 50 }).catch((err) => err);
    for (let i = 0; i < 1200 && !fs.existsSync(marker); i++) await new Promise((r) => setTimeout(r, 25));
    expect(fs.existsSync(marker)).toBe(true);
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(await purging).toBeInstanceOf(Error);

    // Restarted in this process, without the fault: the purge resumes and completes.
    const sim = await startSimulator({ stateDir, logger: testLogger, arm: { provisioningStepMs: 20 } });
    try {
      expect(sim.registry.stored('mhsm-crash')).toBeUndefined();
      expect(sim.endpoints().managedHsms.map((m) => m.name)).toEqual(['seed']);
      const kv2 = keyVault(sim.endpoints().armEndpoint!, simulatorCredential(readEndpoints(stateDir), stateDir, adminId), sim.caCert);
      // The interrupted purge operation finishes one provisioning step after the start.
      let deleted = await collect(kv2.managedHsms.listDeleted());
      for (let i = 0; i < 1200 && deleted.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
        deleted = await collect(kv2.managedHsms.listDeleted());
      }
      expect(deleted).toEqual([]);
      expect(await tokenObjects(stateDir, 'mhsm-crash')).toBe(0);
      expect((await kv2.managedHsms.checkMhsmNameAvailability({ name: 'mhsm-crash' })).nameAvailable).toBe(true);
      expect(sim.managedHsm('seed').record().administrators).toEqual([adminId]);
    } finally {
      await sim.close();
    }
    // A child process, ARM steps and a crash: more than the default minute on a loaded machine.
  }, 180_000);
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
