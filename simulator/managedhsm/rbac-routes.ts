import { errors } from '../http/errors';
import { jsonBody, optObject, reqString } from '../http/validate';
import { Reply } from '../http/server';
import { HsmContext } from './context';
import { BUILT_IN_ROLES, DataActions as A, ROLE_DEFINITION_PREFIX, RoleDefinition, findRole, normaliseScope } from './rbac';
import { GUID } from '../identity/principals';
import { RoleAssignmentRecord } from './model';

const RBAC_PATH = /^(.*?)\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions)(?:\/([^/]*))?\/?$/i;

/** True when the path belongs to the local RBAC API: {scope}/providers/Microsoft.Authorization/... */
export function isRbacPath(path: string): boolean {
  return RBAC_PATH.test(path);
}

/**
 * Role assignments and role definitions under a scope ("/", "/keys", "/keys/{name}"). Built-in role definitions
 * are listed and readable; custom role definitions are refused as not supported.
 */
export async function handleRbac(ctx: HsmContext): Promise<Reply> {
  const m = RBAC_PATH.exec(ctx.path)!;
  const scope = normaliseScope(decode(m[1]));
  if (!scope) throw errors.badParameter(`The scope '${m[1].slice(0, 100)}' is not valid: "/", "/keys" or "/keys/{name}".`);
  const rbac = ctx.instance.rbac;
  const item = m[3] === undefined || m[3] === '' ? undefined : decode(m[3]);
  if (m[2].toLowerCase() === 'roledefinitions') {
    if (ctx.method === 'PUT' || ctx.method === 'DELETE') {
      rbac.require(ctx.principal, ctx.method === 'PUT' ? A.roleDefinitionsWrite : A.roleDefinitionsDelete, scope, 'role definition write');
      throw errors.notSupported('Custom role definitions');
    }
    if (ctx.method !== 'GET') throw errors.methodNotAllowed(ctx.method, ctx.path);
    rbac.require(ctx.principal, A.roleDefinitionsRead, scope, 'role definition read');
    if (item === undefined) return { status: 200, body: { value: BUILT_IN_ROLES.map((r) => definition(r)), nextLink: null } };
    const role = findRole(item);
    if (!role) throw errors.roleDefinitionNotFound(`Role definition ${item.slice(0, 64)} was not found.`);
    return { status: 200, body: definition(role) };
  }
  if (item === undefined) {
    if (ctx.method !== 'GET') throw errors.methodNotAllowed(ctx.method, ctx.path);
    rbac.require(ctx.principal, A.roleAssignmentsRead, scope, 'role assignment read');
    const filter = ctx.query.get('$filter');
    let list = rbac.assignments();
    if (filter !== null) {
      const pm = /^principalId eq '([^']+)'$/i.exec(filter.trim());
      if (pm) list = list.filter((a) => a.principalId === pm[1].toLowerCase());
      else if (/^atScope\(\)$/i.test(filter.trim())) list = list.filter((a) => a.scope === scope);
      else throw errors.badParameter(`The $filter '${filter.slice(0, 80)}' is not supported: use atScope() or principalId eq '<id>'.`);
    }
    return { status: 200, body: { value: list.map(assignment), nextLink: null } };
  }
  if (!GUID.test(item)) throw errors.badParameter(`The role assignment name '${item.slice(0, 64)}' must be a GUID.`);
  if (ctx.method === 'GET') {
    rbac.require(ctx.principal, A.roleAssignmentsRead, scope, 'role assignment read');
    const a = rbac.get(item);
    if (!a) throw errors.roleAssignmentNotFound(`Role assignment ${item} was not found.`);
    return { status: 200, body: assignment(a) };
  }
  if (ctx.method === 'DELETE') {
    rbac.require(ctx.principal, A.roleAssignmentsDelete, scope, 'role assignment delete');
    const a = rbac.get(item);
    if (!a) throw errors.roleAssignmentNotFound(`Role assignment ${item} was not found.`);
    await rbac.delete(item);
    return { status: 200, body: assignment(a) };
  }
  if (ctx.method === 'PUT') {
    rbac.require(ctx.principal, A.roleAssignmentsWrite, scope, 'role assignment write');
    const props = optObject(jsonBody(ctx), 'properties');
    if (!props) throw errors.badParameter("Property 'properties' is required.");
    const roleId = reqString(props, 'roleDefinitionId');
    const principalId = reqString(props, 'principalId');
    const role = findRole(roleId);
    if (!role) throw errors.badParameter(`Role definition ${roleId.slice(0, 120)} does not exist.`);
    if (!GUID.test(principalId)) throw errors.badParameter(`principalId must be a GUID; got '${principalId.slice(0, 64)}'.`);
    const existing = rbac.get(item);
    if (existing && (existing.scope !== scope || existing.principalId !== principalId.toLowerCase() || findRole(existing.roleDefinitionId)?.id !== role.id)) {
      throw errors.conflict(`Role assignment ${item} already exists with other properties; role assignments cannot be updated.`);
    }
    const dup = rbac.assignments().find((a) => a.name !== item.toLowerCase() && a.scope === scope && a.principalId === principalId.toLowerCase() && findRole(a.roleDefinitionId)?.id === role.id);
    if (dup) throw errors.conflict(`The role assignment already exists (${dup.name}).`);
    const a = await rbac.put({ name: item, scope, roleDefinitionId: ROLE_DEFINITION_PREFIX + role.id, principalId });
    return { status: existing ? 200 : 201, body: assignment(a) };
  }
  throw errors.methodNotAllowed(ctx.method, ctx.path);
}

function assignment(a: RoleAssignmentRecord) {
  return {
    id: `${a.scope === '/' ? '' : a.scope}/providers/Microsoft.Authorization/roleAssignments/${a.name}`,
    name: a.name,
    type: 'Microsoft.Authorization/roleAssignments',
    properties: { scope: a.scope, roleDefinitionId: a.roleDefinitionId, principalId: a.principalId },
  };
}

function definition(r: RoleDefinition) {
  return {
    id: ROLE_DEFINITION_PREFIX + r.id,
    name: r.id,
    type: 'Microsoft.Authorization/roleDefinitions',
    properties: {
      roleName: r.roleName,
      description: r.description,
      type: 'AKVBuiltInRole',
      permissions: [{ actions: [], notActions: [], dataActions: r.dataActions, notDataActions: [] }],
      assignableScopes: ['/'],
    },
  };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw errors.badParameter(`The path segment '${s.slice(0, 64)}' is not valid percent-encoding.`);
  }
}
