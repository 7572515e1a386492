import * as fs from 'fs';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { startSimulator, SimulatorHandle } from '../../simulator';
import { silentLogger } from '../../simulator/logger';
import { armClients } from '../../scripts/dry-run/arm-clients';
import { readEndpoints, simulatorCredential } from '../../scripts/clients/target';
import { Harness } from '../simulator/harness';
import { hsmctl } from '../hsmctl-in-process';

const SUB = '11111111-2222-3333-4444-555555555555';

/**
 * hsmctl luna init / register-client take the appliance from Terraform outputs, as after a real deploy; the
 * simulator stands in for the network (--simulator maps the private IP to the appliance's local ports).
 */
describe('hsmctl luna with --from-outputs', () => {
  let dir: string;
  let sim: SimulatorHandle;
  let outputs: string;

  beforeAll(async () => {
    dir = Harness.tempDir('luna-outputs-');
    const operator = randomUUID();
    sim = await startSimulator({ stateDir: path.join(dir, 'sim'), logger: silentLogger, arm: { provisioningStepMs: 20 } });
    await sim.addPrincipal(operator);
    const arm = armClients(simulatorCredential(readEndpoints(sim.stateDir), sim.stateDir, operator), SUB, { endpoint: sim.authorityHost, ca: sim.caCert, pollMs: 20 });
    const subnet = `/subscriptions/${SUB}/resourceGroups/rg-hsm/providers/Microsoft.Network/virtualNetworks/vnet/subnets/HSM`;
    const r = await arm.dedicatedHsms.dedicatedHsmOperations.beginCreateOrUpdateAndWait(
      'rg-hsm',
      'luna-1',
      { location: 'westeurope', sku: { name: 'SafeNet Luna Network HSM A790' }, stampId: 'stamp1', networkProfile: { subnet: { id: subnet }, networkInterfaces: [{ privateIpAddress: '10.2.1.8' }] } },
      arm.pollOptions,
    );
    outputs = path.join(dir, 'outputs.json');
    fs.writeFileSync(outputs, JSON.stringify({ 'hsm-prod': { dedicated_hsm_ids: [r.id], dedicated_hsm_private_ips: ['10.2.1.8'] } }));
    process.env.LUNA_TEST_TA = 'Tenant-Admin-Pw-1';
    process.env.LUNA_TEST_SO = 'So-Password-Pw-1';
    process.env.LUNA_TEST_DOM = 'domain-secret-1';
  });

  afterAll(async () => {
    await sim?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    for (const v of ['LUNA_TEST_TA', 'LUNA_TEST_SO', 'LUNA_TEST_DOM']) delete process.env[v];
  });

  const secrets = ['--password-env', 'LUNA_TEST_TA'];

  test('luna init finds the appliance from the outputs and sets it up', async () => {
    const r = await hsmctl(['luna', 'init', '--from-outputs', outputs, '--simulator', sim.stateDir, ...secrets, '--so-password-env', 'LUNA_TEST_SO', '--domain-env', 'LUNA_TEST_DOM', '--label', 'LunaHSM', '--partition', 'p1']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/created partition p1/);
    expect(r.out + r.err).not.toMatch(/Tenant-Admin-Pw-1|So-Password-Pw-1|domain-secret-1/);
  });

  test('luna register-client picks the HSM by name among the outputs', async () => {
    const r = await hsmctl(['luna', 'register-client', '--from-outputs', outputs, '--simulator', sim.stateDir, '--hsm', 'luna-1', ...secrets, '--client', 'ctm', '--ip', '10.2.0.10', '--partition', 'p1', '--out', path.join(dir, 'bundle')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/client ctm \(10\.2\.0\.10\) reaches partition p1/);
  });

  test('fails when --hsm names no Dedicated HSM of the outputs, listing those it has', async () => {
    const r = await hsmctl(['luna', 'register-client', '--from-outputs', outputs, '--simulator', sim.stateDir, '--hsm', 'luna-9', ...secrets, '--client', 'ctm', '--ip', '10.2.0.10', '--partition', 'p1']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--hsm luna-9: no such Dedicated HSM in the outputs \(have: luna-1 \(10\.2\.1\.8\)\)/);
  });
});
