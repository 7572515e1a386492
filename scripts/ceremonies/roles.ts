import { ManagedHsmAdminClient, RoleAssignment, RoleDefinition } from '../clients/mhsm-admin';
import { UsageError } from '../flags';
import { CeremonyError } from '../failure';
import { GUID } from '../guid';

/**
 * Local RBAC of a Managed HSM as an operator drives it: roles named as the service names them (or by id), scopes
 * "/", "/keys" and "/keys/NAME", and assign/remove that are safe to repeat. The same REST calls against Azure
 * and the simulator (scripts/clients/mhsm-admin.ts).
 */
export const ADMINISTRATOR_ROLE_ID = 'a290e904-7015-4bba-90c8-60543313cdb4';
const SCOPE = /^\/(keys(\/[A-Za-z0-9-]{1,127})?)?$/;

export function checkedScope(scope: string): string {
  const s = scope.length > 1 ? scope.replace(/\/+$/, '') : scope;
  if (!SCOPE.test(s)) throw new UsageError(`--scope ${JSON.stringify(scope.slice(0, 140))}: allowed "/" (the whole HSM), "/keys" (every key) or "/keys/NAME" (one key)`);
  return s;
}

export function checkedObjectId(id: string, flag: string): string {
  if (!GUID.test(id)) throw new UsageError(`${flag} ${JSON.stringify(id.slice(0, 60))}: give the principal's object id (a GUID such as 00000000-0000-0000-0000-000000000000)`);
  return id.toLowerCase();
}

/** The GUID at the end of a role definition id ("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/<guid>"). */
export function roleGuidOf(roleDefinitionId: string): string {
  return roleDefinitionId.split('/').pop()!.toLowerCase();
}

/**
 * A role by the name the service gives it ("Managed HSM Crypto User", or without "Managed HSM "), its GUID or
 * its full id, among the definitions the HSM lists (so custom roles are found the same way).
 */
export function findRole(definitions: readonly RoleDefinition[], wanted: string): RoleDefinition {
  const w = wanted.trim().toLowerCase();
  const short = (n: string) => n.toLowerCase().replace(/^managed hsm /, '');
  const match = definitions.find((d) => d.name.toLowerCase() === w || d.id.toLowerCase() === w || roleGuidOf(d.id) === w || d.properties.roleName.toLowerCase() === w || short(d.properties.roleName) === w);
  if (!match) {
    throw new UsageError(`--role ${JSON.stringify(wanted.slice(0, 80))}: the HSM has no such role; its roles: ${definitions.map((d) => d.properties.roleName).sort().join(', ')}`);
  }
  return match;
}

export interface AssignmentView {
  readonly name: string;
  readonly role: string;
  readonly roleId: string;
  readonly principalId: string;
  readonly scope: string;
}

export function viewOf(a: RoleAssignment, definitions: readonly RoleDefinition[]): AssignmentView {
  const guid = roleGuidOf(a.properties.roleDefinitionId);
  const d = definitions.find((x) => roleGuidOf(x.id) === guid);
  return { name: a.name, role: d?.properties.roleName ?? guid, roleId: guid, principalId: a.properties.principalId.toLowerCase(), scope: a.properties.scope };
}

/** The assignments of exactly this role to this principal at exactly this scope. */
function matching(all: readonly RoleAssignment[], role: RoleDefinition, principalId: string, scope: string): RoleAssignment[] {
  const guid = roleGuidOf(role.id);
  return all.filter((a) => roleGuidOf(a.properties.roleDefinitionId) === guid && a.properties.principalId.toLowerCase() === principalId && a.properties.scope === scope);
}

export async function assignRole(admin: ManagedHsmAdminClient, role: RoleDefinition, principalId: string, scope: string): Promise<{ created: boolean; assignment: RoleAssignment }> {
  const existing = matching(await admin.listRoleAssignments(scope), role, principalId, scope);
  if (existing.length) return { created: false, assignment: existing[0] };
  return { created: true, assignment: await admin.createRoleAssignment(scope, roleGuidOf(role.id), principalId) };
}

/**
 * Removes every assignment of the role to the principal at the scope. Refuses to remove the last Administrator
 * at "/": nobody could then manage roles or the security domain of the HSM again.
 */
export async function removeRole(admin: ManagedHsmAdminClient, role: RoleDefinition, principalId: string, scope: string, allowNoAdministrator: boolean): Promise<RoleAssignment[]> {
  const all = await admin.listRoleAssignments(scope);
  const gone = matching(all, role, principalId, scope);
  if (!gone.length) return [];
  if (roleGuidOf(role.id) === ADMINISTRATOR_ROLE_ID && scope === '/' && !allowNoAdministrator) {
    const admins = all.filter((a) => roleGuidOf(a.properties.roleDefinitionId) === ADMINISTRATOR_ROLE_ID && a.properties.scope === '/');
    if (admins.length <= gone.length) {
      throw new CeremonyError(`${principalId} holds the last Administrator assignment at "/": without one nobody can manage roles or the security domain again. Assign Administrator to another principal first (or pass --allow-no-administrator). Nothing was removed.`);
    }
  }
  for (const a of gone) await admin.deleteRoleAssignment(scope, a.name);
  return gone;
}
