import { findSecretLikeContent } from '../secret-patterns';
import { DedicatedHsmHaPair } from '../dedicated-hsm-ha-pair';
import { DEDICATED_HSM_DELEGATION } from '../hsm-network';
import { PolicyModel, ResourceView } from './policy-model';

export interface PolicyRule {
  /** Stable id, used in acknowledgements. */
  readonly id: string;
  /** What must hold. */
  readonly title: string;
  /** How to fix a violation. */
  readonly fix: string;
  /** The scanners' rules this one mirrors; none for the rules no scanner has for these types. */
  readonly mirrors?: string;
  /** One message per resource in violation. */
  check(model: PolicyModel): Array<{ resource: ResourceView; problem: string }>;
}

const MHSM = 'azurerm_key_vault_managed_hardware_security_module';
const MHSM_KEY = 'azurerm_key_vault_managed_hardware_security_module_key';
const ANY_SOURCE = new Set(['*', '0.0.0.0/0', '0.0.0.0', 'internet', 'any', '::/0']);
const ADMIN_PORTS = [22, 3389, 443];

function each(model: PolicyModel, types: string[], problemOf: (r: ResourceView) => string | undefined) {
  return model.resources
    .filter((r) => types.includes(r.type))
    .flatMap((resource) => {
      const problem = problemOf(resource);
      return problem ? [{ resource, problem }] : [];
    });
}

function portRangeCovers(range: string, port: number): boolean {
  if (range === '*') return true;
  const [low, high] = range.split('-').map((p) => Number(p.trim()));
  return high === undefined ? low === port : low <= port && port <= high;
}

/** Inbound Allow rules whose source is anywhere and whose ports include an admin port. */
function openAdminPort(rule: Record<string, any>): string | undefined {
  if (String(rule.direction).toLowerCase() !== 'inbound' || String(rule.access).toLowerCase() !== 'allow') return undefined;
  const sources = [rule.source_address_prefix, ...(rule.source_address_prefixes ?? [])].filter((s) => s !== undefined && s !== null);
  if (!sources.some((s) => ANY_SOURCE.has(String(s).toLowerCase()))) return undefined;
  const ranges = [rule.destination_port_range, ...(rule.destination_port_ranges ?? [])].filter((r) => r !== undefined && r !== null).map(String);
  const port = ADMIN_PORTS.find((p) => ranges.some((r) => portRangeCovers(r, p)));
  return port === undefined ? undefined : `allows inbound port ${port} from ${sources.join(', ')}`;
}

function decodeCustomData(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.includes('${')) return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}

