import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { buildApp } from '../../stacks/app';
import { parseEnvironmentConfig } from '../../stacks/environment-config';
import { configPathFor } from '../../stacks/config-path';
import { readFileSync } from 'fs';
import { hsmctl } from '../hsmctl-in-process';

/** hsmctl policy check on the toolkit's own cdktf.out and on Terraform JSON written by hand. */
let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'policy-check-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const EXAMPLE = JSON.parse(readFileSync(configPathFor('example'), 'utf8'));

describe('hsmctl policy check', () => {
  it('passes the synthesized example (both stacks), honouring the acknowledgements the JSON records', async () => {
    const config = parseEnvironmentConfig(
      { ...EXAMPLE, managedHsm: { ...EXAMPLE.managedHsm, publicNetworkAccessEnabled: true }, policyAcknowledgements: [{ construct: 'ManagedHsm', ruleId: 'HSM-MHSM-004', reason: 'pilot reached over the IP allow list' }] },
      'inline',
    );
    const out = join(tmp, 'cdktf.out');
    buildApp(config, out).app.synth();
    const result = await hsmctl(['policy', 'check', out]);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/acknowledged \(2\):\n  HSM-MHSM-004 azurerm_key_vault_managed_hardware_security_module\.ManagedHsm_\w+: pilot reached over the IP allow list/);
    expect(result.out).toMatch(/hsmctl policy check passed \(.*hsm-example-dr\/cdk\.tf\.json, .*hsm-example\/cdk\.tf\.json; 2 acknowledged\)/);
  });

  it('fails once the recorded acknowledgement is removed from the JSON (exit 1)', async () => {
    const config = parseEnvironmentConfig(
      { ...EXAMPLE, disasterRecovery: undefined, managedHsm: { ...EXAMPLE.managedHsm, publicNetworkAccessEnabled: true }, policyAcknowledgements: [{ construct: 'ManagedHsm', ruleId: 'HSM-MHSM-004', reason: 'pilot reached over the IP allow list' }] },
      'inline',
    );
    const out = join(tmp, 'cdktf.out');
    buildApp(config, out).app.synth();
    const file = join(out, 'stacks', 'hsm-example', 'cdk.tf.json');
    const json = JSON.parse(readFileSync(file, 'utf8'));
    delete json['//'].policy;
    writeFileSync(file, JSON.stringify(json, null, 2));
    const result = await hsmctl(['policy', 'check', file]);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/HSM-MHSM-004 \(Managed HSM public network access is off\): azurerm_key_vault_managed_hardware_security_module\.ManagedHsm_\w+ public network access is on/);
  });

  it('checks Terraform JSON not made by this toolkit: every *.tf.json of a folder is one configuration', async () => {
    const module = join(tmp, 'infra');
    mkdirSync(module);
    writeFileSync(join(module, 'hsm.tf.json'), JSON.stringify({
      resource: { azurerm_key_vault_managed_hardware_security_module: { main: { name: 'm', purge_protection_enabled: true, soft_delete_retention_days: 90, public_network_access_enabled: false, network_acls: [{ default_action: 'Deny', bypass: 'None' }], lifecycle: [{ prevent_destroy: true }] } } },
      provider: { azurerm: [{ features: [{}] }] },
    }));
    // The endpoint, diagnostics and lock sit in another file of the same module: references across files resolve.
    writeFileSync(join(module, 'network.tf.json'), JSON.stringify({
      resource: {
        azurerm_private_endpoint: { pe: { private_service_connection: [{ private_connection_resource_id: '${azurerm_key_vault_managed_hardware_security_module.main.id}' }] } },
        azurerm_monitor_diagnostic_setting: { audit: { target_resource_id: '${azurerm_key_vault_managed_hardware_security_module.main.id}', storage_account_id: '/subscriptions/x/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/s', enabled_log: [{ category: 'AuditEvent' }] } },
        azurerm_management_lock: { lock: { scope: '${azurerm_key_vault_managed_hardware_security_module.main.id}', lock_level: 'CanNotDelete' } },
      },
    }));
    const result = await hsmctl(['policy', 'check', tmp, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.out);
    expect(report.violations.map((v: { ruleId: string; address: string; file: string }) => [v.ruleId, v.address])).toEqual([['HSM-PROT-003', 'provider.azurerm']]);
    expect(report.violations[0].file).toMatch(/infra\/hsm\.tf\.json$/);
  });

  describe('waivers a reviewer should see apart: naming no construct, and for every address ("*")', () => {
    const OPEN = (port: string) => ({ direction: 'Inbound', access: 'Allow', source_address_prefix: '*', destination_port_range: port });
    const write = () => {
      const file = join(tmp, 'main.tf.json');
      writeFileSync(file, JSON.stringify({
        '//': { policy: { acknowledgements: [
          { ruleId: 'HSM-NET-001', reason: 'jump host, reviewed in CHG-1', construct: 'lab/JumpHost', addresses: ['azurerm_network_security_rule.by_construct'] },
          { ruleId: 'HSM-NET-001', reason: 'written into the JSON by hand', addresses: ['azurerm_network_security_rule.by_hand'] },
          { ruleId: 'HSM-NET-001', reason: 'the whole lab is isolated', construct: 'lab', addresses: ['*'] },
        ] } },
        resource: { azurerm_network_security_rule: { by_construct: OPEN('22'), by_hand: OPEN('3389'), by_star: OPEN('443') } },
      }, null, 2));
      return file;
    };

    it('lists them in their own sections of the text report, and counts them in the verdict', async () => {
      const result = await hsmctl(['policy', 'check', write()]);
      expect(result.code).toBe(0);
      expect(result.out).toContain('acknowledged (1):\n  HSM-NET-001 azurerm_network_security_rule.by_construct: jump host, reviewed in CHG-1\n');
      expect(result.out).toContain('acknowledged by a waiver that names no construct (not made by acknowledgePolicy: review it) (1):\n  HSM-NET-001 azurerm_network_security_rule.by_hand: written into the JSON by hand\n');
      expect(result.out).toContain('acknowledged by a waiver for every address ("*": it also covers resources added later; review it) (1):\n  HSM-NET-001 azurerm_network_security_rule.by_star: the whole lab is isolated (made on lab)\n');
      expect(result.out).toMatch(/hsmctl policy check passed \(.*main\.tf\.json; 3 acknowledged, of which 1 by a waiver naming no construct, 1 by a "\*" waiver\)$/);
    });

    it('lists them apart in the JSON report', async () => {
      const report = JSON.parse((await hsmctl(['policy', 'check', write(), '--format', 'json'])).out);
      expect(report.acknowledged.map((f: { address: string }) => f.address).sort()).toEqual(['by_construct', 'by_hand', 'by_star'].map((n) => `azurerm_network_security_rule.${n}`));
      expect(report.acknowledgedWithoutConstruct).toEqual([expect.objectContaining({ address: 'azurerm_network_security_rule.by_hand', waiver: { everyAddress: false } })]);
      expect(report.acknowledgedForEveryAddress).toEqual([expect.objectContaining({ address: 'azurerm_network_security_rule.by_star', waiver: { construct: 'lab', everyAddress: true } })]);
    });

    it('marks them in the SARIF suppressions', async () => {
      const log = JSON.parse((await hsmctl(['policy', 'check', write(), '--format', 'sarif'])).out);
      const suppressionOf = (address: string) => log.runs[0].results.find((r: any) => r.locations[0].logicalLocations[0].fullyQualifiedName === address).suppressions[0];
      expect(suppressionOf('azurerm_network_security_rule.by_construct')).toEqual({ kind: 'external', justification: 'jump host, reviewed in CHG-1', properties: { construct: 'lab/JumpHost', namesNoConstruct: false, everyAddress: false } });
      expect(suppressionOf('azurerm_network_security_rule.by_hand')).toEqual({ kind: 'external', justification: 'written into the JSON by hand (the waiver names no construct)', properties: { namesNoConstruct: true, everyAddress: false } });
      expect(suppressionOf('azurerm_network_security_rule.by_star')).toEqual({ kind: 'external', justification: 'the whole lab is isolated (the waiver covers every address ("*"))', properties: { construct: 'lab', namesNoConstruct: false, everyAddress: true } });
    });
  });

  it('reports each module block as not checked, with its line, pointing at hsmctl plan check (exit 1)', async () => {
    const file = join(tmp, 'main.tf.json');
    writeFileSync(file, JSON.stringify({ provider: { azurerm: [{ features: [{}] }] }, module: { vault: { source: 'Azure/avm-res-keyvault-vault/azurerm', version: '0.9.1' } } }, null, 2));
    const result = await hsmctl(['policy', 'check', file, '--format', 'json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.out);
    expect(report.violations).toEqual([
      expect.objectContaining({ ruleId: 'HSM-MODULE-001', address: 'module.vault', line: 12, message: expect.stringContaining('module.vault is a module (source "Azure/avm-res-keyvault-vault/azurerm") whose resources this check cannot see. Fix: check the planned values with hsmctl plan check') }),
    ]);
  });

  it.each([
    [[], "missing required argument 'DIR|FILE'"],
    [['/nonexistent'], '/nonexistent: no such file or folder'],
  ])('refuses %j with exit 2', async (args, message) => {
    const result = await hsmctl(['policy', 'check', ...(args as string[])]);
    expect(result.code).toBe(2);
    expect(result.err).toContain(message);
  });

  it('refuses a folder with no *.tf.json, and a plan (pointing at plan check)', async () => {
    expect((await hsmctl(['policy', 'check', tmp])).err).toContain('no *.tf.json file in this folder or below');
    const plan = join(tmp, 'plan.tf.json');
    writeFileSync(plan, JSON.stringify({ format_version: '1.2', resource_changes: [] }));
    const result = await hsmctl(['policy', 'check', plan]);
    expect(result.code).toBe(2);
    expect(result.err).toContain('this is a Terraform plan (terraform show -json); check it with hsmctl plan check');
  });
});
