import { randomUUID } from 'crypto';
import { Journal } from '../store/journal';
import { errors } from '../http/errors';
import { RoleAssignmentRecord, collections } from './model';
import { ADMINISTRATOR_ROLE, BUILT_IN_ROLES, ROLE_DEFINITION_PREFIX, RoleDefinition, builtInRole, grants, roleGuid, scopesCovering } from './rbac-roles';

export { DataActions, BUILT_IN_ROLES, ROLE_DEFINITION_PREFIX, ADMINISTRATOR_ROLE, normaliseScope } from './rbac-roles';
export type { RoleDefinition } from './rbac-roles';

/**
 * Local RBAC of one instance: role assignments and custom role definitions in the metadata store, and the
 * authorization decision. A principal may perform a data action at a scope when one of its assignments at that
 * scope or above ("/" covers "/keys" covers "/keys/{name}") names a role that grants the action.
 */
export class Rbac {
  constructor(private readonly store: Journal, private readonly hsm: string, private readonly administrators: () => string[]) {}

  private get c(): string {
    return collections.roleAssignments(this.hsm);
  }

  private get dc(): string {
    return collections.roleDefinitions(this.hsm);
  }

  assignments(): RoleAssignmentRecord[] {
    return this.store.list<RoleAssignmentRecord>(this.c);
  }

  get(name: string): RoleAssignmentRecord | undefined {
    return this.store.get<RoleAssignmentRecord>(this.c, name.toLowerCase());
  }

  async put(a: RoleAssignmentRecord): Promise<RoleAssignmentRecord> {
    const rec = { ...a, name: a.name.toLowerCase(), principalId: a.principalId.toLowerCase(), roleDefinitionId: ROLE_DEFINITION_PREFIX + roleGuid(a.roleDefinitionId) };
    await this.store.commit([{ c: this.c, id: rec.name, v: rec }]);
    return rec;
  }

  async delete(name: string): Promise<void> {
    await this.store.commit([{ c: this.c, id: name.toLowerCase() }]);
  }

  customRoles(): RoleDefinition[] {
    return this.store.list<RoleDefinition>(this.dc);
  }

  /** Built-in first, then custom roles, as the service lists them. */
  roles(): RoleDefinition[] {
    return [...BUILT_IN_ROLES, ...this.customRoles()];
  }

  /** A role definition by full id or GUID, built-in or custom. */
  role(idOrGuid: string): RoleDefinition | undefined {
    const guid = roleGuid(idOrGuid);
    return builtInRole(guid) ?? this.store.get<RoleDefinition>(this.dc, guid);
  }

  async putRole(role: RoleDefinition): Promise<RoleDefinition> {
    await this.store.commit([{ c: this.dc, id: role.id, v: role }]);
    return role;
  }

  async deleteRole(guid: string): Promise<void> {
    await this.store.commit([{ c: this.dc, id: guid }]);
  }

  /** Administrators named at creation hold Administrator at "/" (the service creates those assignments). */
  async ensureAdministrators(): Promise<void> {
    for (const oid of this.administrators()) {
      const has = this.assignments().some((a) => a.principalId === oid.toLowerCase() && a.scope === '/' && roleGuid(a.roleDefinitionId) === ADMINISTRATOR_ROLE);
      if (!has) await this.put({ name: randomUUID(), scope: '/', roleDefinitionId: ROLE_DEFINITION_PREFIX + ADMINISTRATOR_ROLE, principalId: oid });
    }
  }

  /** The authorization decision for one data action at one scope ("/", "/keys" or "/keys/{lower-case name}"). */
  allows(principal: string, action: string, scope: string): boolean {
    const covering = scopesCovering(scope);
    const p = principal.toLowerCase();
    return this.assignments().some((a) => {
      if (a.principalId !== p || !covering.includes(a.scope)) return false;
      const role = this.role(a.roleDefinitionId);
      return role !== undefined && grants(role, action);
    });
  }

  /** Refuses a data-plane operation the caller holds no role for: 403 Forbidden, innererror ForbiddenByRbac. */
  require(principal: string, action: string, scope: string, operation: string): void {
    if (this.allows(principal, action, scope)) return;
    // Key Vault's wording for an RBAC refusal, on one line (Key Vault breaks it over lines, and clients that show
    // the first line would lose the action); the Managed HSM text for key operations is not in our sources.
    throw errors.forbiddenByRbac(`Caller is not authorized to perform action on resource. Action: '${action}'; Resource: '${scope}'; Caller: oid=${principal}; Assignment: (not found); Operation: ${operation}.`);
  }

  /** Refuses a role-management call (role assignments, role definitions) as the service does: 403 AccessDenied. */
  requireRoleManagement(principal: string, action: string, scope: string, activityId: string): void {
    if (!this.allows(principal, action, scope)) throw errors.accessDenied(`Not authorized to access ${action} on ${scope} (Activity ID: ${activityId})`);
  }
}