export const POLICY_RULES: readonly PolicyRule[] = [
  {
    id: 'HSM-MHSM-001',
    title: 'Managed HSM purge protection is on',
    fix: 'remove dangerouslyDisablePurgeProtection (purge_protection_enabled = true)',
    mirrors: 'checkov CKV_AZURE_42 / CKV_AZURE_110 and trivy\'s Key Vault purge-protection check',
    check: (m) => each(m, [MHSM], (r) => (r.attrs.purge_protection_enabled === true ? undefined : 'purge protection is off')),
  },
  {
    id: 'HSM-MHSM-002',
    title: 'Managed HSM soft-delete retention is 7-90 days',
    fix: 'set softDeleteRetentionDays between 7 and 90 (90 recommended)',
    mirrors: 'checkov CKV_AZURE_42 (recoverable vault)',
    check: (m) =>
      each(m, [MHSM], (r) => {
        const days = r.attrs.soft_delete_retention_days;
        return typeof days === 'number' && days >= 7 && days <= 90 ? undefined : `soft-delete retention is ${JSON.stringify(days)}`;
      }),
  },
  {
    id: 'HSM-MHSM-003',
    title: 'Managed HSM network ACL denies by default',
    fix: "set networkAclDefaultAction to 'Deny'",
    mirrors: 'checkov CKV_AZURE_109 and trivy\'s Key Vault network-ACL check',
    check: (m) =>
      each(m, [MHSM], (r) => {
        const acl = PolicyModel.blocks(r.attrs.network_acls)[0];
        return acl?.default_action === 'Deny' ? undefined : `network ACL default action is ${JSON.stringify(acl?.default_action ?? 'unset (Allow)')}`;
      }),
  },
  {
    id: 'HSM-MHSM-004',
    title: 'Managed HSM public network access is off',
    fix: 'set publicNetworkAccessEnabled to false and reach the HSM through its private endpoint',
    mirrors: 'checkov CKV_AZURE_189',
    check: (m) => each(m, [MHSM], (r) => (r.attrs.public_network_access_enabled === false ? undefined : 'public network access is on')),
  },
  {
    id: 'HSM-MHSM-005',
    title: 'Managed HSM has a private endpoint',
    fix: 'give the ManagedHsm a privateEndpoint (subnet and VNet)',
    mirrors: 'checkov CKV2_AZURE_32',
    check: (m) =>
      each(m, [MHSM], (hsm) =>
        m.ofType('azurerm_private_endpoint').some((pe) =>
          PolicyModel.blocks(pe.attrs.private_service_connection).some((c) => PolicyModel.refersTo(c.private_connection_resource_id, hsm)),
        )
          ? undefined
          : 'no private endpoint connects to it',
      ),
  },
  {
    id: 'HSM-MHSM-006',
    title: 'Managed HSM audit logs go to a diagnostic setting',
    fix: 'keep the ManagedHsm diagnostic setting with the AuditEvent category',
    check: (m) =>
      each(m, [MHSM], (hsm) =>
        m.ofType('azurerm_monitor_diagnostic_setting').some(
          (d) =>
            PolicyModel.refersTo(d.attrs.target_resource_id, hsm) &&
            PolicyModel.blocks(d.attrs.enabled_log).some((l) => l.category === 'AuditEvent' || ['audit', 'allLogs'].includes(l.category_group)),
        )
          ? undefined
          : 'no diagnostic setting sends its AuditEvent logs anywhere',
      ),
  },
  {
    id: 'HSM-KEY-001',
    title: 'Keys have an expiry',
    fix: 'set expirationDate on the key, or a rotation policy with expireAfter',
    mirrors: 'checkov CKV_AZURE_40 and trivy\'s key-expiry check',
    check: (m) =>
      each(m, [MHSM_KEY, 'azurerm_key_vault_key'], (key) =>
        key.attrs.expiration_date ||
        PolicyModel.blocks(key.attrs.rotation_policy).some((p) => p.expire_after) ||
        m.ofType('azurerm_key_vault_managed_hardware_security_module_key_rotation_policy').some(
          (p) => PolicyModel.refersTo(p.attrs.managed_hsm_key_id, key) && p.attrs.expire_after,
        )
          ? undefined
          : 'the key never expires',
      ),
  },
  {
    id: 'HSM-KEY-002',
    title: 'Keys are HSM-backed',
    fix: 'use key type RSA-HSM, EC-HSM or oct-HSM',
    mirrors: 'checkov CKV_AZURE_112',
    check: (m) =>
      each(m, [MHSM_KEY, 'azurerm_key_vault_key'], (key) =>
        String(key.attrs.key_type).endsWith('-HSM') ? undefined : `key type ${JSON.stringify(key.attrs.key_type)} is not HSM-backed`,
      ),
  },
  {
    id: 'HSM-VM-001',
    title: 'Linux VMs use SSH keys only',
    fix: 'set disablePasswordAuthentication and give an admin SSH key; no admin password',
    mirrors: 'checkov CKV_AZURE_149 / CKV_AZURE_178',
    check: (m) =>
      each(m, ['azurerm_linux_virtual_machine'], (vm) => {
        if (vm.attrs.disable_password_authentication === false) return 'password authentication is on';
        if (vm.attrs.admin_password) return 'an admin password is set';
        if (PolicyModel.blocks(vm.attrs.admin_ssh_key).length === 0) return 'no admin SSH key';
        return undefined;
      }),
  },
  {
    id: 'HSM-VM-002',
    title: 'VM custom data carries no secrets',
    fix: 'move secrets out of custom data (first-login ceremony, Key Vault)',
    mirrors: 'checkov CKV_AZURE_45',
    check: (m) =>
      each(m, ['azurerm_linux_virtual_machine', 'azurerm_windows_virtual_machine'], (vm) => {
        const text = decodeCustomData(vm.attrs.custom_data);
        const found = text === undefined ? undefined : findSecretLikeContent(text);
        return found ? `custom data contains ${found}` : undefined;
      }),
  },
  {
    id: 'HSM-VM-003',
    title: 'VM admin passwords are references, never literals',
    fix: 'pass the password as a sensitive Terraform variable or a Key Vault secret',
    check: (m) =>
      each(m, ['azurerm_windows_virtual_machine', 'azurerm_linux_virtual_machine'], (vm) => {
        const pw = vm.attrs.admin_password;
        return typeof pw === 'string' && !pw.startsWith('${') ? 'the admin password is written in clear' : undefined;
      }),
  },
  {
    id: 'HSM-NET-001',
    title: 'No inbound SSH, RDP or HTTPS from anywhere',
    fix: 'admit admin ports from the admin CIDRs only',
    mirrors: 'checkov CKV_AZURE_9 / CKV_AZURE_10 and trivy\'s NSG open-port checks',
    check: (m) => [
      ...each(m, ['azurerm_network_security_rule'], (rule) => openAdminPort(rule.attrs)),
      ...each(m, ['azurerm_network_security_group'], (nsg) =>
        PolicyModel.blocks(nsg.attrs.security_rule).map(openAdminPort).find((p) => p !== undefined),
      ),
    ],
  },
  {
    id: 'HSM-NET-002',
    title: 'Every subnet but GatewaySubnet and the Dedicated HSM subnet has an NSG',
    fix: 'associate a network security group with the subnet',
    mirrors: 'checkov CKV2_AZURE_31',
    check: (m) =>
      each(m, ['azurerm_subnet'], (subnet) => {
        if (subnet.attrs.name === 'GatewaySubnet') return undefined;
        const delegated = PolicyModel.blocks(subnet.attrs.delegation).some((d) =>
          PolicyModel.blocks(d.service_delegation).some((s) => s.name === DEDICATED_HSM_DELEGATION),
        );
        if (delegated) return undefined;
        const associated = m
          .ofType('azurerm_subnet_network_security_group_association')
          .some((a) => PolicyModel.refersTo(a.attrs.subnet_id, subnet));
        return associated ? undefined : 'no network security group is associated with it';
      }),
  },
  {
    id: 'HSM-DHSM-001',
    title: 'The Dedicated HSMs of an HA pair sit in different stamps',
    fix: 'place the pair in stamp1 and stamp2 (DedicatedHsmHaPair does this)',
    check: (m) => {
      const pairs = new Map<string, ResourceView[]>();
      for (const hsm of m.ofType('azurerm_dedicated_hardware_security_module')) {
        const pair = hsm.construct.node.scopes.find((s) => s instanceof DedicatedHsmHaPair);
        if (pair) pairs.set(pair.node.path, [...(pairs.get(pair.node.path) ?? []), hsm]);
      }
      return [...pairs.values()].flatMap((members) => {
        const stamps = members.map((h) => h.attrs.stamp_id);
        const distinct = new Set(stamps).size === stamps.length && stamps.every((s) => typeof s === 'string');
        return distinct ? [] : [{ resource: members[members.length - 1], problem: `HA pair members share a stamp (${stamps.map((s) => JSON.stringify(s ?? null)).join(', ')})` }];
      });
    },
  },
];
