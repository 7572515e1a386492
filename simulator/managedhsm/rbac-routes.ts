import { errors } from '../http/errors';
import { Json, isObject, jsonBody, kind, optObject, optString, reqString } from '../http/validate';
import { Reply } from '../http/server';
import { HsmContext } from './context';
import { DataActions as A, ROLE_DEFINITION_PREFIX, RoleDefinition, normaliseScope } from './rbac';
import { KNOWN_DATA_ACTIONS, Permission, builtInRole, roleGuid, scopesCovering } from './rbac-roles';
import { GUID } from '../identity/principals';
import { RoleAssignmentRecord } from './model';

const RBAC_PATH = /^(.*?)\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions)(?:\/([^/]*))?\/?$/i;

/** Scopes a custom role may be made assignable at (the REST specification's RoleScope). */
const ASSIGNABLE_SCOPES = ['/', '/keys'];

/** True when the path belongs to the local RBAC API: {scope}/providers/Microsoft.Authorization/... */
export function isRbacPath(path: string): boolean {
  return RBAC_PATH.test(path);
}

/** Role assignments and role definitions (built-in and custom) under a scope: "/", "/keys" or "/keys/{name}". */
export async function handleRbac(ctx: HsmContext): Promise<Reply> {
  const m = RBAC_PATH.exec(ctx.path)!;
  const scope = normaliseScope(decode(m[1]));
  if (!scope) throw errors.badParameter(`The scope '${m[1].slice(0, 100)}' is not valid: "/", "/keys" or "/keys/{name}".`);
  const item = m[3] === undefined || m[3] === '' ? undefined : decode(m[3]);
  return m[2].toLowerCase() === 'roledefinitions' ? roleDefinitions(ctx, scope, item) : roleAssignments(ctx, scope, item);
}

async function roleDefinitions(ctx: HsmContext, scope: string, item: string | undefined): Promise<Reply> {
  const rbac = ctx.instance.rbac;
  const need = (action: string) => rbac.requireRoleManagement(ctx.principal, action, scope, ctx.requestId);
  if (item === undefined) {
    if (ctx.method !== 'GET') throw errors.methodNotAllowed(ctx.method, ctx.path);
    need(A.roleDefinitionsRead);
    let roles = rbac.roles();
    const filter = ctx.query.get('$filter');
    if (filter !== null) {
      const fm = /^roleName eq '([^']*)'$/i.exec(filter.trim());
      if (!fm) throw errors.badParameter(`The $filter '${filter.slice(0, 80)}' is not supported: use roleName eq '<name>'.`);
      roles = roles.filter((r) => r.roleName === fm[1]);
    }
    return { status: 200, body: { value: roles.map(definition), nextLink: null } };
  }
  if (ctx.method === 'GET') {
    need(A.roleDefinitionsRead);
    const role = rbac.role(item);
    if (!role) throw errors.roleDefinitionNotFound(`Requested role definition not found (Activity ID: ${ctx.requestId})`);
    return { status: 200, body: definition(role) };
  }
  if (ctx.method !== 'PUT' && ctx.method !== 'DELETE') throw errors.methodNotAllowed(ctx.method, ctx.path);
  need(ctx.method === 'PUT' ? A.roleDefinitionsWrite : A.roleDefinitionsDelete);
  if (scope !== '/') throw errors.badParameter(`Role definitions are created and deleted at scope "/" only; got '${scope}'.`);
  if (builtInRole(roleGuid(item))) throw errors.badParameter(`Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID. (Activity ID: ${ctx.requestId})`);
  if (ctx.method === 'DELETE') {
    const role = rbac.role(item);
    if (!role) throw errors.roleDefinitionNotFound(`Requested role definition not found (Activity ID: ${ctx.requestId})`);
    // Azure RBAC's rule: a role still referenced by assignments cannot be deleted.
    const users = rbac.assignments().filter((a) => roleGuid(a.roleDefinitionId) === role.id);
    if (users.length) throw errors.roleDefinitionHasAssignments(`There are existing role assignments referencing role (code: RoleDefinitionHasAssignments): ${users.length} assignment(s), e.g. ${users[0].name}. Delete them first.`);
    await rbac.deleteRole(role.id);
    return { status: 200, body: definition(role) };
  }
  if (!GUID.test(item)) throw errors.badParameter(`Role definition name must be a GUID (Activity ID: ${ctx.requestId})`);
  const role = parseCustomRole(item.toLowerCase(), jsonBody(ctx));
  const clash = rbac.roles().find((r) => r.id !== role.id && r.roleName.toLowerCase() === role.roleName.toLowerCase());
  if (clash) throw errors.conflict(`A role definition named '${role.roleName.slice(0, 100)}' already exists (${clash.id}); role names are unique.`);
  const existing = rbac.role(role.id);
  if (existing) {
    // Narrowing where a role is assignable must not strand its assignments.
    const stranded = rbac.assignments().find((a) => roleGuid(a.roleDefinitionId) === role.id && !assignableAt(role, a.scope));
    if (stranded) throw errors.badParameter(`The role is assigned at scope '${stranded.scope}' (${stranded.name}), which its new assignableScopes would not cover.`);
  }
  return { status: 201, body: definition(await rbac.putRole(role)) };
}

