import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider';
import { App, Aspects, TerraformResource, TerraformStack, Testing } from 'cdktf';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { CipherTrustManager } from '../../constructs/ciphertrust-manager';
import { ManagedHsm } from '../../constructs/managed-hsm';
import { hsmProviderFeatures } from '../../constructs/provider-features';
import { acknowledgePolicy } from '../../policy/acknowledgement';
import { HsmPolicy } from '../../policy/hsm-policy';
import { network, sshRsaPublicKey, synthStack, testStack } from '../synth-helpers';

/**
 * The policy reads the stack's final Terraform JSON, so changes made past the constructs (a stack-level
 * override, an override on a resource, a raw TerraformResource) are checked like any other resource.
 */
const TENANT_ID = '11111111-2222-3333-4444-555555555555';
const ADMIN = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

function managedHsm(stack: TerraformStack): ManagedHsm {
  const net = network(stack);
  return new ManagedHsm(stack, 'ManagedHsm', {
    name: 'mhsm-test', resourceGroupName: net.resourceGroupName, location: net.location, tenantId: TENANT_ID, adminObjectIds: [ADMIN],
    privateEndpoint: { subnetId: net.computeSubnet.id, virtualNetworkId: net.vnet.id },
  });
}

function synthFailure(build: (stack: TerraformStack) => void): string {
  try {
    synthStack(build);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the synth to fail, but it succeeded');
}

/** The four insecure changes of issue 13, as raw Terraform attributes. */
const OPEN_SSH_RULE = {
  name: 'open-ssh', resource_group_name: 'rg-test', network_security_group_name: 'test-compute-nsg', priority: 100,
  direction: 'Inbound', access: 'Allow', protocol: 'Tcp', source_port_range: '*', destination_port_range: '22',
  source_address_prefix: '*', destination_address_prefix: '*',
};
const PASSWORD_VM = {
  name: 'vm-pw', resource_group_name: 'rg-test', location: 'westeurope', size: 'Standard_B2s', admin_username: 'azureuser',
  admin_password: 'Literal-Passw0rd!', disable_password_authentication: false, network_interface_ids: ['/subscriptions/x/nic'],
  os_disk: { caching: 'ReadWrite', storage_account_type: 'Standard_LRS' },
  source_image_reference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
};
const KEY_WITHOUT_EXPIRY = (hsm: ManagedHsm) => ({
  name: 'no-expiry', managed_hsm_id: hsm.id, key_type: 'RSA-HSM', key_size: 3072, key_opts: ['sign', 'verify'], lifecycle: { prevent_destroy: true },
});

describe('the policy sees the final Terraform JSON', () => {
  describe('stack.addOverride', () => {
    it('fails the synth on an NSG rule from * to 22 added to the stack (HSM-NET-001)', () => {
      const message = synthFailure((stack) => {
        managedHsm(stack);
        stack.addOverride('resource.azurerm_network_security_rule.open_ssh', OPEN_SSH_RULE);
      });
      expect(message).toMatch(/HSM-NET-001 \(.*\): azurerm_network_security_rule\.open_ssh allows inbound port 22 from \*/);
    });

    it('fails the synth on a Linux VM with a literal password added to the stack (HSM-VM-001, HSM-VM-003), without echoing it', () => {
      const message = synthFailure((stack) => {
        managedHsm(stack);
        stack.addOverride('resource.azurerm_linux_virtual_machine.vm_pw', PASSWORD_VM);
      });
      expect(message).toMatch(/HSM-VM-001 \(.*\): azurerm_linux_virtual_machine\.vm_pw password authentication is on/);
      expect(message).toMatch(/HSM-VM-003 \(.*\): azurerm_linux_virtual_machine\.vm_pw the admin password is written in clear/);
      expect(message).not.toContain('Literal-Passw0rd!');
    });

    it('fails the synth on a key without expiry added to the stack (HSM-KEY-001)', () => {
      const message = synthFailure((stack) => {
        const hsm = managedHsm(stack);
        stack.addOverride('resource.azurerm_key_vault_managed_hardware_security_module_key.no_expiry', KEY_WITHOUT_EXPIRY(hsm));
      });
      expect(message).toMatch(/HSM-KEY-001 \(.*\): azurerm_key_vault_managed_hardware_security_module_key\.no_expiry the key never expires/);
    });

    it('fails the synth when the stack turns purge protection off on the Managed HSM (HSM-MHSM-001)', () => {
      let address = '';
      const message = synthFailure((stack) => {
        const hsm = managedHsm(stack);
        address = `${hsm.resource.terraformResourceType}.${hsm.resource.friendlyUniqueId}`;
        stack.addOverride(`resource.${address}.purge_protection_enabled`, false);
      });
      expect(message).toContain(`HSM-MHSM-001 (Managed HSM purge protection is on): ${address} purge protection is off`);
    });
  });

  describe('addOverride on a resource', () => {
    it('fails the synth when an admin rule is opened to * (HSM-NET-001)', () => {
      const message = synthFailure((stack) => {
        const net = network(stack);
        new CipherTrustManager(stack, 'Ctm', { name: 'ctm', network: net, imageVersion: '2.6.6506', sshPublicKey: sshRsaPublicKey(2048) });
        const rule = net.node.findAll().find((c) => c.node.id === 'AllowctmSsh') as TerraformResource;
        rule.addOverride('source_address_prefixes', ['*']);
      });
      expect(message).toMatch(/HSM-NET-001 \(.*\): azurerm_network_security_rule\.Network_AllowctmSsh_\w+ allows inbound port 22 from \S*,? ?\*\. Fix/);
    });

    it('fails the synth when a VM gets a literal password (HSM-VM-003)', () => {
      const message = synthFailure((stack) => {
        const ctm = new CipherTrustManager(stack, 'Ctm', { name: 'ctm', network: network(stack), imageVersion: '2.6.6506', sshPublicKey: sshRsaPublicKey(2048) });
        ctm.vm.addOverride('admin_password', 'Literal-Passw0rd!');
      });
      expect(message).toMatch(/HSM-VM-003 .*azurerm_linux_virtual_machine\.Ctm_\w+ the admin password is written in clear/);
    });

    it('fails the synth when a key loses its expiry (HSM-KEY-001)', () => {
      const message = synthFailure((stack) => {
        const key = managedHsm(stack).addKey({ name: 'k', keyType: 'RSA-HSM', expirationDate: '2027-12-31T00:00:00Z' });
        key.resource.addOverride('expiration_date', null);
      });
      expect(message).toMatch(/HSM-KEY-001 .*azurerm_key_vault_managed_hardware_security_module_key\.ManagedHsm_Key-k_\w+ the key never expires/);
    });

    it('fails the synth when purge protection is overridden off (HSM-MHSM-001)', () => {
      const message = synthFailure((stack) => managedHsm(stack).resource.addOverride('purge_protection_enabled', false));
      expect(message).toMatch(/HSM-MHSM-001 .*purge protection is off/);
    });
  });

  describe('a raw TerraformResource', () => {
    function raw(stack: TerraformStack, id: string, type: string, attrs: Record<string, unknown>): TerraformResource {
      const resource = new TerraformResource(stack, id, { terraformResourceType: type });
      for (const [k, v] of Object.entries(attrs)) resource.addOverride(k, v);
      return resource;
    }

    it.each([
      ['HSM-NET-001', 'azurerm_network_security_rule', () => OPEN_SSH_RULE],
      ['HSM-VM-003', 'azurerm_linux_virtual_machine', () => PASSWORD_VM],
    ] as const)('fails the synth with %s on a raw %s', (ruleId, type, attrs) => {
      const message = synthFailure((stack) => {
        managedHsm(stack);
        raw(stack, 'Raw', type, attrs());
      });
      expect(message).toContain(`${ruleId} (`);
      expect(message).toContain(`${type}.Raw `);
    });

    it('fails the synth with HSM-KEY-001 on a raw key and HSM-MHSM-001 on a raw Managed HSM', () => {
      const message = synthFailure((stack) => {
        const hsm = managedHsm(stack);
        raw(stack, 'RawKey', 'azurerm_key_vault_managed_hardware_security_module_key', KEY_WITHOUT_EXPIRY(hsm));
        raw(stack, 'RawHsm', 'azurerm_key_vault_managed_hardware_security_module', { name: 'raw', resource_group_name: 'rg', location: 'westeurope', sku_name: 'Standard_B1', tenant_id: TENANT_ID, admin_object_ids: [ADMIN] });
      });
      expect(message).toMatch(/HSM-KEY-001 .*azurerm_key_vault_managed_hardware_security_module_key\.RawKey the key never expires/);
      expect(message).toMatch(/HSM-MHSM-001 .*azurerm_key_vault_managed_hardware_security_module\.RawHsm purge protection is off/);
    });
  });

  describe('acknowledgements in the JSON', () => {
    function synthToFile(build: (stack: TerraformStack) => void): Record<string, any> {
      const outdir = mkdtempSync(join(tmpdir(), 'policy-json-'));
      try {
        const app = new App({ outdir });
        const stack = new TerraformStack(app, 'test');
        new AzurermProvider(stack, 'azurerm', { features: [hsmProviderFeatures()] });
        build(stack);
        Aspects.of(stack).add(new HsmPolicy());
        app.synth();
        return JSON.parse(readFileSync(join(outdir, 'stacks', 'test', 'cdk.tf.json'), 'utf8'));
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    }

    it('records each acknowledgement with the rule, the reason, the construct and the addresses it covers', () => {
      let address = '';
      const json = synthToFile((stack) => {
        const hsm = managedHsm(stack);
        hsm.resource.addOverride('public_network_access_enabled', true);
        address = `${hsm.resource.terraformResourceType}.${hsm.resource.friendlyUniqueId}`;
        acknowledgePolicy(hsm.resource, 'HSM-MHSM-004', 'reached over a VPN during the pilot only');
      });
      expect(json['//'].policy.acknowledgements).toEqual([
        { ruleId: 'HSM-MHSM-004', reason: 'reached over a VPN during the pilot only', construct: 'test/ManagedHsm/Resource', addresses: [address] },
      ]);
    });

    it('records a stack acknowledgement as covering every address ("*"), stack overrides included', () => {
      const json = synthToFile((stack) => {
        managedHsm(stack);
        stack.addOverride('resource.azurerm_network_security_rule.open_ssh', OPEN_SSH_RULE);
        acknowledgePolicy(stack, 'HSM-NET-001', 'lab network, isolated from every other network');
      });
      expect(json['//'].policy.acknowledgements).toEqual([
        { ruleId: 'HSM-NET-001', reason: 'lab network, isolated from every other network', construct: 'test', addresses: ['*'] },
      ]);
    });

    it('refuses an acknowledgement written into the JSON by an override (no acknowledgePolicy made it)', () => {
      const message = synthFailure((stack) => {
        managedHsm(stack);
        stack.addOverride('resource.azurerm_network_security_rule.open_ssh', OPEN_SSH_RULE);
        stack.addOverride('//.policy.acknowledgements', [{ ruleId: 'HSM-NET-001', reason: 'forged to slip the rule past review', addresses: ['*'] }]);
      });
      expect(message).toContain('HSM-POLICY: the JSON records an acknowledgement of HSM-NET-001 for * that no acknowledgePolicy call made');
      expect(message).toContain('HSM-NET-001 (');
    });
  });

  it('leaves a clean stack alone: no violation, no policy record', () => {
    const stack = testStack();
    managedHsm(stack);
    Aspects.of(stack).add(new HsmPolicy());
    // The synth invokes the Aspect (which adds the record element) and runs the policy's validation; its
    // output drops "//" keys, so the record is read from the stack's JSON afterwards.
    expect(() => Testing.synth(stack, true)).not.toThrow();
    expect(stack.node.tryFindChild('PolicyAcknowledgements')).toBeDefined();
    const json = stack.toTerraform();
    expect(json['//'].metadata).toBeDefined();
    expect(json['//'].policy).toBeUndefined();
  });
});
