import { TerraformOutput, TerraformStack } from 'cdktf';
import { ManagedHsm, ManagedHsmProps, MANAGED_HSM_PRIVATE_DNS_ZONE } from '../../constructs/managed-hsm';
import { network, onlyResource, resourcesOf, synthStack } from '../synth-helpers';

const ADMIN = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const TENANT = '11111111-2222-3333-4444-555555555555';
const PRINCIPAL = '99999999-8888-7777-6666-555555555555';

function managedHsm(stack: TerraformStack, props: Partial<ManagedHsmProps> = {}): ManagedHsm {
  const net = network(stack, { dedicatedHsmSubnet: false });
  return new ManagedHsm(stack, 'ManagedHsm', {
    name: 'mhsm-test',
    resourceGroupName: net.resourceGroupName,
    location: 'westeurope',
    tenantId: TENANT,
    adminObjectIds: [ADMIN],
    privateEndpoint: { subnetId: net.computeSubnet.id, virtualNetworkId: net.vnet.id },
    ...props,
  });
}

describe('ManagedHsm', () => {
  describe('GIVEN only the required props', () => {
    const tf = synthStack((stack) => managedHsm(stack));
    const hsm = onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module');

    test('THEN purge protection is on and soft delete keeps 90 days', () => {
      expect(hsm.purge_protection_enabled).toBe(true);
      expect(hsm.soft_delete_retention_days).toBe(90);
    });
    test('THEN public network access is off and the ACL denies, bypassing Azure services', () => {
      expect(hsm.public_network_access_enabled).toBe(false);
      expect(hsm.network_acls).toEqual({ default_action: 'Deny', bypass: 'AzureServices' });
    });
    test('THEN the SKU is Standard_B1 with the tenant and admins given', () => {
      expect(hsm).toMatchObject({ sku_name: 'Standard_B1', tenant_id: TENANT, admin_object_ids: [ADMIN] });
    });
    test('THEN a private endpoint for the managedhsm subresource sits in the given subnet', () => {
      const pe = onlyResource(tf, 'azurerm_private_endpoint');
      expect(pe.subnet_id).toMatch(/azurerm_subnet\.Network_ComputeSubnet_\w+\.id/);
      expect(pe.private_service_connection).toMatchObject({ subresource_names: ['managedhsm'], is_manual_connection: false });
      expect(pe.private_service_connection.private_connection_resource_id).toMatch(/azurerm_key_vault_managed_hardware_security_module\.ManagedHsm_\w+\.id/);
      expect(pe.private_dns_zone_group.private_dns_zone_ids[0]).toMatch(/azurerm_private_dns_zone\./);
    });
    test('THEN the privatelink.managedhsm.azure.net zone is linked to the VNet', () => {
      expect(onlyResource(tf, 'azurerm_private_dns_zone').name).toBe(MANAGED_HSM_PRIVATE_DNS_ZONE);
      const link = onlyResource(tf, 'azurerm_private_dns_zone_virtual_network_link');
      expect(link.virtual_network_id).toMatch(/azurerm_virtual_network\.Network_Vnet_\w+\.id/);
      expect(link.registration_enabled).toBe(false);
    });
    test('THEN AuditEvent logs and all metrics go to a new Log Analytics workspace', () => {
      const diag = onlyResource(tf, 'azurerm_monitor_diagnostic_setting');
      expect(diag.enabled_log).toEqual([{ category: 'AuditEvent' }]);
      expect(diag.enabled_metric).toEqual([{ category: 'AllMetrics' }]);
      expect(diag.log_analytics_workspace_id).toMatch(/azurerm_log_analytics_workspace\.ManagedHsm_LogAnalytics_\w+\.id/);
      expect(onlyResource(tf, 'azurerm_log_analytics_workspace')).toMatchObject({ name: 'mhsm-test-logs', retention_in_days: 90 });
    });
  });

  test('sends diagnostics to an existing workspace without creating one', () => {
    const id = '/subscriptions/x/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/central';
    const tf = synthStack((stack) => managedHsm(stack, { logAnalyticsWorkspaceId: id }));
    expect(resourcesOf(tf, 'azurerm_log_analytics_workspace')).toHaveLength(0);
    expect(onlyResource(tf, 'azurerm_monitor_diagnostic_setting').log_analytics_workspace_id).toBe(id);
  });

  test('turns purge protection off only through the loudly named prop', () => {
    const tf = synthStack((stack) => managedHsm(stack, { dangerouslyDisablePurgeProtection: true }), { policy: false });
    expect(onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module').purge_protection_enabled).toBe(false);
  });

  test('exposes hsmUri, id and name as references to the HSM resource', () => {
    const tf = synthStack((stack) => {
      const hsm = managedHsm(stack);
      new TerraformOutput(stack, 'uri', { value: hsm.hsmUri });
      new TerraformOutput(stack, 'id', { value: hsm.id });
      new TerraformOutput(stack, 'name', { value: hsm.name });
    });
    const address = Object.keys(tf.resource.azurerm_key_vault_managed_hardware_security_module)[0];
    expect(tf.output.uri.value).toBe(`\${azurerm_key_vault_managed_hardware_security_module.${address}.hsm_uri}`);
    expect(tf.output.id.value).toBe(`\${azurerm_key_vault_managed_hardware_security_module.${address}.id}`);
    expect(tf.output.name.value).toBe(`\${azurerm_key_vault_managed_hardware_security_module.${address}.name}`);
  });

  describe('role assignments', () => {
    test('assign a built-in role by name at a scope with a stable GUID name', () => {
      const build = (stack: TerraformStack) => managedHsm(stack, { roleAssignments: [{ role: 'Managed HSM Crypto User', principalId: PRINCIPAL, scope: '/keys/app' }] });
      const first = onlyResource(synthStack(build), 'azurerm_key_vault_managed_hardware_security_module_role_assignment');
      const second = onlyResource(synthStack(build), 'azurerm_key_vault_managed_hardware_security_module_role_assignment');
      expect(first).toMatchObject({
        principal_id: PRINCIPAL,
        scope: '/keys/app',
        role_definition_id: '/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b',
      });
      expect(first.name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(second.name).toBe(first.name);
    });
    test('default to the /keys scope', () => {
      const tf = synthStack((stack) => managedHsm(stack, { roleAssignments: [{ role: 'Managed HSM Crypto User', principalId: PRINCIPAL }] }));
      expect(onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module_role_assignment').scope).toBe('/keys');
    });
    test('fails when the role is not built in', () => {
      expect(() => synthStack((stack) => managedHsm(stack, { roleAssignments: [{ role: 'Owner' as never, principalId: PRINCIPAL }] }))).toThrow(
        /roleAssignments\[0\]\.role: received "Owner"; allowed: "Managed HSM Administrator"/,
      );
    });
    test('fails when the scope or the principal is malformed', () => {
      expect(() => synthStack((stack) => managedHsm(stack, { roleAssignments: [{ role: 'Managed HSM Crypto User', principalId: PRINCIPAL, scope: '/secrets' }] }))).toThrow(
        /scope: received "\/secrets"; allowed: "\/", "\/keys" or "\/keys\/<key name>"/,
      );
      expect(() => synthStack((stack) => managedHsm(stack, { roleAssignments: [{ role: 'Managed HSM Crypto User', principalId: 'bob' }] }))).toThrow(
        /principalId: received "bob"; allowed: a GUID/,
      );
    });
  });

  describe('parity with the Azure Verified Module', () => {
    const ZONE = '/subscriptions/x/resourceGroups/hub/providers/Microsoft.Network/privateDnsZones/privatelink.managedhsm.azure.net';
    const STORAGE = '/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/auditlogs';
    const EVENT_HUB_RULE = '/subscriptions/x/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/siem/authorizationRules/send';

    test('registers the endpoint in an existing (hub) private DNS zone instead of making one', () => {
      const tf = synthStack((stack) => managedHsm(stack, { privateEndpoint: { subnetId: 'subnet-id', privateDnsZoneId: ZONE } }));
      expect(resourcesOf(tf, 'azurerm_private_dns_zone')).toHaveLength(0);
      expect(resourcesOf(tf, 'azurerm_private_dns_zone_virtual_network_link')).toHaveLength(0);
      expect(onlyResource(tf, 'azurerm_private_endpoint').private_dns_zone_group).toEqual({ name: 'managedhsm', private_dns_zone_ids: [ZONE] });
    });

    test('gives the endpoint a static IP when asked', () => {
      const tf = synthStack((stack) => managedHsm(stack, { privateEndpoint: { subnetId: 'subnet-id', virtualNetworkId: 'vnet-id', privateIpAddress: '10.2.0.30' } }));
      expect(onlyResource(tf, 'azurerm_private_endpoint').ip_configuration).toEqual([{ name: 'mhsm-test-pe-ip', private_ip_address: '10.2.0.30', subresource_name: 'managedhsm' }]);
    });

    test('sends the audit logs to a storage account and an event hub, with no workspace made', () => {
      const tf = synthStack((stack) => managedHsm(stack, { diagnostics: { storageAccountId: STORAGE, eventHubAuthorizationRuleId: EVENT_HUB_RULE, eventHubName: 'hsm-audit' } }));
      expect(resourcesOf(tf, 'azurerm_log_analytics_workspace')).toHaveLength(0);
      expect(onlyResource(tf, 'azurerm_monitor_diagnostic_setting')).toMatchObject({
        storage_account_id: STORAGE, eventhub_authorization_rule_id: EVENT_HUB_RULE, eventhub_name: 'hsm-audit', enabled_log: [{ category: 'AuditEvent' }],
      });
    });

    test('passes timeouts to the HSM', () => {
      const tf = synthStack((stack) => managedHsm(stack, { timeouts: { create: '90m', delete: '2h' } }));
      expect(onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module').timeouts).toEqual({ create: '90m', delete: '2h' });
    });

    test('defines custom roles as code and assigns them by name', () => {
      const tf = synthStack((stack) =>
        managedHsm(stack, {
          roleDefinitions: [{ roleName: 'app-signer', description: 'sign with app keys', dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action', 'Microsoft.KeyVault/managedHsm/keys/read/action'] }],
          roleAssignments: [{ role: 'app-signer', principalId: PRINCIPAL, scope: '/keys/app' }],
        }),
      );
      const definition = onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module_role_definition');
      expect(definition).toMatchObject({
        role_name: 'app-signer', description: 'sign with app keys',
        permission: [{ data_actions: ['Microsoft.KeyVault/managedHsm/keys/sign/action', 'Microsoft.KeyVault/managedHsm/keys/read/action'] }],
      });
      expect(definition.name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module_role_assignment').role_definition_id).toMatch(
        /^\$\{azurerm_key_vault_managed_hardware_security_module_role_definition\.ManagedHsm_RoleDefinition-app-signer-[0-9a-f]{8}_\w+\.resource_manager_id\}$/,
      );
    });

    test('keeps a custom role\'s address when another one before it is removed or the list is reordered', () => {
      const addresses = (roleNames: string[]) =>
        Object.fromEntries(
          Object.entries(
            synthStack((stack) => managedHsm(stack, { roleDefinitions: roleNames.map((roleName) => ({ roleName, dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'] })) }), { policy: false })
              .resource.azurerm_key_vault_managed_hardware_security_module_role_definition as Record<string, { role_name: string }>,
          ).map(([address, r]) => [r.role_name, address]),
        );
      const before = addresses(['auditor', 'app signer', 'backup-operator']);
      expect(addresses(['app signer', 'backup-operator'])).toEqual({ 'app signer': before['app signer'], 'backup-operator': before['backup-operator'] });
      expect(addresses(['backup-operator', 'auditor', 'app signer'])).toEqual(before);
      // Names that sanitise alike ("app signer", "appsigner") still get different ids: the hash is of the raw name.
      const alike = addresses(['app signer', 'appsigner']);
      expect(alike['app signer']).not.toBe(alike.appsigner);
    });

    test.each<[string, Partial<ManagedHsmProps>, RegExp]>([
      ['a DNS zone id of another zone', { privateEndpoint: { subnetId: 's', privateDnsZoneId: '/subscriptions/x/resourceGroups/hub/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net' } }, /privateEndpoint\.privateDnsZoneId: received .*; allowed: the resource id of an existing privatelink\.managedhsm\.azure\.net private DNS zone/],
      ['neither a VNet to link nor a zone', { privateEndpoint: { subnetId: 's' } }, /privateEndpoint\.virtualNetworkId: received undefined; allowed: the VNet to link a new private DNS zone to, or privateDnsZoneId/],
      ['a static IP that is not an address', { privateEndpoint: { subnetId: 's', virtualNetworkId: 'v', privateIpAddress: '10.2.0' } }, /privateEndpoint\.privateIpAddress: received "10\.2\.0"/],
      ['a timeout that is not a duration', { timeouts: { create: '1 hour' } }, /timeouts\.create: received "1 hour"; allowed: a duration such as 90m, 2h or 1h30m/],
      ['an event hub name without its authorization rule', { diagnostics: { eventHubName: 'x' } }, /diagnostics\.eventHubName: received "x"; allowed: only with diagnostics\.eventHubAuthorizationRuleId/],
      ['a storage account id that is not a resource id', { diagnostics: { storageAccountId: 'auditlogs' } }, /diagnostics\.storageAccountId: received "auditlogs"; allowed: an Azure resource id/],
      ['a custom role with a data action of another service', { roleDefinitions: [{ roleName: 'x', dataActions: ['Microsoft.KeyVault/vaults/keys/sign/action'] }] }, /roleDefinitions\[0\]\.dataActions\[0\]: received "Microsoft\.KeyVault\/vaults\/keys\/sign\/action"; allowed: a Managed HSM data action/],
      ['a custom role named like a built-in one', { roleDefinitions: [{ roleName: 'Managed HSM Crypto User', dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'] }] }, /roleDefinitions\[0\]\.roleName: received "Managed HSM Crypto User"; allowed: a name no built-in or other custom role/],
    ])('fails on %s', (_what, props, error) => {
      expect(() => synthStack((stack) => managedHsm(stack, props), { policy: false })).toThrow(error);
    });
  });

  describe('keys', () => {
    test('RSA-HSM key with size, ops, expiry and a rotation policy', () => {
      const tf = synthStack((stack) =>
        managedHsm(stack, {
          roleAssignments: [{ role: 'Managed HSM Crypto User', principalId: PRINCIPAL }],
          keys: [{ name: 'wrap', keyType: 'RSA-HSM', keySize: 4096, keyOps: ['wrapKey', 'unwrapKey'], expirationDate: '2027-01-01T00:00:00Z', rotation: { expireAfter: 'P1Y', timeBeforeExpiry: 'P30D' } }],
        }),
      );
      const key = onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module_key');
      expect(key).toMatchObject({ name: 'wrap', key_type: 'RSA-HSM', key_size: 4096, key_opts: ['wrapKey', 'unwrapKey'], expiration_date: '2027-01-01T00:00:00Z' });
      expect(key.depends_on).toEqual([expect.stringMatching(/^azurerm_key_vault_managed_hardware_security_module_role_assignment\./)]);
      const policy = onlyResource(tf, 'azurerm_key_vault_managed_hardware_security_module_key_rotation_policy');
      expect(policy).toMatchObject({ expire_after: 'P1Y', time_before_expiry: 'P30D' });
      expect(policy.managed_hsm_key_id).toMatch(/azurerm_key_vault_managed_hardware_security_module_key\.[\w-]+\.id/);
    });
    test('EC-HSM defaults to P-256 with sign and verify; oct-HSM to 256 bits without import', () => {
      const tf = synthStack((stack) =>
        managedHsm(stack, {
          keys: [
            { name: 'ec', keyType: 'EC-HSM', expirationDate: '2027-01-01T00:00:00Z' },
            { name: 'aes', keyType: 'oct-HSM', expirationDate: '2027-01-01T00:00:00Z' },
          ],
        }),
      );
      const byName = Object.fromEntries(resourcesOf(tf, 'azurerm_key_vault_managed_hardware_security_module_key').map((k) => [k.name, k]));
      const { ec, aes } = byName;
      expect(ec).toMatchObject({ curve: 'P-256', key_opts: ['sign', 'verify'] });
      expect(ec.key_size).toBeUndefined();
      expect(aes).toMatchObject({ key_size: 256, key_opts: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] });
    });

    const keyAttempt = (key: Record<string, unknown>) => () => synthStack((stack) => managedHsm(stack, { keys: [{ name: 'k', expirationDate: '2027-01-01T00:00:00Z', ...key } as never] }));
    test('fails when the key type is not HSM-backed', () => {
      expect(keyAttempt({ keyType: 'RSA' })).toThrow(/keyType: received "RSA"; allowed: "RSA-HSM", "EC-HSM", "oct-HSM"/);
    });
    test('fails when the size does not fit the type', () => {
      expect(keyAttempt({ keyType: 'RSA-HSM', keySize: 1024 })).toThrow(/keySize: received 1024; allowed: for RSA-HSM: 2048, 3072, 4096/);
      expect(keyAttempt({ keyType: 'oct-HSM', keySize: 512 })).toThrow(/keySize: received 512; allowed: for oct-HSM: 128, 192, 256/);
      expect(keyAttempt({ keyType: 'EC-HSM', keySize: 256 })).toThrow(/no keySize for EC-HSM/);
    });
    test('fails when the curve is unknown or given to a non-EC key', () => {
      expect(keyAttempt({ keyType: 'EC-HSM', curve: 'P-192' })).toThrow(/curve: received "P-192"; allowed: "P-256", "P-256K", "P-384", "P-521"/);
      expect(keyAttempt({ keyType: 'RSA-HSM', curve: 'P-256' })).toThrow(/curve: received "P-256"; allowed: a curve only for EC-HSM keys/);
    });
    test('fails when an operation does not fit the type', () => {
      expect(keyAttempt({ keyType: 'EC-HSM', keyOps: ['encrypt'] })).toThrow(/keyOps: received "encrypt"; allowed: for EC-HSM: sign, verify/);
    });
    test('fails when the expiry is not RFC 3339', () => {
      expect(keyAttempt({ keyType: 'EC-HSM', expirationDate: '31/12/2027' })).toThrow(/expirationDate: received "31\/12\/2027"; allowed: an RFC 3339 timestamp/);
    });
    test('fails when the rotation policy is inconsistent', () => {
      expect(keyAttempt({ keyType: 'EC-HSM', rotation: { expireAfter: 'P1Y' } })).toThrow(/exactly one of timeAfterCreation and timeBeforeExpiry/);
      expect(keyAttempt({ keyType: 'EC-HSM', rotation: { expireAfter: 'P1Y', timeAfterCreation: 'P2Y' } })).toThrow(/timeAfterCreation: received "P2Y"; allowed: .*shorter than expireAfter/);
      expect(keyAttempt({ keyType: 'EC-HSM', rotation: { expireAfter: 'one year', timeAfterCreation: 'P1M' } })).toThrow(/expireAfter: received "one year"/);
    });
    test('fails when two keys share a name', () => {
      expect(() => synthStack((stack) => managedHsm(stack, { keys: [{ name: 'k', keyType: 'EC-HSM' }, { name: 'k', keyType: 'EC-HSM' }] }))).toThrow(/keys: received "k"; allowed: distinct key names/);
    });
  });

  describe('validation', () => {
    const attempt = (props: Partial<ManagedHsmProps>) => () => synthStack((stack) => managedHsm(stack, props));
    test('fails when soft-delete retention is outside 7-90 days', () => {
      expect(attempt({ softDeleteRetentionDays: 6 })).toThrow(/softDeleteRetentionDays: received 6; allowed: a whole number from 7 to 90/);
      expect(attempt({ softDeleteRetentionDays: 91 })).toThrow(/received 91/);
    });
    test('fails when there is no admin or an admin is not a GUID', () => {
      expect(attempt({ adminObjectIds: [] })).toThrow(/adminObjectIds: received \[\]; allowed: one or more object ids/);
      expect(attempt({ adminObjectIds: ['admin@contoso.com'] })).toThrow(/adminObjectIds\[0\]: received "admin@contoso.com"; allowed: a GUID/);
    });
    test('fails when the tenant is not a GUID', () => {
      expect(attempt({ tenantId: 'contoso.onmicrosoft.com' })).toThrow(/tenantId: received "contoso.onmicrosoft.com"/);
    });
    test('fails when the SKU or name is not allowed', () => {
      expect(attempt({ skuName: 'Premium' as never })).toThrow(/skuName: received "Premium"; allowed: "Standard_B1"$/);
      // The ARM API knows Custom_B32, but azurerm 4.x validates sku_name to Standard_B1 and would refuse it at plan time.
      expect(attempt({ skuName: 'Custom_B32' as never })).toThrow(/skuName: received "Custom_B32"; allowed: "Standard_B1"$/);
      expect(attempt({ name: '1hsm' })).toThrow(/name: received "1hsm"; allowed: 3-24 letters/);
    });
    test('fails when the ACL default action is not Allow or Deny', () => {
      expect(attempt({ networkAclDefaultAction: 'Block' as never })).toThrow(/networkAclDefaultAction: received "Block"/);
    });
  });
});
