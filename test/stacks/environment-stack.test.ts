import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { Testing } from 'cdktf';
import { buildApp } from '../../stacks/app';
import { configPathFor } from '../../stacks/config-path';
import { EnvironmentConfig, loadEnvironmentConfig } from '../../stacks/environment-config';
import { Json, resourcesOf } from '../synth-helpers';
import { findClearSecrets } from './secret-scan';

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

  test('configure the azurerm provider with features {} and no credentials', () => {
    expect(env.provider.azurerm).toEqual([{ features: [{}] }]);
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
