import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { generateKeyPairSync } from 'crypto';
import { DedicatedHardwareSecurityModule } from '@cdktf/provider-azurerm/lib/dedicated-hardware-security-module';
import { ManagementLock } from '@cdktf/provider-azurerm/lib/management-lock';
import { Testing } from 'cdktf';
// The type declarations of the matchers Testing.setupJest() installs.
import 'cdktf/lib/testing/adapters/jest';
import { buildApp } from '../../stacks/app';
import { configPathFor } from '../../stacks/config-path';
import { EnvironmentConfig, loadEnvironmentConfig, parseEnvironmentConfig } from '../../stacks/environment-config';
import { Json, resourcesOf } from '../synth-helpers';
import { findClearSecrets } from './secret-scan';

Testing.setupJest();

const EXAMPLE = loadEnvironmentConfig(configPathFor('example'));
const ROOT = resolve(__dirname, '..', '..');

function synthAll(config: EnvironmentConfig): Record<string, Json> {
  const { stacks } = buildApp(config, mkdtempSync(join(tmpdir(), 'hsm-stack-test-')));
  return Object.fromEntries(stacks.map((s) => [s.stackName, JSON.parse(Testing.synth(s, true))]));
}

function count(tf: Json, type: string): number {
  return resourcesOf(tf, type).length;
}