async function roleAssignments(ctx: HsmContext, scope: string, item: string | undefined): Promise<Reply> {
  const rbac = ctx.instance.rbac;
  const need = (action: string) => rbac.requireRoleManagement(ctx.principal, action, scope, ctx.requestId);
  if (item === undefined) {
    if (ctx.method !== 'GET') throw errors.methodNotAllowed(ctx.method, ctx.path);
    need(A.roleAssignmentsRead);
    const filter = ctx.query.get('$filter');
    // Azure RBAC's List For Scope: unfiltered and with principalId eq, the assignments at, above and below the
    // scope; atScope(), at or above it only. Never those of a sibling scope (another key).
    let list = rbac.assignments();
    if (filter === null) list = list.filter((a) => onPathOf(scope, a.scope));
    else {
      const pm = /^principalId eq '([^']+)'$/i.exec(filter.trim());
      if (pm) list = list.filter((a) => a.principalId === pm[1].toLowerCase() && onPathOf(scope, a.scope));
      else if (/^atScope\(\)$/i.test(filter.trim())) list = list.filter((a) => scopesCovering(scope).includes(a.scope));
      else throw errors.badParameter(`The $filter '${filter.slice(0, 80)}' is not supported: use atScope() or principalId eq '<id>'.`);
    }
    return { status: 200, body: { value: list.map(assignment), nextLink: null } };
  }
  if (!GUID.test(item)) throw errors.badParameter(`The role assignment name '${item.slice(0, 64)}' must be a GUID.`);
  const notFound = () => errors.roleAssignmentNotFound(`Requested role assignment not found (Activity ID: ${ctx.requestId})`);
  // An assignment's id is its scope plus its name: one made at another scope is not found here, so that the right
  // checked at this scope never reaches an assignment above it or beside it.
  const atThisScope = (name: string) => {
    const a = rbac.get(name);
    return a && a.scope === scope ? a : undefined;
  };
  if (ctx.method === 'GET') {
    need(A.roleAssignmentsRead);
    const a = atThisScope(item);
    if (!a) throw notFound();
    return { status: 200, body: assignment(a) };
  }
  if (ctx.method === 'DELETE') {
    need(A.roleAssignmentsDelete);
    const a = atThisScope(item);
    if (!a) throw notFound();
    await rbac.delete(item);
    return { status: 200, body: assignment(a) };
  }
  if (ctx.method !== 'PUT') throw errors.methodNotAllowed(ctx.method, ctx.path);
  need(A.roleAssignmentsWrite);
  const props = optObject(jsonBody(ctx), 'properties');
  if (!props) throw errors.badParameter("Property 'properties' ({roleDefinitionId, principalId}) is required.");
  const roleId = reqString(props, 'roleDefinitionId');
  const principalId = reqString(props, 'principalId');
  if (!GUID.test(principalId)) throw errors.badParameter(`principalId must be a GUID; got '${principalId.slice(0, 64)}'.`);
  const role = rbac.role(roleId);
  if (!role) throw errors.badParameter(`Role definition ${roleId.slice(0, 120)} does not exist: give the id of a built-in or custom role definition.`);
  if (!assignableAt(role, scope)) throw errors.badParameter(`Role '${role.roleName.slice(0, 100)}' is assignable at ${role.assignableScopes.join(', ')} and below, not at '${scope}'.`);
  const existing = rbac.get(item);
  if (existing && (existing.scope !== scope || existing.principalId !== principalId.toLowerCase() || roleGuid(existing.roleDefinitionId) !== role.id)) {
    throw errors.conflict(`Role assignment ${item} already exists with other properties; role assignments cannot be updated.`);
  }
  const dup = rbac.assignments().find((a) => a.name !== item.toLowerCase() && a.scope === scope && a.principalId === principalId.toLowerCase() && roleGuid(a.roleDefinitionId) === role.id);
  if (dup) throw errors.conflict(`The role assignment already exists (${dup.name}).`);
  const a = await rbac.put({ name: item, scope, roleDefinitionId: ROLE_DEFINITION_PREFIX + role.id, principalId });
  return { status: existing ? 200 : 201, body: assignment(a) };
}

