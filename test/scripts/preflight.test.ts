import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { planChecks } from '../../scripts/commands/preflight';
import { ArmHarness } from '../simulator/arm/arm-harness';
import { hsmctl } from '../hsmctl-in-process';

const SUB = 'abcdef01-2345-6789-abcd-ef0123456789';

describe('hsmctl preflight against the simulator standing in for ARM', () => {
  let h: ArmHarness;
  let args: string[];
  beforeAll(async () => {
    // A registration stays Registering for an hour of simulator time: until the test moves the clock, however slow the synth.
    h = await ArmHarness.start({ arm: { provisioningStepMs: 3_600_000 } });
    // A principal whose generated secret the simulator wrote to secrets/; named with --principal (endpoints.json lists
    // only the administrators of Managed HSMs).
    const operator = randomUUID();
    await h.sim.addPrincipal(operator);
    args = ['preflight', '--env', 'example', '--simulator', h.dir, '--principal', operator, '--subscription', SUB];
  });
  afterAll(() => h.close());

  test('GIVEN a fresh subscription THEN every registration check fails with its az fix, the plan checks pass, exit 1', async () => {
    const r = await hsmctl([...args, '--json']);
    expect(r.err).toMatch(/^environment example from \S+config\/example\.json \(--env example\)$/);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report.ok).toBe(false);
    const byName = Object.fromEntries(report.checks.map((c: { name: string }) => [c.name, c]));
    expect(byName['feature Microsoft.HardwareSecurityModules/AzureDedicatedHSM Registered']).toMatchObject({ ok: false, detail: 'NotRegistered' });
    expect(byName['feature Microsoft.HardwareSecurityModules/AzureDedicatedHSM Registered'].fix).toMatch(/az feature register --namespace Microsoft.HardwareSecurityModules --name AzureDedicatedHSM/);
    expect(byName['feature Microsoft.Network/AllowBaremetalServers Registered'].ok).toBe(false);
    for (const ns of ['Microsoft.HardwareSecurityModules', 'Microsoft.KeyVault', 'Microsoft.Network']) {
      expect(byName[`provider ${ns} Registered`]).toMatchObject({ ok: false, detail: 'NotRegistered', fix: `az provider register --namespace ${ns} --subscription ${SUB}` });
    }
    const plan = report.checks.filter((c: { name: string }) => c.name.startsWith('hsm-example'));
    expect(plan.map((c: { name: string }) => c.name)).toEqual([
      'hsm-example: Dedicated HSM hsm-example-luna: subnet HSM delegated to Microsoft.HardwareSecurityModules/dedicatedHSMs',
      'hsm-example: Dedicated HSM hsm-example-luna: no NSG on subnet HSM',
      'hsm-example: Dedicated HSM hsm-example-luna: no route table on subnet HSM',
      'hsm-example: Dedicated HSM hsm-example-luna: GatewaySubnet in the same VNet',
      'hsm-example: Dedicated HSM hsm-example-luna: ExpressRoute gateway in GatewaySubnet',
      'hsm-example: Dedicated HSM hsm-example-luna: depends on the gateway',
    ]);
    expect(plan.every((c: { ok: boolean }) => c.ok)).toBe(true);
  });

  test('WHEN the features and providers are registered through ARM THEN preflight reads Registering (wait), then passes with exit 0', async () => {
    for (const [ns, f] of [['Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM'], ['Microsoft.Network', 'AllowBaremetalServers']]) {
      expect((await h.request('POST', `/subscriptions/${SUB}/providers/Microsoft.Features/providers/${ns}/features/${f}/register?api-version=2021-07-01`)).status).toBe(200);
    }
    for (const ns of ['Microsoft.HardwareSecurityModules', 'Microsoft.KeyVault', 'Microsoft.Network']) {
      expect((await h.request('POST', `/subscriptions/${SUB}/providers/${ns}/register?api-version=2021-04-01`)).status).toBe(200);
    }
    const during = await hsmctl(args);
    expect(during.code).toBe(1);
    expect(during.out).toMatch(/FAIL {2}feature Microsoft.HardwareSecurityModules\/AzureDedicatedHSM Registered: Registering\n\s+fix: wait/);
    await h.advanceClock(3600);
    const after = await hsmctl(args);
    expect(after.err).toMatch(/^environment example from \S+ \(--env example\)$/);
    expect(after.out).not.toMatch(/FAIL/);
    expect(after.out).toMatch(/preflight passed/);
    expect(after.code).toBe(0);
  });

  test('usage errors exit 2: both --env and --config, a bad subscription, --principal without --simulator, unknown flags, a missing config', async () => {
    expect((await hsmctl(['preflight', '--env', 'example', '--config', 'x.json', '--subscription', SUB])).code).toBe(2);
    expect((await hsmctl(['preflight', '--env', 'example', '--subscription', 'nope'])).code).toBe(2);
    expect((await hsmctl(['preflight', '--env', 'example', '--subscription', SUB, '--principal', h.objectId])).code).toBe(2);
    expect((await hsmctl(['preflight', '--bogus'])).code).toBe(2);
    const missing = await hsmctl(['preflight', '--config', '/no/such/config.json', '--subscription', SUB]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--config \/no\/such\/config.json: there is no \/no\/such\/config.json/);
    expect((await hsmctl(['preflight', '--simulator', '/no/such/dir', '--subscription', SUB])).code).toBe(2);
    expect((await hsmctl(['preflight', '--help'])).code).toBe(0);
  });
});

