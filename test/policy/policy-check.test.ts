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
