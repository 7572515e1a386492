import { DEDICATED_HSM_DELEGATION } from '../constructs/dedicated-hsm-delegation';
import { builtInRoleOf, KEY_USE_ROLES, ROLE_MANAGEMENT_ROLES } from '../constructs/managed-hsm-roles';
import { SAFE_KEY_VAULT_FEATURES } from '../constructs/provider-features';
import { findSecretLikeContent } from '../constructs/secret-patterns';
import { blocks, Json, ofType, PolicyDocument, PolicyResource, refersTo, refersToId } from './policy-document';

/** Where a finding points: a resource or a provider block. */
export interface PolicyTarget {
  readonly address: string;
  readonly constructPath?: string;
  readonly file?: string;
}

export interface PolicyFinding {
  readonly resource: PolicyTarget;
  readonly problem: string;
}

export interface PolicyRule {
  /** Stable id, used in acknowledgements. */
  readonly id: string;
  /** What must hold. */
  readonly title: string;
  /** How to fix a violation. */
  readonly fix: string;
  /** The scanners' rules this one mirrors; none for the rules no scanner has for these types. */
  readonly mirrors?: string;
  /** Checks only Terraform configuration (a plan does not carry what it reads, e.g. lifecycle blocks). */
  readonly configurationOnly?: boolean;
  /** One finding per resource in violation. */
  check(doc: PolicyDocument): PolicyFinding[];
}

const MHSM = 'azurerm_key_vault_managed_hardware_security_module';
const MHSM_KEY = 'azurerm_key_vault_managed_hardware_security_module_key';
const MHSM_ROLE_ASSIGNMENT = 'azurerm_key_vault_managed_hardware_security_module_role_assignment';
const MHSM_ROLE_DEFINITION = 'azurerm_key_vault_managed_hardware_security_module_role_definition';
const DEDICATED_HSM = 'azurerm_dedicated_hardware_security_module';
const ANY_SOURCE = new Set(['*', '0.0.0.0/0', '0.0.0.0', 'internet', 'any', '::/0']);
const ADMIN_PORTS = [22, 3389, 443];
const DATA_ACTION_PREFIX = 'microsoft.keyvault/managedhsm/';
/** What lets a holder grant any role: write a role assignment, or rewrite a role definition (one they hold). */
const ROLE_MANAGEMENT_ACTIONS = ['roleAssignments/write/action', 'roleDefinitions/write/action'];
/** The key data actions that use or change key material (reads excluded), from the built-in roles' lists. */
const KEY_USE_ACTIONS = [
  'keys/write/action', 'keys/delete', 'keys/create', 'keys/rotate/action', 'keys/import/action', 'keys/release/action', 'keys/backup/action',
  'keys/restore/action', 'keys/encrypt/action', 'keys/decrypt/action', 'keys/wrap/action', 'keys/unwrap/action', 'keys/sign/action',
  'keys/verify/action', 'keys/derive/action', 'keys/export/action', 'keys/deletedKeys/delete', 'keys/deletedKeys/recover/action',
];

/** Re-exported from the constructs (which check it at synth) for the policy's library users. */
export { SAFE_KEY_VAULT_FEATURES };