describe('EnvironmentStack and DisasterRecoveryStack from config/example.json', () => {
  const stacks = synthAll(EXAMPLE);
  const env = stacks['hsm-example'];
  const dr = stacks['hsm-example-dr'];

  test('synthesize deterministically (snapshot as a change alarm)', () => {
    expect(stacks).toMatchSnapshot();
    expect(synthAll(EXAMPLE)).toEqual(stacks);
  });

  test('hold no absolute machine paths', () => {
    expect(JSON.stringify(stacks)).not.toMatch(/"\/(work|tmp|root|home)\//);
  });

  test('the secret scan finds a private key planted base64-encoded in custom_data (as synth writes it)', () => {
    const { environment } = buildApp(EXAMPLE, mkdtempSync(join(tmpdir(), 'hsm-stack-test-')));
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const cloudInit = `#cloud-config\nwrite_files:\n  - path: /etc/ctm/key.pem\n    content: |\n${pem.replace(/^/gm, '      ')}`;
    environment.cipherTrustManager!.vm.addOverride('custom_data', Buffer.from(cloudInit).toString('base64'));
    const found = findClearSecrets(environment.toTerraform());
    expect(found).toEqual([expect.stringMatching(/^\$\.resource\.azurerm_linux_virtual_machine\.CipherTrustManager_\w+\.custom_data: PEM private key \(base64-decoded\)$/)]);
  });

  test('hold no secrets in clear, even with credentials in the environment', () => {
    const secret = 'client-secret-value-that-must-not-leak';
    process.env.ARM_CLIENT_SECRET = secret;
    try {
      const again = synthAll(EXAMPLE);
      expect(findClearSecrets(again, '$', [secret])).toEqual([]);
    } finally {
      delete process.env.ARM_CLIENT_SECRET;
    }
  });

  test('configure the azurerm provider to keep soft-deleted HSMs and keys, with no credentials', () => {
    expect(env.provider.azurerm).toEqual([
      {
        features: [
          {
            key_vault: [
              {
                purge_soft_delete_on_destroy: false,
                purge_soft_deleted_hardware_security_module_keys_on_destroy: false,
                purge_soft_deleted_hardware_security_modules_on_destroy: false,
                purge_soft_deleted_keys_on_destroy: false,
                recover_soft_deleted_hardware_security_module_keys: true,
                recover_soft_deleted_key_vaults: true,
                recover_soft_deleted_keys: true,
              },
            ],
          },
        ],
      },
    ]);
    expect(dr.provider.azurerm).toEqual(env.provider.azurerm);
  });

  test('protect every HSM and key from destroy, and lock each HSM against deletion', () => {
    for (const type of ['azurerm_dedicated_hardware_security_module', 'azurerm_key_vault_managed_hardware_security_module', 'azurerm_key_vault_managed_hardware_security_module_key']) {
      const all = [...resourcesOf(env, type), ...resourcesOf(dr, type)];
      expect(all.length).toBeGreaterThan(0);
      for (const r of all) expect(r.lifecycle).toEqual({ prevent_destroy: true });
    }
    expect(resourcesOf(env, 'azurerm_management_lock').map((l) => [l.name, l.lock_level])).toEqual([
      ['hsm-example-luna-delete-lock', 'CanNotDelete'],
      ['hsm-example-mhsm-delete-lock', 'CanNotDelete'],
    ]);
    expect(resourcesOf(dr, 'azurerm_management_lock').map((l) => l.name)).toEqual(['hsm-example-mhsm-dr-delete-lock']);
  });

  test('use a local backend by default', () => {
    expect(env.terraform.backend).toEqual({ local: { path: 'terraform.hsm-example.tfstate' } });
  });

  test('compose the whole estate', () => {
    expect(count(env, 'azurerm_dedicated_hardware_security_module')).toBe(1);
    expect(count(env, 'azurerm_key_vault_managed_hardware_security_module')).toBe(1);
    expect(count(env, 'azurerm_key_vault_managed_hardware_security_module_key')).toBe(3);
    expect(count(env, 'azurerm_linux_virtual_machine')).toBe(1);
    expect(count(env, 'azurerm_windows_virtual_machine')).toBe(1);
    expect(count(env, 'azurerm_virtual_network_gateway')).toBe(1);
  });

  test('output what hsmctl needs after deploy', () => {
    expect(Object.keys(env.output).sort()).toEqual([
      'ciphertrust_private_ip', 'ciphertrust_vm_id', 'dedicated_hsm_ids', 'dedicated_hsm_private_ips', 'hsm_uri',
      'luna_client_private_ip', 'luna_client_vm_id', 'managed_hsm_id', 'managed_hsm_name', 'resource_group_name', 'vnet_id',
    ]);
    expect(env.output.dedicated_hsm_private_ips.value).toEqual(['10.2.1.8']);
    expect(env.output.ciphertrust_private_ip.value).toBe('10.2.0.10');
  });

  test('the DR stack holds an unactivated Managed HSM in another region, with no keys', () => {
    const hsm = resourcesOf(dr, 'azurerm_key_vault_managed_hardware_security_module')[0];
    expect(hsm).toMatchObject({ name: 'hsm-example-mhsm-dr', purge_protection_enabled: true });
    expect(resourcesOf(dr, 'azurerm_resource_group')[0].location).toBe('northeurope');
    expect(count(dr, 'azurerm_key_vault_managed_hardware_security_module_key')).toBe(0);
    expect(count(dr, 'azurerm_dedicated_hardware_security_module')).toBe(0);
    expect(Object.keys(dr.output)).toContain('hsm_uri');
  });
});

describe('environment shapes (config/*.json, also examples for users)', () => {
  const shapes = ['mhsm-only', 'dhsm-only', 'ha-pair', 'full'] as const;
  const synthOf = Object.fromEntries(shapes.map((name) => [name, synthAll(loadEnvironmentConfig(configPathFor(name)))]));

  test.each(shapes)('%s synthesizes deterministically (snapshot as a change alarm)', (name) => {
    expect(synthOf[name]).toMatchSnapshot();
  });

  test('Managed HSM only: no HSM subnet, gateway or VMs; a locked, undeletable Managed HSM', () => {
    const tf = synthOf['mhsm-only']['hsm-mhsm-only'];
    expect(resourcesOf(tf, 'azurerm_subnet').map((s) => s.name)).toEqual(['Compute']);
    expect(count(tf, 'azurerm_virtual_network_gateway')).toBe(0);
    expect(count(tf, 'azurerm_dedicated_hardware_security_module')).toBe(0);
    expect(resourcesOf(tf, 'azurerm_management_lock').map((l) => l.name)).toEqual(['hsm-mhsm-only-delete-lock']);
  });

  test('Dedicated HSM only: the HSM, its lock, no Managed HSM and no key_vault resources', () => {
    const json = Testing.synth(buildApp(loadEnvironmentConfig(configPathFor('dhsm-only')), mkdtempSync(join(tmpdir(), 'hsm-stack-test-'))).environment);
    expect(json).toHaveResourceWithProperties(DedicatedHardwareSecurityModule, { name: 'hsm-dhsm-only-luna', stamp_id: 'stamp1', lifecycle: { prevent_destroy: true } });
    expect(json).toHaveResourceWithProperties(ManagementLock, { name: 'hsm-dhsm-only-luna-delete-lock', lock_level: 'CanNotDelete' });
    expect(count(synthOf['dhsm-only']['hsm-dhsm-only'], 'azurerm_key_vault_managed_hardware_security_module')).toBe(0);
  });

  test('full: the resource group is locked too, the audit logs also go to storage, a custom role is defined and assigned', () => {
    const tf = synthOf.full['hsm-full'];
    expect(resourcesOf(tf, 'azurerm_management_lock').map((l) => l.name)).toContain('rg-hsm-full-delete-lock');
    expect(resourcesOf(tf, 'azurerm_monitor_diagnostic_setting')[0].storage_account_id).toMatch(/storageAccounts\/hsmauditlogs$/);
    expect(resourcesOf(tf, 'azurerm_key_vault_managed_hardware_security_module_role_definition').map((d) => d.role_name)).toEqual(['app-signer']);
    expect(Object.values(tf.output).every((o: any) => typeof o.description === 'string' && o.description.length > 10)).toBe(true);
  });
});

describe('a single Dedicated HSM that becomes an HA pair (haPairFromSingleHsm)', () => {
  const single = loadEnvironmentConfig(configPathFor('dhsm-only'));
  // As the README says: keep privateIpAddress and stampId, add the pair's IPs (the single HSM's first) and the flag.
  const pair: EnvironmentConfig = parseEnvironmentConfig(
    { ...single, dedicatedHsm: { ...single.dedicatedHsm!, haPairPrivateIpAddresses: ['10.5.1.8', '10.5.1.9'], haPairFromSingleHsm: true } },
    'ha-pair-grown.json',
  );
  const before = synthAll(single)['hsm-dhsm-only'];
  const after = synthAll(pair)['hsm-dhsm-only'];
  const HSM = 'azurerm_dedicated_hardware_security_module';

  test('the first member keeps the single HSM\'s name, stamp, IP and every other attribute', () => {
    const [oldAddress] = Object.keys(before.resource[HSM]);
    const newAddresses = Object.keys(after.resource[HSM]);
    expect(newAddresses).toHaveLength(2);
    const primary = after.resource[HSM][newAddresses.find((a) => a.includes('Primary'))!];
    expect(primary).toEqual(before.resource[HSM][oldAddress]);
    const secondary = after.resource[HSM][newAddresses.find((a) => a.includes('Secondary'))!];
    expect(secondary).toMatchObject({ name: 'hsm-dhsm-only-luna-2', stamp_id: 'stamp2', network_profile: { network_interface_private_ip_addresses: ['10.5.1.9'] } });
  });

  test('moved blocks carry the HSM and its lock from their old addresses to the new ones', () => {
    const address = (tf: Json, type: string, part: string) => `${type}.${Object.keys(tf.resource[type]).find((a) => a.includes(part))}`;
    expect(after.moved).toEqual([
      { from: address(before, HSM, 'DedicatedHsm'), to: address(after, HSM, 'Primary') },
      { from: address(before, 'azurerm_management_lock', 'DedicatedHsm'), to: address(after, 'azurerm_management_lock', 'Primary') },
    ]);
    expect(before.moved).toBeUndefined();
  });

  test('without the flag, a new pair would replace the HSM: no moved block, and the first member is renamed', () => {
    const fresh = synthAll({ ...pair, dedicatedHsm: { ...pair.dedicatedHsm!, privateIpAddress: undefined, haPairFromSingleHsm: undefined, stampId: undefined } })['hsm-dhsm-only'];
    expect(fresh.moved).toBeUndefined();
    expect(resourcesOf(fresh, HSM).map((h) => h.name)).toEqual(['hsm-dhsm-only-luna-1', 'hsm-dhsm-only-luna-2']);
  });
});

describe('config errors found by the constructs name the config file and the JSON path', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'hsm-config-path-'));
  const errorOf = (change: (c: any) => void): string => {
    const data = JSON.parse(readFileSync(configPathFor('example'), 'utf8'));
    change(data);
    const file = join(tmp, `c${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(data));
    try {
      buildApp(loadEnvironmentConfig(file), join(tmp, 'out'));
    } catch (err) {
      expect((err as Error).message.startsWith(`${file}: invalid environment config:`)).toBe(true);
      return (err as Error).message;
    }
    throw new Error('expected a config error');
  };

  test.each<[string, (c: any) => void, string]>([
    ['an HSM IP outside the HSM subnet', (c) => (c.dedicatedHsm.privateIpAddress = '10.2.9.8'), '$.dedicatedHsm.privateIpAddress (hsm-example/DedicatedHsm, privateIpAddress): received "10.2.9.8"; allowed: an IPv4 address inside the HSM subnet 10.2.1.0/24'],
    ['a VM IP outside the Compute subnet', (c) => (c.cipherTrustManager.privateIpAddress = '10.2.1.50'), '$.cipherTrustManager.privateIpAddress (hsm-example/CipherTrustManager, privateIpAddress): received "10.2.1.50"'],
    ['a key size its type cannot have', (c) => (c.managedHsm.keys[1].keySize = 2048), '$.managedHsm.keys[1].keySize (hsm-example/ManagedHsm/Key-app-signing, keySize): received 2048; allowed: no keySize for EC-HSM'],
    ['a DR address space that does not hold its subnet', (c) => (c.disasterRecovery.addressSpace = ['10.9.0.0/16']), '$.disasterRecovery.computeSubnetCidr (hsm-example-dr/Network, computeSubnetCidr): received "10.3.0.0/24"'],
    ['a Compute subnet overlapping the HSM subnet', (c) => (c.network.computeSubnetCidr = '10.2.1.0/25'), '$.network.hsmSubnetCidr (hsm-example/Network, hsmSubnetCidr): received "10.2.1.0/24"; allowed: a CIDR that does not overlap computeSubnetCidr'],
  ])('%s', (_what, change, expected) => {
    expect(errorOf(change)).toContain(expected);
  });
});

describe("the DR Managed HSM's audit logs (Azure Monitor: a storage account or event hub destination must be in the resource's region; a workspace may be anywhere)", () => {
  const WORKSPACE = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-audit/providers/Microsoft.OperationalInsights/workspaces/hsm-audit';
  const PRIMARY_STORAGE = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-audit/providers/Microsoft.Storage/storageAccounts/auditwesteurope';
  const PRIMARY_HUB = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-audit/providers/Microsoft.EventHub/namespaces/siem-westeurope/authorizationRules/send';
  const DR_STORAGE = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-audit-dr/providers/Microsoft.Storage/storageAccounts/auditnortheurope';
  const withDiagnostics = (primary: object, dr?: object) =>
    parseEnvironmentConfig(
      { ...EXAMPLE, managedHsm: { ...EXAMPLE.managedHsm, ...primary }, disasterRecovery: { ...EXAMPLE.disasterRecovery, ...(dr ? { diagnostics: dr } : {}) } },
      'dr-diagnostics.json',
    );
  const settingOf = (config: EnvironmentConfig, stack: string) => resourcesOf(synthAll(config)[stack], 'azurerm_monitor_diagnostic_setting')[0];

  test("the DR HSM takes the primary's workspace, never its storage account or event hub", () => {
    const config = withDiagnostics({ logAnalyticsWorkspaceId: WORKSPACE, diagnostics: { storageAccountId: PRIMARY_STORAGE, eventHubAuthorizationRuleId: PRIMARY_HUB } });
    expect(settingOf(config, 'hsm-example')).toMatchObject({ log_analytics_workspace_id: WORKSPACE, storage_account_id: PRIMARY_STORAGE, eventhub_authorization_rule_id: PRIMARY_HUB });
    const dr = settingOf(config, 'hsm-example-dr');
    expect(dr.log_analytics_workspace_id).toBe(WORKSPACE);
    expect(dr.storage_account_id).toBeUndefined();
    expect(dr.eventhub_authorization_rule_id).toBeUndefined();
  });

  test("the DR HSM sends to its own region's storage account from disasterRecovery.diagnostics", () => {
    const config = withDiagnostics({ diagnostics: { storageAccountId: PRIMARY_STORAGE } }, { storageAccountId: DR_STORAGE });
    expect(settingOf(config, 'hsm-example-dr').storage_account_id).toBe(DR_STORAGE);
  });

  test("with only a storage account on the primary, the DR HSM gets a workspace of its own in the DR region", () => {
    const tf = synthAll(withDiagnostics({ diagnostics: { storageAccountId: PRIMARY_STORAGE } }))['hsm-example-dr'];
    expect(resourcesOf(tf, 'azurerm_log_analytics_workspace')).toEqual([expect.objectContaining({ name: 'hsm-example-mhsm-dr-logs', location: expect.stringContaining('azurerm_resource_group') })]);
    expect(resourcesOf(tf, 'azurerm_monitor_diagnostic_setting')[0].storage_account_id).toBeUndefined();
  });

  test('fails on a DR event hub name without its authorization rule, naming $.disasterRecovery.diagnostics', () => {
    expect(() => buildApp(withDiagnostics({}, { eventHubName: 'audit' }), mkdtempSync(join(tmpdir(), 'hsm-dr-diag-')))).toThrow(
      '$.disasterRecovery.diagnostics.eventHubName (hsm-example-dr/ManagedHsm, diagnostics.eventHubName): received "audit"; allowed: only with diagnostics.eventHubAuthorizationRuleId',
    );
  });
});

describe('partial environments', () => {
  const base = { ...EXAMPLE, disasterRecovery: undefined };

  test('only a Managed HSM: no HSM subnet, gateway or VMs', () => {
    const network = { addressSpace: ['10.2.0.0/16'], computeSubnetCidr: '10.2.0.0/24', adminCidrs: [] };
    const { 'hsm-example': tf } = synthAll({ ...base, network, dedicatedHsm: undefined, cipherTrustManager: undefined, lunaClientHost: undefined });
    expect(count(tf, 'azurerm_key_vault_managed_hardware_security_module')).toBe(1);
    expect(count(tf, 'azurerm_virtual_network_gateway')).toBe(0);
    expect(resourcesOf(tf, 'azurerm_subnet').map((s) => s.name)).toEqual(['Compute']);
    expect(count(tf, 'azurerm_linux_virtual_machine')).toBe(0);
  });

  test('only a Dedicated HSM, as an HA pair', () => {
    const { 'hsm-example': tf } = synthAll({
      ...base,
      managedHsm: undefined,
      cipherTrustManager: undefined,
      lunaClientHost: undefined,
      dedicatedHsm: { name: 'luna', haPairPrivateIpAddresses: ['10.2.1.8', '10.2.1.9'] },
    });
    expect(resourcesOf(tf, 'azurerm_dedicated_hardware_security_module').map((h) => h.stamp_id)).toEqual(['stamp1', 'stamp2']);
    expect(count(tf, 'azurerm_key_vault_managed_hardware_security_module')).toBe(0);
    expect(tf.output.dedicated_hsm_private_ips.value).toEqual(['10.2.1.8', '10.2.1.9']);
  });

  test('before activation the Managed HSM has no keys or role assignments (Azure refuses them until then)', () => {
    const { 'hsm-example': tf } = synthAll({ ...base, managedHsm: { ...EXAMPLE.managedHsm!, securityDomainActivated: false } });
    expect(count(tf, 'azurerm_key_vault_managed_hardware_security_module_key')).toBe(0);
    expect(count(tf, 'azurerm_key_vault_managed_hardware_security_module_role_assignment')).toBe(0);
  });
});

describe('backends', () => {
  const base = { ...EXAMPLE, disasterRecovery: undefined };
  test('azurerm remote state with Entra ID auth and a key per stack', () => {
    const { 'hsm-example': tf } = synthAll({ ...base, backend: { type: 'azurerm', resourceGroupName: 'rg-tfstate', storageAccountName: 'sttfstate', containerName: 'tfstate' } });
    expect(tf.terraform.backend.azurerm).toEqual({
      resource_group_name: 'rg-tfstate',
      storage_account_name: 'sttfstate',
      container_name: 'tfstate',
      key: 'hsm-example.tfstate',
      use_azuread_auth: true,
    });
  });
  test('HCP Terraform', () => {
    const { 'hsm-example': tf } = synthAll({ ...base, backend: { type: 'cloud', organization: 'contoso', workspace: 'hsm-prod' } });
    expect(tf.terraform.cloud).toEqual({ organization: 'contoso', workspaces: { name: 'hsm-prod' } });
  });
  test('the subscription id from config goes to the provider', () => {
    const { 'hsm-example': tf } = synthAll({ ...base, subscriptionId: '12345678-1234-1234-1234-123456789012' });
    expect(tf.provider.azurerm[0].subscription_id).toBe('12345678-1234-1234-1234-123456789012');
  });
});

describe('policy at stack level', () => {
  test('fails the synth when the config turns purge protection off, naming the rule and the fix', () => {
    const config = { ...EXAMPLE, disasterRecovery: undefined, managedHsm: { ...EXAMPLE.managedHsm!, dangerouslyDisablePurgeProtection: true } };
    expect(() => synthAll(config)).toThrow(/HSM-MHSM-001 .*azurerm_key_vault_managed_hardware_security_module\.ManagedHsm_\w+ purge protection is off\. Fix: remove dangerouslyDisablePurgeProtection/);
  });
  test('passes once the config acknowledges the rule for that construct', () => {
    const config = {
      ...EXAMPLE,
      disasterRecovery: undefined,
      managedHsm: { ...EXAMPLE.managedHsm!, dangerouslyDisablePurgeProtection: true },
      policyAcknowledgements: [{ construct: 'ManagedHsm', ruleId: 'HSM-MHSM-001', reason: 'throwaway sandbox, deleted nightly' }],
    };
    expect(() => synthAll(config)).not.toThrow();
  });
});

describe('npx cdktf synth', () => {
  test('synthesizes the example environment through the CLI', () => {
    const out = mkdtempSync(join(tmpdir(), 'hsm-cli-synth-'));
    try {
      execFileSync('npx', ['cdktf', 'synth', '--output', out], { cwd: ROOT, env: { ...process.env, CHECKPOINT_DISABLE: '1', HSM_ENV: 'example' }, stdio: 'pipe', timeout: 120_000 });
      expect(readdirSync(join(out, 'stacks')).sort()).toEqual(['hsm-example', 'hsm-example-dr']);
      const tf = JSON.parse(readFileSync(join(out, 'stacks', 'hsm-example', 'cdk.tf.json'), 'utf8'));
      expect(resourcesOf(tf, 'azurerm_key_vault_managed_hardware_security_module')[0].purge_protection_enabled).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('fails with the policy violation when the config is insecure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hsm-cli-synth-bad-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ ...EXAMPLE, disasterRecovery: undefined, managedHsm: { ...EXAMPLE.managedHsm, publicNetworkAccessEnabled: true } }));
    try {
      let output = '';
      try {
        execFileSync('npx', ['cdktf', 'synth', '--output', join(dir, 'out')], { cwd: ROOT, env: { ...process.env, CHECKPOINT_DISABLE: '1', HSM_CONFIG: file }, stdio: 'pipe', timeout: 120_000 });
      } catch (err) {
        const e = err as { stdout: Buffer; stderr: Buffer };
        output = `${e.stdout}${e.stderr}`;
      }
      expect(output).toMatch(/HSM-MHSM-004/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