describe('preflight plan checks over the synthesized JSON', () => {
  let tf: Record<string, any>;
  beforeAll(async () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-plan-'));
    try {
      expect((await hsmctl(['summary', '--env', 'example', '--outdir', outdir])).code).toBe(0);
      tf = JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', 'hsm-example', 'cdk.tf.json'), 'utf8'));
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
  const failing = (t: Record<string, any>) => planChecks({ 'hsm-example': t }).filter((c) => !c.ok).map((c) => c.name.replace(/^.*: /, ''));
  const copy = () => JSON.parse(JSON.stringify(tf));
  const hsmSubnet = (t: any) => Object.entries<any>(t.resource.azurerm_subnet).find(([, s]) => s.name === 'HSM')!;

  test('the example environment passes every plan check', () => {
    expect(failing(tf)).toEqual([]);
  });

  test('fails when the HSM subnet is not delegated', () => {
    const t = copy();
    delete hsmSubnet(t)[1].delegation;
    expect(failing(t)).toEqual(['subnet HSM delegated to Microsoft.HardwareSecurityModules/dedicatedHSMs']);
    expect(planChecks({ x: t }).find((c) => !c.ok)!.fix).toMatch(/--delegations Microsoft.HardwareSecurityModules\/dedicatedHSMs/);
  });

  test('fails when an NSG or a route table is put on the HSM subnet', () => {
    const t = copy();
    const [id] = hsmSubnet(t);
    t.resource.azurerm_subnet_network_security_group_association.Bad = { subnet_id: `\${azurerm_subnet.${id}.id}`, network_security_group_id: '${azurerm_network_security_group.X.id}' };
    t.resource.azurerm_subnet_route_table_association = { Udr: { subnet_id: `\${azurerm_subnet.${id}.id}`, route_table_id: '${azurerm_route_table.X.id}' } };
    expect(failing(t)).toEqual(['no NSG on subnet HSM', 'no route table on subnet HSM']);
  });

  test('fails when the gateway is missing, not ExpressRoute, or the HSM does not depend on it', () => {
    const noDep = copy();
    delete Object.values<any>(noDep.resource.azurerm_dedicated_hardware_security_module)[0].depends_on;
    expect(failing(noDep)).toEqual(['depends on the gateway']);
    const vpn = copy();
    Object.values<any>(vpn.resource.azurerm_virtual_network_gateway)[0].type = 'Vpn';
    expect(failing(vpn)).toEqual(['ExpressRoute gateway in GatewaySubnet']);
    const noGwSubnet = copy();
    for (const [k, s] of Object.entries<any>(noGwSubnet.resource.azurerm_subnet)) if (s.name === 'GatewaySubnet') delete noGwSubnet.resource.azurerm_subnet[k];
    expect(failing(noGwSubnet)).toEqual(['GatewaySubnet in the same VNet', 'ExpressRoute gateway in GatewaySubnet', 'depends on the gateway']);
  });

  test('an HA pair must sit in stamp1 and stamp2', () => {
    const t = copy();
    const [id, h] = Object.entries<any>(t.resource.azurerm_dedicated_hardware_security_module)[0];
    t.resource.azurerm_dedicated_hardware_security_module[`${id}b`] = { ...h, name: 'hsm-b' };
    expect(failing(t)).toEqual(['HA pair in two stamps']);
    t.resource.azurerm_dedicated_hardware_security_module[`${id}b`].stamp_id = 'stamp2';
    expect(failing(t)).toEqual([]);
  });
});
