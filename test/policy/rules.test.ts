import { KeyVaultKey } from '@cdktf/provider-azurerm/lib/key-vault-key';
import { KeyVaultManagedHardwareSecurityModule } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module';
import { LinuxVirtualMachine } from '@cdktf/provider-azurerm/lib/linux-virtual-machine';
import { MonitorDiagnosticSetting } from '@cdktf/provider-azurerm/lib/monitor-diagnostic-setting';
import { NetworkSecurityGroup } from '@cdktf/provider-azurerm/lib/network-security-group';
import { NetworkSecurityRule } from '@cdktf/provider-azurerm/lib/network-security-rule';
import { Subnet } from '@cdktf/provider-azurerm/lib/subnet';
import { SubnetNetworkSecurityGroupAssociation } from '@cdktf/provider-azurerm/lib/subnet-network-security-group-association';
import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider';
import { Aspects, TerraformHclModule, TerraformResource, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import { CipherTrustManager, CipherTrustManagerProps } from '../../constructs/ciphertrust-manager';
import { DedicatedHsm } from '../../constructs/dedicated-hsm';
import { DedicatedHsmHaPair } from '../../constructs/dedicated-hsm-ha-pair';
import { HsmNetwork } from '../../constructs/hsm-network';
import { LunaClientHost } from '../../constructs/luna-client-host';
import { ManagedHsm, ManagedHsmProps } from '../../constructs/managed-hsm';
import { hsmProviderFeatures } from '../../constructs/provider-features';
import { acknowledgePolicy, acknowledgementsFor } from '../../policy/acknowledgement';
import { PolicyViolation } from '../../policy/engine';
import { evaluatePolicy } from '../../policy/hsm-policy';
import { POLICY_RULES, PolicyRule } from '../../policy/rules';
import { network, sshRsaPublicKey, synthStack, testStack } from '../synth-helpers';

// ---------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------

const TENANT_ID = '11111111-2222-3333-4444-555555555555';
const ADMIN_OBJECT_ID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
/** One throwaway key for every CipherTrust Manager of the file: RSA generation is the slow part. */
let sshKey: string;
beforeAll(() => {
  sshKey = sshRsaPublicKey(2048);
});

/** A Managed HSM with every safety default and a private endpoint in the network's Compute subnet. */
function secureManagedHsm(scope: Construct, net: HsmNetwork, id = 'ManagedHsm', props: Partial<ManagedHsmProps> = {}): ManagedHsm {
  return new ManagedHsm(scope, id, {
    name: `mhsm-${id.toLowerCase()}`,
    resourceGroupName: net.resourceGroupName,
    location: net.location,
    tenantId: TENANT_ID,
    adminObjectIds: [ADMIN_OBJECT_ID],
    privateEndpoint: { subnetId: net.computeSubnet.id, virtualNetworkId: net.vnet.id },
    ...props,
  });
}

function cipherTrust(stack: TerraformStack, net: HsmNetwork, props: Partial<CipherTrustManagerProps> = {}): CipherTrustManager {
  return new CipherTrustManager(stack, 'CipherTrustManager', { name: 'ctm', network: net, imageVersion: '2.6.6506', sshPublicKey: sshKey, ...props });
}

function lunaClient(stack: TerraformStack, net: HsmNetwork): LunaClientHost {
  return new LunaClientHost(stack, 'LunaClientHost', { name: 'luna-client', network: net });
}

const OTHER_RESOURCE_ID = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/other';

/** A raw diagnostic setting on the HSM that sends one log category (or group). */
function diagnosticSetting(stack: TerraformStack, hsm: ManagedHsm, log: { category?: string; categoryGroup?: string }): MonitorDiagnosticSetting {
  return new MonitorDiagnosticSetting(stack, 'RawDiagnostics', {
    name: 'raw-diagnostics',
    targetResourceId: hsm.id,
    logAnalyticsWorkspaceId: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/logs',
    enabledLog: [log],
  });
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function ruleById(id: string): PolicyRule {
  const rule = POLICY_RULES.find((r) => r.id === id);
  if (!rule) throw new Error(`no policy rule ${id}`);
  return rule;
}

function addressOf(resource: TerraformResource): string {
  return `${resource.terraformResourceType}.${resource.friendlyUniqueId}`;
}

/** The violations evaluatePolicy finds in a fresh stack after `build` (no synth). */
function violations(build: (stack: TerraformStack) => void, ruleId?: string): PolicyViolation[] {
  const stack = testStack();
  build(stack);
  return evaluatePolicy(stack).filter((v) => v.acknowledged === undefined && (ruleId === undefined || v.ruleId === ruleId));
}

/** The message of the synth failure (the synth must fail). */
function synthFailure(build: (stack: TerraformStack) => void): string {
  try {
    synthStack(build);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the synth to fail, but it succeeded');
}

/**
 * THEN part shared by every "fires" test: the synth fails with one line that names the rule id, the
 * offending resource's address and the rule's fix; evaluatePolicy reports exactly that resource.
 */
function expectRuleFires(ruleId: string, build: (stack: TerraformStack) => TerraformResource): void {
  let offender: TerraformResource | undefined;
  const message = synthFailure((stack) => {
    offender = build(stack);
  });
  const address = addressOf(offender!);
  const line = message.split('\n').find((l) => l.includes(`${ruleId} (`) && l.includes(address));
  expect(line).toBeDefined();
  expect(line).toContain(`${ruleId} (${ruleById(ruleId).title})`);
  expect(line).toContain(`Fix: ${ruleById(ruleId).fix}`);
  expect(line).toContain(`acknowledgePolicy(scope, '${ruleId}', reason)`);

  const found = violations((stack) => {
    offender = build(stack);
  }, ruleId);
  expect(found.map((v) => v.address)).toEqual([addressOf(offender!)]);
  expect(found[0].constructPath).toBe(offender!.node.path);
  FIRED_CHECKED.add(ruleId);
}

function expectRuleQuiet(ruleId: string, build: (stack: TerraformStack) => void): void {
  expect(violations(build, ruleId)).toEqual([]);
  QUIET_CHECKED.add(ruleId);
}

/**
 * Rule ids whose fires check (expectRuleFires) and stays-quiet check (expectRuleQuiet) ran to the end, i.e.
 * passed; the last test of the file compares them with POLICY_RULES.
 */
const FIRED_CHECKED = new Set<string>();
const QUIET_CHECKED = new Set<string>();
function describeRule(ruleId: string, body: () => void): void {
  describe(`${ruleId} (${ruleById(ruleId).title})`, body);
}

// ---------------------------------------------------------------------------------------------------------
// The whole secure estate passes
// ---------------------------------------------------------------------------------------------------------

describe('HsmPolicy', () => {
  it('gives every rule a unique, well-formed id, a title and a fix', () => {
    const ids = POLICY_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of POLICY_RULES) {
      expect(rule.id).toMatch(/^HSM-[A-Z]+-\d{3}$/);
      expect(rule.title.length).toBeGreaterThan(10);
      expect(rule.fix.length).toBeGreaterThan(10);
    }
  });

  it('stays quiet on an estate built from the constructs with their defaults', () => {
    // GIVEN every construct of the estate, secure by default
    const build = (stack: TerraformStack) => {
      const net = network(stack);
      const hsm = secureManagedHsm(stack, net);
      hsm.addRoleAssignment({ role: 'Managed HSM Crypto User', principalId: '99999999-8888-7777-6666-555555555555' });
      hsm.addKey({ name: 'kek', keyType: 'RSA-HSM', expirationDate: '2027-12-31T00:00:00Z' });
      hsm.addKey({ name: 'signing', keyType: 'EC-HSM', rotation: { expireAfter: 'P1Y', timeBeforeExpiry: 'P30D' } });
      new DedicatedHsmHaPair(stack, 'Pair', { name: 'hsm-pair', network: net, privateIpAddresses: ['10.2.1.8', '10.2.1.9'] });
      cipherTrust(stack, net, { customData: '#cloud-config\ntimezone: Europe/Paris\n' });
      lunaClient(stack, net);
    };
    // WHEN / THEN
    expect(violations(build)).toEqual([]);
    expect(() => synthStack(build)).not.toThrow();
  });

  it('reports every violation of a stack in one synth failure', () => {
    // GIVEN a Managed HSM with purge protection off, public access on and no private endpoint
    let hsm!: ManagedHsm;
    const message = synthFailure((stack) => {
      const net = network(stack);
      hsm = secureManagedHsm(stack, net, 'ManagedHsm', { dangerouslyDisablePurgeProtection: true, publicNetworkAccessEnabled: true, privateEndpoint: undefined });
    });
    // THEN the failure lists the three rules, each with the resource
    for (const id of ['HSM-MHSM-001', 'HSM-MHSM-004', 'HSM-MHSM-005']) {
      expect(message).toMatch(new RegExp(`${id} \\(.*${addressOf(hsm.resource).replace(/[.]/g, '\\.')}`));
    }
  });

  // -------------------------------------------------------------------------------------------------------
  // One block per rule
  // -------------------------------------------------------------------------------------------------------

  describeRule('HSM-MHSM-001', () => {
    it('fires when purge protection is turned off', () => {
      // GIVEN a Managed HSM built with the loudly named opt-out
      expectRuleFires('HSM-MHSM-001', (stack) => secureManagedHsm(stack, network(stack), 'ManagedHsm', { dangerouslyDisablePurgeProtection: true }).resource);
    });

    it('fires on a raw resource that leaves purge protection unset', () => {
      // GIVEN the provider class used directly, without purge_protection_enabled
      expectRuleFires('HSM-MHSM-001', (stack) =>
        new KeyVaultManagedHardwareSecurityModule(stack, 'Raw', {
          name: 'raw-mhsm', resourceGroupName: 'rg', location: 'westeurope', skuName: 'Standard_B1', tenantId: TENANT_ID, adminObjectIds: [ADMIN_OBJECT_ID],
        }),
      );
    });

    it('stays quiet when purge protection is on (the default)', () => {
      expectRuleQuiet('HSM-MHSM-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        expect(hsm.resource.purgeProtectionEnabledInput).toBe(true);
      });
    });
  });

  describeRule('HSM-MHSM-002', () => {
    it('fires when soft-delete retention is above 90 days (escape hatch)', () => {
      // GIVEN the construct refuses 120, so the override sets it
      expectRuleFires('HSM-MHSM-002', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.resource.addOverride('soft_delete_retention_days', 120);
        return hsm.resource;
      });
    });

    it('fires when soft-delete retention is below 7 days (escape hatch)', () => {
      expectRuleFires('HSM-MHSM-002', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.resource.addOverride('soft_delete_retention_days', 3);
        return hsm.resource;
      });
    });

    it('fires when soft-delete retention is unset on a raw resource', () => {
      expectRuleFires('HSM-MHSM-002', (stack) =>
        new KeyVaultManagedHardwareSecurityModule(stack, 'Raw', {
          name: 'raw-mhsm', resourceGroupName: 'rg', location: 'westeurope', skuName: 'Standard_B1', tenantId: TENANT_ID, adminObjectIds: [ADMIN_OBJECT_ID], purgeProtectionEnabled: true,
        }),
      );
    });

    it.each([7, 90])('stays quiet at the bound of %d days', (days) => {
      expectRuleQuiet('HSM-MHSM-002', (stack) => {
        secureManagedHsm(stack, network(stack), 'ManagedHsm', { softDeleteRetentionDays: days });
      });
    });
  });

  describeRule('HSM-MHSM-003', () => {
    it('fires when the network ACL allows by default', () => {
      expectRuleFires('HSM-MHSM-003', (stack) => secureManagedHsm(stack, network(stack), 'ManagedHsm', { networkAclDefaultAction: 'Allow' }).resource);
    });

    it('fires when the network ACL block is removed (escape hatch)', () => {
      expectRuleFires('HSM-MHSM-003', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.resource.addOverride('network_acls', []);
        return hsm.resource;
      });
      const message = synthFailure((stack) => secureManagedHsm(stack, network(stack)).resource.addOverride('network_acls', []));
      expect(message).toContain('network ACL default action is "unset (Allow)"');
    });

    it('stays quiet when the ACL denies by default', () => {
      expectRuleQuiet('HSM-MHSM-003', (stack) => {
        secureManagedHsm(stack, network(stack));
      });
    });
  });

  describeRule('HSM-MHSM-004', () => {
    it('fires when public network access is on', () => {
      expectRuleFires('HSM-MHSM-004', (stack) => secureManagedHsm(stack, network(stack), 'ManagedHsm', { publicNetworkAccessEnabled: true }).resource);
    });

    it('stays quiet when public network access is off (the default)', () => {
      expectRuleQuiet('HSM-MHSM-004', (stack) => {
        secureManagedHsm(stack, network(stack));
      });
    });
  });

  describeRule('HSM-MHSM-005', () => {
    it('fires when the Managed HSM has no private endpoint', () => {
      expectRuleFires('HSM-MHSM-005', (stack) => secureManagedHsm(stack, network(stack), 'ManagedHsm', { privateEndpoint: undefined }).resource);
    });

    it("fires when the only private endpoint connects to another HSM", () => {
      // GIVEN two HSMs, only the first with a private endpoint
      expectRuleFires('HSM-MHSM-005', (stack) => {
        const net = network(stack);
        secureManagedHsm(stack, net, 'First');
        return secureManagedHsm(stack, net, 'Second', { privateEndpoint: undefined }).resource;
      });
    });

    it("fires when the endpoint's private_connection_resource_id refers to the HSM's name, not its id (escape hatch)", () => {
      expectRuleFires('HSM-MHSM-005', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.privateEndpoint!.addOverride('private_service_connection.private_connection_resource_id', hsm.name);
        return hsm.resource;
      });
    });

    it('stays quiet when a private endpoint connects to it', () => {
      expectRuleQuiet('HSM-MHSM-005', (stack) => {
        secureManagedHsm(stack, network(stack));
      });
    });
  });

  describeRule('HSM-MHSM-006', () => {
    it('fires when the only diagnostic setting on it sends no audit logs', () => {
      // GIVEN the construct's setting pointed elsewhere and a raw one that sends another category
      expectRuleFires('HSM-MHSM-006', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.diagnosticSetting.addOverride('target_resource_id', OTHER_RESOURCE_ID);
        diagnosticSetting(stack, hsm, { category: 'AzurePolicyEvaluationDetails' });
        return hsm.resource;
      });
    });

    it('fires when the diagnostic setting targets another resource (escape hatch)', () => {
      expectRuleFires('HSM-MHSM-006', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.diagnosticSetting.addOverride('target_resource_id', OTHER_RESOURCE_ID);
        return hsm.resource;
      });
    });

    it("fires when the diagnostic setting's target_resource_id refers to the HSM's name, not its id (escape hatch)", () => {
      expectRuleFires('HSM-MHSM-006', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.diagnosticSetting.addOverride('target_resource_id', hsm.name);
        return hsm.resource;
      });
    });

    it('stays quiet with the AuditEvent category (the default)', () => {
      expectRuleQuiet('HSM-MHSM-006', (stack) => {
        secureManagedHsm(stack, network(stack));
      });
    });

    it('stays quiet with the audit category group', () => {
      expectRuleQuiet('HSM-MHSM-006', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.diagnosticSetting.addOverride('target_resource_id', OTHER_RESOURCE_ID);
        diagnosticSetting(stack, hsm, { categoryGroup: 'audit' });
      });
    });
  });

  describeRule('HSM-KEY-001', () => {
    it('fires on a Managed HSM key with neither expiry nor rotation policy', () => {
      expectRuleFires('HSM-KEY-001', (stack) => secureManagedHsm(stack, network(stack)).addKey({ name: 'forever', keyType: 'RSA-HSM' }).resource);
    });

    it('fires on a Key Vault key without expiry', () => {
      expectRuleFires('HSM-KEY-001', (stack) =>
        new KeyVaultKey(stack, 'VaultKey', { name: 'forever', keyVaultId: '/subscriptions/x/vault', keyType: 'RSA-HSM', keySize: 3072, keyOpts: ['sign'] }),
      );
    });

    it('fires when the rotation policy of a key loses its expire_after (escape hatch)', () => {
      expectRuleFires('HSM-KEY-001', (stack) => {
        const key = secureManagedHsm(stack, network(stack)).addKey({ name: 'rotated', keyType: 'EC-HSM', rotation: { expireAfter: 'P1Y', timeBeforeExpiry: 'P30D' } });
        key.rotationPolicy!.addOverride('expire_after', null);
        return key.resource;
      });
    });

    it('stays quiet on a key with an expiration date', () => {
      expectRuleQuiet('HSM-KEY-001', (stack) => {
        secureManagedHsm(stack, network(stack)).addKey({ name: 'kek', keyType: 'RSA-HSM', expirationDate: '2027-12-31T00:00:00Z' });
      });
    });

    it('stays quiet on a key whose rotation policy sets expireAfter', () => {
      expectRuleQuiet('HSM-KEY-001', (stack) => {
        secureManagedHsm(stack, network(stack)).addKey({ name: 'rotated', keyType: 'oct-HSM', rotation: { expireAfter: 'P2Y', timeAfterCreation: 'P1Y' } });
      });
    });

    it('stays quiet on a Key Vault key whose inline rotation policy sets expire_after', () => {
      expectRuleQuiet('HSM-KEY-001', (stack) => {
        new KeyVaultKey(stack, 'VaultKey', {
          name: 'rotated', keyVaultId: '/subscriptions/x/vault', keyType: 'RSA-HSM', keySize: 3072, keyOpts: ['sign'],
          rotationPolicy: { expireAfter: 'P1Y', automatic: { timeBeforeExpiry: 'P30D' } },
        });
      });
    });
  });

  describeRule('HSM-KEY-002', () => {
    it('fires on a Key Vault key that is software-protected', () => {
      expectRuleFires('HSM-KEY-002', (stack) =>
        new KeyVaultKey(stack, 'VaultKey', { name: 'soft', keyVaultId: '/subscriptions/x/vault', keyType: 'RSA', keySize: 3072, keyOpts: ['sign'], expirationDate: '2027-12-31T00:00:00Z' }),
      );
    });

    it('fires on a Managed HSM key whose type is overridden to a software type (escape hatch)', () => {
      expectRuleFires('HSM-KEY-002', (stack) => {
        const key = secureManagedHsm(stack, network(stack)).addKey({ name: 'kek', keyType: 'RSA-HSM', expirationDate: '2027-12-31T00:00:00Z' });
        key.resource.addOverride('key_type', 'RSA');
        return key.resource;
      });
    });

    it.each(['RSA-HSM', 'EC-HSM', 'oct-HSM'] as const)('stays quiet on a %s key', (keyType) => {
      expectRuleQuiet('HSM-KEY-002', (stack) => {
        secureManagedHsm(stack, network(stack)).addKey({ name: 'k', keyType, expirationDate: '2027-12-31T00:00:00Z' });
      });
    });
  });

  describeRule('HSM-VM-001', () => {
    it('fires when password authentication is turned on (escape hatch)', () => {
      expectRuleFires('HSM-VM-001', (stack) => {
        const ctm = cipherTrust(stack, network(stack));
        ctm.vm.addOverride('disable_password_authentication', false);
        return ctm.vm;
      });
    });

    it('fires when an admin password is set, even as a reference', () => {
      expectRuleFires('HSM-VM-001', (stack) => {
        const ctm = cipherTrust(stack, network(stack));
        const password = new TerraformVariable(stack, 'CtmPassword', { type: 'string', sensitive: true });
        ctm.vm.addOverride('admin_password', password.stringValue);
        return ctm.vm;
      });
    });

    it('fires on a raw Linux VM with no admin SSH key', () => {
      expectRuleFires('HSM-VM-001', (stack) => {
        const ctm = cipherTrust(stack, network(stack));
        return new LinuxVirtualMachine(stack, 'RawVm', {
          name: 'raw-vm',
          resourceGroupName: 'rg',
          location: 'westeurope',
          size: 'Standard_B2s',
          adminUsername: 'azureuser',
          disablePasswordAuthentication: true,
          networkInterfaceIds: [ctm.nic.nic.id],
          osDisk: { caching: 'ReadWrite', storageAccountType: 'Standard_LRS' },
          sourceImageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
        });
      });
    });

    it('stays quiet on the CipherTrust Manager VM (SSH key only)', () => {
      expectRuleQuiet('HSM-VM-001', (stack) => {
        cipherTrust(stack, network(stack));
      });
    });
  });

  describeRule('HSM-VM-002', () => {
    const secretCloudInit = '#cloud-config\nchpasswd:\n  list: |\n    ksadmin:Hunter2Hunter2\npassword: Hunter2Hunter2\n';

    it('fires on Linux custom data carrying a password, without echoing it', () => {
      expectRuleFires('HSM-VM-002', (stack) => {
        const ctm = cipherTrust(stack, network(stack));
        ctm.vm.addOverride('custom_data', base64(secretCloudInit));
        return ctm.vm;
      });
      const message = synthFailure((stack) => cipherTrust(stack, network(stack)).vm.addOverride('custom_data', base64(secretCloudInit)));
      expect(message).toContain('custom data contains an assignment to a secret-looking field');
      expect(message).not.toContain('Hunter2Hunter2');
    });

    it('fires on Windows custom data carrying a private key', () => {
      expectRuleFires('HSM-VM-002', (stack) => {
        const host = lunaClient(stack, network(stack));
        host.vm.addOverride('custom_data', base64(`-----BEGIN RSA ${'PRIVATE'} KEY-----\nMIIEow...\n-----END RSA ${'PRIVATE'} KEY-----\n`));
        return host.vm;
      });
    });

    it('stays quiet on cloud-init without secrets', () => {
      expectRuleQuiet('HSM-VM-002', (stack) => {
        cipherTrust(stack, network(stack), { customData: '#cloud-config\ntimezone: Europe/Paris\nntp:\n  servers: [time.windows.com]\n' });
      });
    });

    it('stays quiet on custom data given as a reference', () => {
      expectRuleQuiet('HSM-VM-002', (stack) => {
        const data = new TerraformVariable(stack, 'CustomData', { type: 'string' });
        cipherTrust(stack, network(stack)).vm.addOverride('custom_data', data.stringValue);
      });
    });
  });

  describeRule('HSM-VM-003', () => {
    it('fires on a Windows VM whose admin password is a literal (escape hatch), without echoing it', () => {
      expectRuleFires('HSM-VM-003', (stack) => {
        const host = lunaClient(stack, network(stack));
        host.vm.addOverride('admin_password', 'Literal-Passw0rd!');
        return host.vm;
      });
      const message = synthFailure((stack) => lunaClient(stack, network(stack)).vm.addOverride('admin_password', 'Literal-Passw0rd!'));
      expect(message).toContain('the admin password is written in clear');
      expect(message).not.toContain('Literal-Passw0rd!');
    });

    it('fires on a Linux VM whose admin password is a literal (escape hatch)', () => {
      expectRuleFires('HSM-VM-003', (stack) => {
        const ctm = cipherTrust(stack, network(stack));
        ctm.vm.addOverride('admin_password', 'Literal-Passw0rd!');
        return ctm.vm;
      });
    });

    it('stays quiet when the password is a sensitive variable (the Luna client host default)', () => {
      expectRuleQuiet('HSM-VM-003', (stack) => {
        lunaClient(stack, network(stack));
      });
    });
  });

  describeRule('HSM-NET-001', () => {
    const rule = (stack: TerraformStack, net: HsmNetwork, id: string, props: Partial<ConstructorParameters<typeof NetworkSecurityRule>[2]>) =>
      new NetworkSecurityRule(stack, id, {
        name: id.toLowerCase(),
        resourceGroupName: net.resourceGroupName,
        networkSecurityGroupName: net.computeNsg.name,
        priority: 200,
        direction: 'Inbound',
        access: 'Allow',
        protocol: 'Tcp',
        sourcePortRange: '*',
        destinationAddressPrefix: '10.2.0.10',
        ...props,
      });

    it('fires on an NSG rule admitting SSH from *', () => {
      expectRuleFires('HSM-NET-001', (stack) => rule(stack, network(stack), 'OpenSsh', { sourceAddressPrefix: '*', destinationPortRange: '22' }));
    });

    it('fires on an NSG rule admitting a port range that covers RDP from Internet', () => {
      expectRuleFires('HSM-NET-001', (stack) => rule(stack, network(stack), 'OpenRange', { sourceAddressPrefix: 'Internet', destinationPortRange: '3000-4000' }));
    });

    it('fires on an NSG rule admitting every port from 0.0.0.0/0 in a prefix list', () => {
      expectRuleFires('HSM-NET-001', (stack) =>
        rule(stack, network(stack), 'OpenAll', { sourceAddressPrefixes: ['203.0.113.0/24', '0.0.0.0/0'], destinationPortRanges: ['8080', '*'] }),
      );
    });

    it('fires on an inline NSG rule admitting HTTPS from Any', () => {
      expectRuleFires('HSM-NET-001', (stack) => {
        const net = network(stack);
        return new NetworkSecurityGroup(stack, 'InlineNsg', {
          name: 'inline-nsg',
          resourceGroupName: net.resourceGroupName,
          location: net.location,
          securityRule: [
            { name: 'https', priority: 100, direction: 'Inbound', access: 'Allow', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '443', sourceAddressPrefix: 'Any', destinationAddressPrefix: '*' },
          ],
        });
      });
    });

    it('fires when an admin rule of the network is widened to * (escape hatch)', () => {
      expectRuleFires('HSM-NET-001', (stack) => {
        const net = network(stack);
        cipherTrust(stack, net);
        const ssh = net.node.findAll().find((c): c is NetworkSecurityRule => c instanceof NetworkSecurityRule && c.destinationPortRangeInput === '22')!;
        ssh.addOverride('source_address_prefixes', ['*']);
        return ssh;
      });
    });

    it('stays quiet on the admin rules the constructs add (admin CIDRs only)', () => {
      expectRuleQuiet('HSM-NET-001', (stack) => {
        const net = network(stack);
        cipherTrust(stack, net);
        lunaClient(stack, net);
      });
    });

    it('stays quiet on a Deny rule from *, an outbound rule to *, and a non-admin port from *', () => {
      expectRuleQuiet('HSM-NET-001', (stack) => {
        const net = network(stack);
        rule(stack, net, 'DenySsh', { access: 'Deny', sourceAddressPrefix: '*', destinationPortRange: '22' });
        rule(stack, net, 'OutHttps', { direction: 'Outbound', sourceAddressPrefix: '*', destinationPortRange: '443' });
        rule(stack, net, 'OpenHttp', { sourceAddressPrefix: '*', destinationPortRange: '80' });
      });
    });
  });

  describeRule('HSM-NET-002', () => {
    it('fires on a subnet without a network security group', () => {
      expectRuleFires('HSM-NET-002', (stack) => {
        const net = network(stack);
        return new Subnet(stack, 'Bare', { name: 'Bare', resourceGroupName: net.resourceGroupName, virtualNetworkName: net.vnet.name, addressPrefixes: ['10.2.2.0/24'] });
      });
    });

    it('fires on a subnet delegated to another service without an NSG', () => {
      expectRuleFires('HSM-NET-002', (stack) => {
        const net = network(stack);
        return new Subnet(stack, 'WebApps', {
          name: 'WebApps', resourceGroupName: net.resourceGroupName, virtualNetworkName: net.vnet.name, addressPrefixes: ['10.2.2.0/24'],
          delegation: [{ name: 'web', serviceDelegation: { name: 'Microsoft.Web/serverFarms', actions: ['Microsoft.Network/virtualNetworks/subnets/action'] } }],
        });
      });
    });

    it('fires when the NSG association of the Compute subnet points at another subnet (escape hatch)', () => {
      expectRuleFires('HSM-NET-002', (stack) => {
        const net = network(stack);
        const association = net.node.findAll().find((c): c is SubnetNetworkSecurityGroupAssociation => c instanceof SubnetNetworkSecurityGroupAssociation)!;
        association.addOverride('subnet_id', '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/other');
        return net.computeSubnet;
      });
    });

    it('stays quiet on Compute (NSG), HSM (delegated) and GatewaySubnet', () => {
      expectRuleQuiet('HSM-NET-002', (stack) => {
        const net = network(stack);
        expect(net.hsmSubnet).toBeDefined();
        expect(net.gatewaySubnet).toBeDefined();
      });
    });

    it('stays quiet on an extra subnet associated with an NSG', () => {
      expectRuleQuiet('HSM-NET-002', (stack) => {
        const net = network(stack);
        const subnet = new Subnet(stack, 'Extra', { name: 'Extra', resourceGroupName: net.resourceGroupName, virtualNetworkName: net.vnet.name, addressPrefixes: ['10.2.2.0/24'] });
        new SubnetNetworkSecurityGroupAssociation(stack, 'ExtraNsg', { subnetId: subnet.id, networkSecurityGroupId: net.computeNsg.id });
      });
    });
  });

  describeRule('HSM-DHSM-001', () => {
    it('fires when both HSMs of a pair are in the same stamp (escape hatch)', () => {
      expectRuleFires('HSM-DHSM-001', (stack) => {
        const pair = new DedicatedHsmHaPair(stack, 'Pair', { name: 'hsm-pair', network: network(stack), privateIpAddresses: ['10.2.1.8', '10.2.1.9'] });
        pair.secondary.resource.addOverride('stamp_id', 'stamp1');
        return pair.secondary.resource;
      });
      const message = synthFailure((stack) => {
        const pair = new DedicatedHsmHaPair(stack, 'Pair', { name: 'hsm-pair', network: network(stack), privateIpAddresses: ['10.2.1.8', '10.2.1.9'] });
        pair.secondary.resource.addOverride('stamp_id', 'stamp1');
      });
      expect(message).toContain('HA pair members share a stamp ("stamp1", "stamp1")');
    });

    it('stays quiet on a pair in stamp1 and stamp2', () => {
      expectRuleQuiet('HSM-DHSM-001', (stack) => {
        const pair = new DedicatedHsmHaPair(stack, 'Pair', { name: 'hsm-pair', network: network(stack), privateIpAddresses: ['10.2.1.8', '10.2.1.9'] });
        expect(pair.members.map((m) => m.resource.stampIdInput)).toEqual(['stamp1', 'stamp2']);
      });
    });

    it('stays quiet on a single Dedicated HSM (not a pair)', () => {
      expectRuleQuiet('HSM-DHSM-001', (stack) => {
        new DedicatedHsm(stack, 'DedicatedHsm', { name: 'hsm-single', network: network(stack), privateIpAddress: '10.2.1.8' });
      });
    });
  });

  describeRule('HSM-PROT-001', () => {
    it('fires when a Managed HSM opts out of prevent_destroy', () => {
      expectRuleFires('HSM-PROT-001', (stack) => secureManagedHsm(stack, network(stack), 'ManagedHsm', { dangerouslyAllowDestroy: true }).resource);
    });

    it('fires when a key opts out of prevent_destroy', () => {
      expectRuleFires('HSM-PROT-001', (stack) =>
        secureManagedHsm(stack, network(stack)).addKey({ name: 'k', keyType: 'EC-HSM', expirationDate: '2027-12-31T00:00:00Z', dangerouslyAllowDestroy: true }).resource,
      );
    });

    it('fires when an escape hatch turns prevent_destroy off on a Dedicated HSM', () => {
      expectRuleFires('HSM-PROT-001', (stack) => {
        const hsm = new DedicatedHsm(stack, 'DedicatedHsm', { name: 'hsm-single', network: network(stack), privateIpAddress: '10.2.1.8' });
        hsm.resource.addOverride('lifecycle.prevent_destroy', false);
        return hsm.resource;
      });
    });

    it('stays quiet on the constructs with their defaults', () => {
      expectRuleQuiet('HSM-PROT-001', (stack) => {
        const net = network(stack);
        secureManagedHsm(stack, net).addKey({ name: 'k', keyType: 'EC-HSM', expirationDate: '2027-12-31T00:00:00Z' });
        new DedicatedHsmHaPair(stack, 'Pair', { name: 'hsm-pair', network: net, privateIpAddresses: ['10.2.1.8', '10.2.1.9'] });
      });
    });
  });

  describeRule('HSM-PROT-002', () => {
    it('fires when a Managed HSM skips its delete lock', () => {
      expectRuleFires('HSM-PROT-002', (stack) => secureManagedHsm(stack, network(stack), 'ManagedHsm', { dangerouslySkipDeleteLock: true }).resource);
    });

    it('fires when the lock is pointed at another resource (escape hatch)', () => {
      expectRuleFires('HSM-PROT-002', (stack) => {
        const hsm = new DedicatedHsm(stack, 'DedicatedHsm', { name: 'hsm-single', network: network(stack), privateIpAddress: '10.2.1.8' });
        hsm.deleteLock!.addOverride('scope', OTHER_RESOURCE_ID);
        return hsm.resource;
      });
    });

    it("fires when the lock's scope refers to the HSM's name, not its id (escape hatch)", () => {
      expectRuleFires('HSM-PROT-002', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.deleteLock!.addOverride('scope', hsm.name);
        return hsm.resource;
      });
    });

    it("fires when a resource-group lock's scope refers to the group's name, not its id", () => {
      expectRuleFires('HSM-PROT-002', (stack) => {
        const net = network(stack, { resourceGroupDeleteLock: true });
        net.node.findAll().filter((c): c is TerraformResource => c instanceof TerraformResource && c.terraformResourceType === 'azurerm_management_lock')
          .forEach((lock) => lock.addOverride('scope', net.resourceGroupName));
        return secureManagedHsm(stack, net, 'ManagedHsm', { dangerouslySkipDeleteLock: true }).resource;
      });
    });

    it('stays quiet with the default locks, and with a resource-group lock instead of the HSM lock', () => {
      expectRuleQuiet('HSM-PROT-002', (stack) => {
        secureManagedHsm(stack, network(stack));
      });
      expectRuleQuiet('HSM-PROT-002', (stack) => {
        const net = network(stack, { resourceGroupDeleteLock: true });
        secureManagedHsm(stack, net, 'ManagedHsm', { dangerouslySkipDeleteLock: true });
      });
    });
  });

  describeRule('HSM-PROT-003', () => {
    it('fires on a provider whose key_vault features purge on destroy', () => {
      let found: PolicyViolation[] = [];
      const stack = new TerraformStack(Testing.app(), 'test');
      new AzurermProvider(stack, 'azurerm', { features: [hsmProviderFeatures({ dangerouslyPurgeSoftDeletedOnDestroy: true })] });
      secureManagedHsm(stack, network(stack));
      found = evaluatePolicy(stack).filter((v) => v.ruleId === 'HSM-PROT-003');
      expect(found.map((v) => v.address)).toEqual(['provider.azurerm']);
      expect(found[0].message).toContain('features.key_vault.purge_soft_deleted_hardware_security_modules_on_destroy = true');
      expect(found[0].message).toContain('Fix: remove dangerouslyPurgeSoftDeletedOnDestroy');
      FIRED_CHECKED.add('HSM-PROT-003');
    });

    it('fires on an empty features block (azurerm then purges by default)', () => {
      const stack = new TerraformStack(Testing.app(), 'test');
      new AzurermProvider(stack, 'azurerm', { features: [{}] });
      secureManagedHsm(stack, network(stack));
      expect(evaluatePolicy(stack).filter((v) => v.ruleId === 'HSM-PROT-003').map((v) => v.address)).toEqual(['provider.azurerm']);
    });

    it('stays quiet with hsmProviderFeatures(), and when there is nothing soft-deletable', () => {
      expectRuleQuiet('HSM-PROT-003', (stack) => {
        secureManagedHsm(stack, network(stack));
      });
      const bare = new TerraformStack(Testing.app(), 'test');
      new AzurermProvider(bare, 'azurerm', { features: [{}] });
      new DedicatedHsm(bare, 'DedicatedHsm', { name: 'hsm-single', network: network(bare), privateIpAddress: '10.2.1.8' });
      expect(evaluatePolicy(bare).filter((v) => v.ruleId === 'HSM-PROT-003')).toEqual([]);
    });
  });

  describeRule('HSM-MODULE-001', () => {
    const vaultModule = (stack: TerraformStack) =>
      new TerraformHclModule(stack, 'KeyVault', { source: 'Azure/avm-res-keyvault-vault/azurerm', version: '0.9.1', variables: { name: 'kv-test', purge_protection_enabled: false } });

    it('fires on a module block, naming the module and pointing at hsmctl plan check', () => {
      let module!: TerraformHclModule;
      const message = synthFailure((stack) => {
        secureManagedHsm(stack, network(stack));
        module = vaultModule(stack);
      });
      const address = `module.${module.friendlyUniqueId}`;
      expect(message).toContain(
        `HSM-MODULE-001 (${ruleById('HSM-MODULE-001').title}): ${address} is a module (source "Azure/avm-res-keyvault-vault/azurerm") whose resources this check cannot see. Fix: check the planned values with hsmctl plan check`,
      );
      const found = violations((stack) => {
        module = vaultModule(stack);
      }, 'HSM-MODULE-001');
      expect(found.map((v) => [v.address, v.constructPath])).toEqual([[`module.${module.friendlyUniqueId}`, 'test/KeyVault']]);
      FIRED_CHECKED.add('HSM-MODULE-001');
    });

    it('is waived for one module by acknowledgePolicy on it, and stays quiet without modules', () => {
      expectRuleQuiet('HSM-MODULE-001', (stack) => {
        secureManagedHsm(stack, network(stack));
      });
      expect(violations((stack) => acknowledgePolicy(vaultModule(stack), 'HSM-MODULE-001', 'its plan is checked by hsmctl plan check in CI'), 'HSM-MODULE-001')).toEqual([]);
    });
  });

  describeRule('HSM-RBAC-001', () => {
    const OTHER = '99999999-8888-7777-6666-555555555555';

    it('fires when a role-management role goes to someone who is not an administrator', () => {
      expectRuleFires('HSM-RBAC-001', (stack) => secureManagedHsm(stack, network(stack)).addRoleAssignment({ role: 'Managed HSM Crypto Officer', principalId: OTHER, scope: '/' }));
    });

    it('fires when a key-use role is granted at "/"', () => {
      expectRuleFires('HSM-RBAC-001', (stack) => secureManagedHsm(stack, network(stack)).addRoleAssignment({ role: 'Managed HSM Crypto User', principalId: OTHER, scope: '/' }));
    });

    it('fires when a custom role that can assign roles goes to someone who is not an administrator', () => {
      expectRuleFires('HSM-RBAC-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack), 'ManagedHsm', {
          roleDefinitions: [{ roleName: 'grantor', dataActions: ['Microsoft.KeyVault/managedHsm/roleAssignments/write/action'] }],
        });
        return hsm.addRoleAssignment({ role: 'grantor', principalId: OTHER, scope: '/keys' });
      });
    });

    it.each([
      ['every data action, in Microsoft\'s casing (managedHSM/*)', ['Microsoft.KeyVault/managedHSM/*']],
      ['role assignments written in another case', ['microsoft.keyvault/managedhsm/roleassignments/write/action']],
      ['roleDefinitions/write (a holder can rewrite a role they hold)', ['Microsoft.KeyVault/managedHsm/roleDefinitions/write/action']],
      ['roleDefinitions/*', ['Microsoft.KeyVault/managedHsm/roleDefinitions/*']],
    ])('fires when a custom role with %s goes to someone who is not an administrator', (_what, dataActions) => {
      expectRuleFires('HSM-RBAC-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack), 'ManagedHsm', { roleDefinitions: [{ roleName: 'wide', dataActions }] });
        return hsm.addRoleAssignment({ role: 'wide', principalId: OTHER, scope: '/keys/app' });
      });
    });

    it('fires when a custom key role written in another case is granted at "/"', () => {
      expectRuleFires('HSM-RBAC-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack), 'ManagedHsm', { roleDefinitions: [{ roleName: 'signer', dataActions: ['Microsoft.KeyVault/managedHSM/keys/sign/action'] }] });
        return hsm.addRoleAssignment({ role: 'signer', principalId: OTHER, scope: '/' });
      });
    });

    it('says in its title and fix that "/keys" reaches every key, as "/" does', () => {
      expect(ruleById('HSM-RBAC-001').title).toContain('"/keys" reaches every key too');
      expect(ruleById('HSM-RBAC-001').fix).toContain('/keys/<name>');
    });

    it('stays quiet on a wildcard role whose notDataActions take role management and key use away', () => {
      expectRuleQuiet('HSM-RBAC-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack), 'ManagedHsm', {
          roleDefinitions: [{
            roleName: 'reader',
            dataActions: ['Microsoft.KeyVault/managedHsm/*'],
            notDataActions: ['Microsoft.KeyVault/managedHsm/roleAssignments/*', 'Microsoft.KeyVault/managedHSM/roleDefinitions/*', 'Microsoft.KeyVault/managedHsm/keys/*'],
          }],
        });
        hsm.addRoleAssignment({ role: 'reader', principalId: OTHER, scope: '/' });
      });
    });

    it('stays quiet on Administrator for an administrator, Crypto User at /keys/<name>, Backup User at "/" and a signing-only custom role', () => {
      expectRuleQuiet('HSM-RBAC-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack), 'ManagedHsm', {
          roleDefinitions: [{ roleName: 'signer', dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'] }],
        });
        hsm.addRoleAssignment({ role: 'Managed HSM Administrator', principalId: ADMIN_OBJECT_ID, scope: '/' });
        hsm.addRoleAssignment({ role: 'Managed HSM Crypto User', principalId: OTHER, scope: '/keys/app' });
        hsm.addRoleAssignment({ role: 'Managed HSM Backup User', principalId: OTHER, scope: '/' });
        hsm.addRoleAssignment({ role: 'signer', principalId: OTHER, scope: '/keys/app' });
      });
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // What the policy sees
  // -------------------------------------------------------------------------------------------------------

  describe('escape hatches and other Aspects', () => {
    it('fires HSM-MHSM-001 when purge protection is overridden off on a secure Managed HSM', () => {
      // GIVEN a secure Managed HSM
      // WHEN an escape hatch turns purge protection off
      expectRuleFires('HSM-MHSM-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        hsm.resource.addOverride('purge_protection_enabled', false);
        return hsm.resource;
      });
    });

    it('stays quiet when an escape hatch turns purge protection back on', () => {
      expectRuleQuiet('HSM-MHSM-001', (stack) => {
        const hsm = secureManagedHsm(stack, network(stack), 'ManagedHsm', { dangerouslyDisablePurgeProtection: true });
        hsm.resource.addOverride('purge_protection_enabled', true);
      });
    });

    it('sees what another Aspect changed before synth', () => {
      // GIVEN an Aspect that opens every Managed HSM to the public network
      let hsm!: ManagedHsm;
      const message = synthFailure((stack) => {
        hsm = secureManagedHsm(stack, network(stack));
        Aspects.of(stack).add({
          visit: (node: IConstruct) => {
            if (node instanceof KeyVaultManagedHardwareSecurityModule) node.addOverride('public_network_access_enabled', true);
          },
        });
      });
      // THEN the policy reports it
      expect(message).toContain(`HSM-MHSM-004 (Managed HSM public network access is off): ${addressOf(hsm.resource)} public network access is on`);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Acknowledgements
  // -------------------------------------------------------------------------------------------------------

  describe('acknowledgePolicy', () => {
    const REASON = 'short-lived test environment, torn down nightly';

    it('waives exactly the acknowledged rule for the acknowledged construct', () => {
      // GIVEN two HSMs with purge protection off; the first also open to the public network
      let waived!: ManagedHsm;
      let other!: ManagedHsm;
      const found = violations((stack) => {
        const net = network(stack);
        waived = secureManagedHsm(stack, net, 'Waived', { dangerouslyDisablePurgeProtection: true, publicNetworkAccessEnabled: true });
        other = secureManagedHsm(stack, net, 'Other', { dangerouslyDisablePurgeProtection: true });
        // WHEN HSM-MHSM-001 is acknowledged for the first one only
        acknowledgePolicy(waived, 'HSM-MHSM-001', REASON);
      });
      // THEN the first still fails its other rule, and the second still fails the waived one
      expect(found.map((v) => [v.ruleId, v.address])).toEqual([
        ['HSM-MHSM-001', addressOf(other.resource)],
        ['HSM-MHSM-004', addressOf(waived.resource)],
      ]);
    });

    it('lets the synth pass once every violation is acknowledged', () => {
      expect(() =>
        synthStack((stack) => {
          const hsm = secureManagedHsm(stack, network(stack), 'ManagedHsm', { dangerouslyDisablePurgeProtection: true });
          acknowledgePolicy(hsm, 'HSM-MHSM-001', REASON);
        }),
      ).not.toThrow();
    });

    it('covers the whole construct subtree', () => {
      // GIVEN keys without expiry inside a Managed HSM inside a team construct
      const found = violations((stack) => {
        const net = network(stack);
        const team = new Construct(stack, 'Team');
        const hsm = secureManagedHsm(team, net);
        hsm.addKey({ name: 'a', keyType: 'RSA-HSM' });
        hsm.addKey({ name: 'b', keyType: 'EC-HSM' });
        // WHEN the rule is acknowledged on the ancestor
        acknowledgePolicy(team, 'HSM-KEY-001', REASON);
      });
      // THEN no key is reported
      expect(found).toEqual([]);
    });

    it('does not cover siblings or parents of the acknowledged construct', () => {
      // GIVEN two keys without expiry, the rule acknowledged on one of them
      let kept!: TerraformResource;
      const found = violations((stack) => {
        const hsm = secureManagedHsm(stack, network(stack));
        const a = hsm.addKey({ name: 'a', keyType: 'RSA-HSM' });
        kept = hsm.addKey({ name: 'b', keyType: 'RSA-HSM' }).resource;
        acknowledgePolicy(a, 'HSM-KEY-001', REASON);
        // and a purge-protection violation on the parent HSM, acknowledged on the key only
        hsm.resource.addOverride('purge_protection_enabled', false);
        acknowledgePolicy(a, 'HSM-MHSM-001', REASON);
      });
      // THEN
      expect(found.map((v) => v.ruleId).sort()).toEqual(['HSM-KEY-001', 'HSM-MHSM-001']);
      expect(found.find((v) => v.ruleId === 'HSM-KEY-001')!.address).toBe(addressOf(kept));
    });

    it('records the rule and the trimmed reason for reviewers', () => {
      const stack = new TerraformStack(Testing.app(), 'test');
      const hsm = secureManagedHsm(stack, network(stack));
      acknowledgePolicy(hsm, 'HSM-MHSM-004', `  ${REASON}  `);
      expect(acknowledgementsFor(hsm.resource)).toEqual([{ ruleId: 'HSM-MHSM-004', reason: REASON }]);
    });

    it.each(['MHSM-001', 'hsm-mhsm-001', 'HSM-MHSM-1', 'HSM-MHSM-0001', 'HSM_MHSM_001', ' HSM-MHSM-001', '', 'HSM-MHSM-010'])('fails when the rule id is malformed or unknown (%j)', (ruleId) => {
      const stack = new TerraformStack(Testing.app(), 'test');
      const hsm = secureManagedHsm(stack, network(stack));
      expect(() => acknowledgePolicy(hsm, ruleId, REASON)).toThrow(
        `test/ManagedHsm: invalid policy rule id: received ${JSON.stringify(ruleId)}; allowed: ${POLICY_RULES.map((r) => r.id).join(', ')}`,
      );
      expect(acknowledgementsFor(hsm)).toEqual([]);
    });

    it.each(['', 'because', '   x      ', '         '])('fails when the reason is shorter than 10 characters (%j)', (reason) => {
      const stack = new TerraformStack(Testing.app(), 'test');
      const hsm = secureManagedHsm(stack, network(stack));
      expect(() => acknowledgePolicy(hsm, 'HSM-MHSM-001', reason)).toThrow(
        'test/ManagedHsm: acknowledging HSM-MHSM-001 needs a reason of at least 10 characters',
      );
      expect(acknowledgementsFor(hsm)).toEqual([]);
    });
  });

  // Last in the file: jest runs a file's tests in order, so every rule block above has run by now.
  it('ran a passing fires check and a passing stays-quiet check for every rule in POLICY_RULES', () => {
    const all = POLICY_RULES.map((r) => r.id).sort();
    expect([...FIRED_CHECKED].sort()).toEqual(all);
    expect([...QUIET_CHECKED].sort()).toEqual(all);
  });
});
