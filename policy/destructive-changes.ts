import { DEDICATED_HSM_DELEGATION } from '../constructs/dedicated-hsm-delegation';
import { MANAGED_HSM_BUILT_IN_ROLES } from '../constructs/managed-hsm-roles';
import { blocks, Json } from './policy-document';
import { ResourceChange } from './plan-document';

/** The plan guard, reported like a policy rule. */
export const DESTRUCTIVE_CHANGE_RULE = {
  id: 'HSM-PLAN-001',
  title: 'The plan deletes or replaces no HSM, HSM key, HSM administrator role assignment, HSM subnet or gateway',
  fix: 'change the configuration so the resource is kept (an attribute that forces replacement, a renamed construct: use a moved block)',
} as const;

export interface DestructiveChange {
  readonly address: string;
  readonly type: string;
  readonly kind: 'delete' | 'replace';
  /** The attributes whose change forces the replacement, e.g. ['tenant_id']. */
  readonly forcedBy: string[];
  readonly problem: string;
}

const ALWAYS_GUARDED = new Set([
  'azurerm_dedicated_hardware_security_module',
  'azurerm_key_vault_managed_hardware_security_module',
  'azurerm_key_vault_managed_hardware_security_module_key',
]);
const ADMINISTRATOR_ROLE_ID = MANAGED_HSM_BUILT_IN_ROLES['Managed HSM Administrator'];

/** Why a resource's loss is guarded, or undefined when it is not. */
function guarded(change: ResourceChange): string | undefined {
  const before: Json = change.before ?? {};
  if (ALWAYS_GUARDED.has(change.type)) return change.type.endsWith('_key') ? 'an HSM key' : 'an HSM';
  if (change.type === 'azurerm_key_vault_managed_hardware_security_module_role_assignment') {
    return String(before.role_definition_id ?? '').toLowerCase().endsWith(ADMINISTRATOR_ROLE_ID) ? 'the role assignment of a Managed HSM Administrator' : undefined;
  }
  if (change.type === 'azurerm_subnet') {
    const delegated = blocks(before.delegation).some((d) => blocks(d.service_delegation).some((s) => s.name === DEDICATED_HSM_DELEGATION));
    return delegated ? 'the Dedicated HSM subnet' : undefined;
  }
  if (change.type === 'azurerm_virtual_network_gateway') return 'the gateway the Dedicated HSMs depend on';
  return undefined;
}

const REASONS: Record<string, string> = {
  replace_because_tainted: 'it is tainted',
  replace_by_request: 'a -replace option asked for it',
  delete_because_no_resource_config: 'its configuration was removed (a renamed construct id needs a moved block)',
  delete_because_no_module: 'its module was removed',
  delete_because_count_index: 'count no longer includes it',
  delete_because_each_key: 'for_each no longer includes it',
};

/** Every change in the plan that deletes or replaces a guarded resource. */
export function destructiveChanges(changes: readonly ResourceChange[]): DestructiveChange[] {
  return changes.flatMap((change) => {
    if (change.mode === 'data' || !change.actions.includes('delete')) return [];
    const what = guarded(change);
    if (!what) return [];
    const kind = change.actions.includes('create') ? 'replace' : 'delete';
    const forcedBy = change.replacePaths.map((path) => path.map(String).join('.'));
    const why =
      forcedBy.length > 0
        ? `; ${forcedBy.join(', ')} ${forcedBy.length === 1 ? 'forces' : 'force'} the replacement`
        : change.actionReason && REASONS[change.actionReason]
          ? `: ${REASONS[change.actionReason]}`
          : '';
    return [{ address: change.address, type: change.type, kind, forcedBy, problem: `(${what}) would be ${kind === 'delete' ? 'deleted' : 'replaced'}${why}` }];
  });
}