/** Whether one scope is at, above or below the other ("/keys/a" and "/keys/b" are neither). */
function onPathOf(scope: string, other: string): boolean {
  return scopesCovering(scope).includes(other) || scopesCovering(other).includes(scope);
}

/** A scope is covered by an assignable scope at or above it. */
function assignableAt(role: RoleDefinition, scope: string): boolean {
  return role.assignableScopes.some((s) => scopesCovering(scope).includes(s));
}

/** The body of PUT .../roleDefinitions/{guid}: a custom role whose permissions name only known data actions. */
function parseCustomRole(id: string, body: Json): RoleDefinition {
  const props = optObject(body, 'properties');
  if (!props) throw errors.badParameter("Property 'properties' ({roleName, type, permissions, assignableScopes}) is required.");
  const roleName = reqString(props, 'roleName');
  if (roleName.length > 512) throw errors.badParameter('properties.roleName is at most 512 characters.');
  const type = optString(props, 'type') ?? 'CustomRole';
  if (type !== 'CustomRole') throw errors.badParameter(`properties.type must be "CustomRole"; got '${type.slice(0, 40)}' (built-in roles cannot be created).`);
  const description = optString(props, 'description') ?? '';
  const rawPerms = props.permissions ?? [];
  if (!Array.isArray(rawPerms)) throw errors.badParameter(`properties.permissions must be an array, got ${kind(rawPerms)}.`);
  const permissions: Permission[] = rawPerms.map((p: unknown, i: number) => {
    if (!isObject(p)) throw errors.badParameter(`properties.permissions[${i}] must be an object.`);
    const list = (prop: keyof Permission): string[] => {
      const v = p[prop] ?? [];
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw errors.badParameter(`properties.permissions[${i}].${prop} must be an array of strings.`);
      return v as string[];
    };
    const perm: Permission = { actions: list('actions'), notActions: list('notActions'), dataActions: list('dataActions'), notDataActions: list('notDataActions') };
    if (perm.actions.length || perm.notActions.length) throw errors.badParameter(`properties.permissions[${i}]: custom Managed HSM roles hold data actions only; actions and notActions must be empty.`);
    for (const a of [...perm.dataActions, ...perm.notDataActions]) {
      if (!KNOWN_DATA_ACTIONS.has(a)) throw errors.badParameter(`properties.permissions[${i}]: '${a.slice(0, 120)}' is not a Managed HSM data action (for example Microsoft.KeyVault/managedHsm/keys/read/action; wildcards are not accepted).`);
    }
    return perm;
  });
  const rawScopes = props.assignableScopes ?? ['/'];
  if (!Array.isArray(rawScopes) || rawScopes.length === 0 || rawScopes.some((s) => typeof s !== 'string')) throw errors.badParameter('properties.assignableScopes must be a non-empty array of scopes ("/" or "/keys").');
  const assignableScopes = [...new Set((rawScopes as string[]).map((s) => normaliseScope(s) ?? s))];
  for (const s of assignableScopes) if (!ASSIGNABLE_SCOPES.includes(s)) throw errors.badParameter(`properties.assignableScopes: '${s.slice(0, 100)}' is not a scope a role can be assignable at: "/" or "/keys".`);
  return { id, roleName, description, roleType: 'CustomRole', permissions, assignableScopes };
}

function assignment(a: RoleAssignmentRecord) {
  return {
    id: `${a.scope === '/' ? '' : a.scope}/providers/Microsoft.Authorization/roleAssignments/${a.name}`,
    name: a.name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: { scope: a.scope, roleDefinitionId: ROLE_DEFINITION_PREFIX + roleGuid(a.roleDefinitionId), principalId: a.principalId },
  };
}

function definition(r: RoleDefinition) {
  return {
    id: ROLE_DEFINITION_PREFIX + r.id,
    name: r.id,
    type: 'Microsoft.Authorization/roleDefinitions',
    properties: { assignableScopes: r.assignableScopes, description: r.description, permissions: r.permissions, roleName: r.roleName, type: r.roleType },
  };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw errors.badParameter(`The path segment '${s.slice(0, 64)}' is not valid percent-encoding.`);
  }
}