function each(doc: PolicyDocument, types: string[], problemOf: (r: PolicyResource) => string | undefined): PolicyFinding[] {
  return ofType(doc, ...types).flatMap((resource) => {
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
function openAdminPort(rule: Json): string | undefined {
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

/** The resource an attribute refers to, e.g. the HSM a key's managed_hsm_id points at. */
function referenced(doc: PolicyDocument, value: unknown, type: string): PolicyResource | undefined {
  return doc.resources.find((r) => r.type === type && refersTo(value, r));
}

function preventsDestroy(r: PolicyResource): boolean {
  return blocks(r.attrs.lifecycle).some((l) => l.prevent_destroy === true);
}

/** Whether a CanNotDelete (or ReadOnly) lock covers the resource, on itself or on its resource group. */
function lockedAgainstDelete(doc: PolicyDocument, r: PolicyResource): boolean {
  const locks = ofType(doc, 'azurerm_management_lock').filter((l) => ['CanNotDelete', 'ReadOnly'].includes(l.attrs.lock_level));
  const group = doc.resources.find((g) => ['azurerm_resource_group'].includes(g.type) && refersTo(r.attrs.resource_group_name, g));
  const groupName = typeof r.attrs.resource_group_name === 'string' && !r.attrs.resource_group_name.includes('${') ? r.attrs.resource_group_name : undefined;
  return locks.some((l) => {
    const scope = l.attrs.scope;
    if (refersToId(scope, r) || (group && refersToId(scope, group))) return true;
    return groupName !== undefined && typeof scope === 'string' && new RegExp(`/resourceGroups/${groupName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'i').test(scope);
  });
}

interface RoleView {
  readonly label: string;
  readonly managesRoles: boolean;
  readonly usesKeys: boolean;
}

/**
 * A data action in full and in lower case ('*' a wildcard): Azure compares actions without regard to case, and
 * Microsoft's pages write both managedHsm and managedHSM. One without a provider prefix is taken as a Managed
 * HSM one ("keys/sign/action", "*").
 */
function fullAction(action: string): string {
  const a = action.toLowerCase();
  return a.startsWith('microsoft.') ? a : `${DATA_ACTION_PREFIX}${a}`;
}

function patternCovers(pattern: string, action: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return regex.test(action);
}

/** Whether a custom role's permissions grant a data action: a dataAction covers it and no notDataAction does. */
function grants(permissions: readonly Json[], action: string): boolean {
  const list = (p: Json, key: string): string[] => (Array.isArray(p[key]) ? p[key].map((a: unknown) => fullAction(String(a))) : []);
  // The same action without "/action" ("roleAssignments/write") is how some write it: count both spellings.
  const spellings = [fullAction(action), fullAction(action.replace(/\/action$/, ''))];
  return permissions.some(
    (p) =>
      list(p, 'data_actions').some((d) => spellings.some((a) => patternCovers(d, a))) &&
      !list(p, 'not_data_actions').some((n) => spellings.some((a) => patternCovers(n, a))),
  );
}

/** What an assignment's role may do: a built-in role by its id, a custom role by its permissions. */
function roleOf(doc: PolicyDocument, roleDefinitionId: unknown): RoleView | undefined {
  if (typeof roleDefinitionId !== 'string') return undefined;
  const custom = referenced(doc, roleDefinitionId, MHSM_ROLE_DEFINITION);
  if (custom) {
    const permissions = blocks(custom.attrs.permission);
    return {
      label: `the custom role ${JSON.stringify(custom.attrs.role_name ?? custom.address)}`,
      managesRoles: ROLE_MANAGEMENT_ACTIONS.some((a) => grants(permissions, a)),
      usesKeys: KEY_USE_ACTIONS.some((a) => grants(permissions, a)),
    };
  }
  const builtIn = builtInRoleOf(roleDefinitionId);
  if (!builtIn) return undefined;
  return { label: builtIn, managesRoles: ROLE_MANAGEMENT_ROLES.includes(builtIn), usesKeys: KEY_USE_ROLES.includes(builtIn) };
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
        const acl = blocks(r.attrs.network_acls)[0];
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
        ofType(m, 'azurerm_private_endpoint').some((pe) =>
          blocks(pe.attrs.private_service_connection).some((c) => refersToId(c.private_connection_resource_id, hsm)),
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
        ofType(m, 'azurerm_monitor_diagnostic_setting').some(
          (d) =>
            refersToId(d.attrs.target_resource_id, hsm) &&
            ['log_analytics_workspace_id', 'storage_account_id', 'eventhub_authorization_rule_id', 'partner_solution_id'].some((k) => d.attrs[k]) &&
            blocks(d.attrs.enabled_log).some((l) => l.category === 'AuditEvent' || ['audit', 'allLogs'].includes(l.category_group)),
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
        blocks(key.attrs.rotation_policy).some((p) => p.expire_after) ||
        ofType(m, 'azurerm_key_vault_managed_hardware_security_module_key_rotation_policy').some(
          (p) => refersTo(p.attrs.managed_hsm_key_id, key) && p.attrs.expire_after,
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
        if (blocks(vm.attrs.admin_ssh_key).length === 0) return 'no admin SSH key';
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
        blocks(nsg.attrs.security_rule).map(openAdminPort).find((p) => p !== undefined),
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
        const delegated = blocks(subnet.attrs.delegation).some((d) =>
          blocks(d.service_delegation).some((s) => s.name === DEDICATED_HSM_DELEGATION),
        );
        if (delegated) return undefined;
        const associated = ofType(m, 'azurerm_subnet_network_security_group_association').some((a) => refersTo(a.attrs.subnet_id, subnet));
        return associated ? undefined : 'no network security group is associated with it';
      }),
  },
  {
    id: 'HSM-DHSM-001',
    title: 'Dedicated HSMs that share a subnet (an HA group) sit in different stamps',
    fix: 'place the pair in stamp1 and stamp2 (DedicatedHsmHaPair does this)',
    check: (m) => {
      // Members of an HA group share the delegated HSM subnet; losing one stamp must leave another member.
      const groups = new Map<string, PolicyResource[]>();
      for (const hsm of ofType(m, DEDICATED_HSM)) {
        const subnet = blocks(hsm.attrs.network_profile)[0]?.subnet_id;
        if (typeof subnet === 'string') groups.set(subnet, [...(groups.get(subnet) ?? []), hsm]);
      }
      return [...groups.values()]
        .filter((members) => members.length > 1)
        .flatMap((members) => {
          const placements = members.map((h) => h.attrs.stamp_id ?? (Array.isArray(h.attrs.zones) ? h.attrs.zones.join(',') : undefined));
          const spread = placements.every((p) => typeof p === 'string' && p !== '') && new Set(placements).size >= 2;
          return spread ? [] : [{ resource: members[members.length - 1], problem: `HA pair members share a stamp (${members.map((h) => JSON.stringify(h.attrs.stamp_id ?? null)).join(', ')})` }];
        });
    },
  },
  {
    id: 'HSM-PROT-001',
    title: 'HSMs and HSM keys are protected from destroy (lifecycle.prevent_destroy)',
    fix: 'remove dangerouslyAllowDestroy (lifecycle { prevent_destroy = true })',
    configurationOnly: true,
    check: (m) =>
      each(m, [DEDICATED_HSM, MHSM, MHSM_KEY], (r) => (preventsDestroy(r) ? undefined : 'can be destroyed by Terraform (no lifecycle.prevent_destroy)')),
  },
  {
    id: 'HSM-PROT-002',
    title: 'Every HSM has a CanNotDelete management lock (on it or on its resource group)',
    fix: 'remove dangerouslySkipDeleteLock (an azurerm_management_lock with lock_level CanNotDelete and the HSM as scope)',
    check: (m) =>
      each(m, [DEDICATED_HSM, MHSM], (r) => (lockedAgainstDelete(m, r) ? undefined : 'has no CanNotDelete management lock, so Azure lets anyone with delete rights remove it')),
  },
  {
    id: 'HSM-PROT-003',
    title: 'The azurerm provider never purges soft-deleted HSMs or keys on destroy, and recovers soft-deleted keys',
    fix: `remove dangerouslyPurgeSoftDeletedOnDestroy (provider features { key_vault { ${Object.entries(SAFE_KEY_VAULT_FEATURES).map(([k, v]) => `${k} = ${v}`).join(', ')} } })`,
    check: (m) => {
      if (ofType(m, MHSM, MHSM_KEY, 'azurerm_key_vault_key').length === 0) return [];
      const providers = m.providers.filter((p) => p.name === 'azurerm');
      if (providers.length === 0) return [{ resource: { address: 'provider.azurerm' }, problem: 'is not configured, so its key_vault features keep their purging defaults' }];
      return providers.flatMap((p) => {
        const keyVault = blocks(blocks(p.attrs.features)[0]?.key_vault)[0] ?? {};
        const wrong = Object.entries(SAFE_KEY_VAULT_FEATURES).filter(([k, v]) => keyVault[k] !== v);
        return wrong.length === 0 ? [] : [{ resource: p, problem: `sets ${wrong.map(([k]) => `features.key_vault.${k} = ${JSON.stringify(keyVault[k] ?? null)}`).join(', ')}` }];
      });
    },
  },
  {
    id: 'HSM-MODULE-001',
    title: 'No resource hides from the policy in a module block (its resources are not in the configuration)',
    fix: 'check the planned values with hsmctl plan check, which sees the resources of every module, then acknowledge HSM-MODULE-001 for the module',
    configurationOnly: true,
    check: (m) => m.modules.map((module) => ({ resource: module, problem: `is a module${module.source ? ` (source ${JSON.stringify(module.source)})` : ''} whose resources this check cannot see` })),
  },
  {
    id: 'HSM-RBAC-001',
    title: 'Managed HSM role management goes to the HSM administrators only, and no key-use role is granted at "/" ("/keys" reaches every key too)',
    fix: 'give Administrator, Crypto Officer, Policy Administrator and custom roles that write role assignments or definitions to adminObjectIds only; scope key roles to /keys/<name> (/keys, like /, reaches every key of the HSM)',
    check: (m) =>
      each(m, [MHSM_ROLE_ASSIGNMENT], (a) => {
        const role = roleOf(m, a.attrs.role_definition_id);
        if (!role) return `assigns the role definition ${JSON.stringify(a.attrs.role_definition_id)}, which is neither a built-in Managed HSM role nor a custom role defined here`;
        const hsm = referenced(m, a.attrs.managed_hsm_id, MHSM);
        const admins: unknown[] = Array.isArray(hsm?.attrs.admin_object_ids) ? hsm!.attrs.admin_object_ids : [];
        if (role.managesRoles && !admins.includes(a.attrs.principal_id)) {
          return `grants ${role.label}, which can assign any role, to ${a.attrs.principal_id}, who is not an administrator of ${hsm?.address ?? 'the HSM'}`;
        }
        if (role.usesKeys && a.attrs.scope === '/') return `grants ${role.label} at "/", over every key of the HSM`;
        return undefined;
      }),
  },
];
