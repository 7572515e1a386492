import { FlagSpecs, ParsedFlags } from '../flags';
import { resolveTarget } from '../clients/target';
import { ManagedHsmAdminClient, RoleDefinition, withAdminClient } from '../clients/mhsm-admin';
import { required } from '../ceremonies/run';
import { checkedObjectId, checkedScope, findRole } from '../ceremonies/roles';

/** --role, --assignee and --scope of `hsmctl roles assign` and `roles remove`. */
export const ROLE_FLAGS: FlagSpecs = {
  role: { type: 'string', value: 'NAME|ID', description: 'the role: its name ("Managed HSM Crypto User" or "Crypto User"), GUID or id (required)' },
  assignee: { type: 'string', value: 'OBJECT_ID', description: 'the object id of the user, group or service principal (required)' },
  scope: { type: 'string', value: 'SCOPE', description: '"/" (the whole HSM), "/keys" (every key) or "/keys/NAME" (one key) (required)' },
};

export interface RoleAssignmentTarget {
  readonly admin: ManagedHsmAdminClient;
  readonly hsmUri: string;
  readonly role: RoleDefinition;
  readonly principalId: string;
  readonly scope: string;
}

/** Checks the three flags, then opens the HSM and finds the role among its definitions; closes the client after fn. */
export async function withRoleAssignmentTarget(flags: ParsedFlags, fn: (t: RoleAssignmentTarget) => Promise<number>): Promise<number> {
  const principalId = checkedObjectId(required(flags, 'assignee'), '--assignee');
  const scope = checkedScope(required(flags, 'scope'));
  const wanted = required(flags, 'role');
  const target = resolveTarget(flags);
  return withAdminClient(target, async (admin) => {
    const role = findRole(await admin.listRoleDefinitions('/'), wanted);
    return fn({ admin, hsmUri: target.hsmUri, role, principalId, scope });
  });
}
