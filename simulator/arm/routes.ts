import { Router } from '../http/router';
import { RequestContext, Reply } from '../http/server';
import { AUDIENCES, TokenAuthority, isRefusal } from '../identity/tokens';
import { ArmCodes, armErrors, shown } from './errors';
import { OperationRecord, RESOURCE_TYPES, ResourceKind, ResourceTypeInfo } from './model';
import { ArmService, ManagedHsmBackend, ResourceRef } from './service';
import { checkName, checkResourceGroup, checkSubscription, dedicatedHsmInput, jsonBody, managedHsmInput, patchInput, skipToken, top } from './validate';
import { deletedView, operationPath, operationView, resourceView } from './views';
import { registrationRoutes } from './registration-routes';

export interface ArmRouteDeps {
  service: ArmService;
  managedHsms: ManagedHsmBackend;
  authority: TokenAuthority;
  tenantId: string;
  /** https://<identity host>/<tenant>, named in 401 answers. */
  authorizationUri: () => string;
  /** https://127.0.0.1:<port>: used in absolute URLs when the request's Host header is unusable. */
  baseUrl: () => string;
  /** How long one provisioning step lasts (for Retry-After). */
  stepMs: number;
}

const METHODS = ['GET', 'PUT', 'PATCH', 'DELETE', 'POST', 'HEAD', 'OPTIONS'];

/** Resource types by lower-cased namespace, then lower-cased type. */
const NAMESPACES = new Map<string, { name: string; types: Map<string, ResourceTypeInfo> }>();
for (const t of Object.values(RESOURCE_TYPES)) {
  const ns = NAMESPACES.get(t.namespace.toLowerCase()) ?? { name: t.namespace, types: new Map() };
  ns.types.set(t.kind.toLowerCase(), t);
  NAMESPACES.set(t.namespace.toLowerCase(), ns);
}

/** Subscription-level collections that are not resources but are part of a served namespace. */
const KEYVAULT_EXTRAS = ['deletedmanagedhsms', 'checkmhsmnameavailability'];

/**
 * The Azure Resource Manager face, mounted on the simulator's control port (next to the token endpoint):
 * authentication (tokens for https://management.azure.com only), api-version per resource type, then the
 * resource service. Every path under these patterns answers in ARM's error shape, whatever the method.
 */
export function addArmRoutes(router: Router, deps: ArmRouteDeps): void {
  const add = (pattern: string, handler: (ctx: RequestContext, p: Record<string, string>, caller: string) => Promise<Reply> | Reply) => {
    for (const m of METHODS) {
      router.add(m, pattern, async (ctx, p) => {
        const caller = authenticate(ctx, deps);
        return handler(ctx, p, caller);
      });
    }
  };

  // First: their literal segments (register, Microsoft.Features) must win over the resource patterns below.
  for (const [pattern, handler] of registrationRoutes(deps.service.registrations, checkApiVersion)) add(pattern, (ctx, p) => handler(ctx, p));

  add('/subscriptions/:sub/resourceGroups/:rg/providers/:ns/:type/:name', async (ctx, p, caller) => {
    const t = resourceType(p.ns, p.type);
    const apiVersion = checkApiVersion(ctx, t.apiVersions, t.kind);
    const ref: ResourceRef = { subscriptionId: checkSubscription(p.sub), resourceGroup: checkResourceGroup(p.rg), kind: t.kind, name: p.name };
    const view = (r: Parameters<typeof resourceView>[0]) => resourceView(r, deps.managedHsms);
    switch (ctx.method) {
      case 'GET':
        return { status: 200, body: view(deps.service.get(ref)) };
      case 'PUT': {
        // Names are checked where resources are made; elsewhere an impossible name is simply not found, as on ARM.
        checkName(t.kind, p.name);
        const body = jsonBody(ctx);
        const input = t.kind === 'dedicatedHSMs' ? dedicatedHsmInput(body) : managedHsmInput(body, deps.tenantId);
        const res = await deps.service.put(ref, input, caller);
        const headers = res.operation ? asyncHeaders(ctx, deps, res.operation, apiVersion, false, t.kind) : {};
        return { status: res.status, body: view(res.record), headers };
      }
      case 'PATCH': {
        const tags = patchInput(jsonBody(ctx));
        return { status: 200, body: view(await deps.service.patchTags(ref, tags, caller)) };
      }
      case 'DELETE': {
        const res = await deps.service.delete(ref, caller);
        if (!res.operation) return { status: res.status };
        const headers = t.kind === 'managedHSMs' ? managedHsmLocation(ctx, deps, res.operation, apiVersion) : asyncHeaders(ctx, deps, res.operation, apiVersion, true, t.kind);
        return { status: 202, headers };
      }
      default:
        throw armErrors.methodNotAllowed(ctx.method, ctx.path);
    }
  });

  add('/subscriptions/:sub/resourceGroups/:rg/providers/:ns/:type', (ctx, p) => {
    const t = resourceType(p.ns, p.type);
    checkApiVersion(ctx, t.apiVersions, t.kind);
    if (ctx.method !== 'GET') throw armErrors.methodNotAllowed(ctx.method, ctx.path);
    const sub = checkSubscription(p.sub);
    return listReply(ctx, deps, deps.service.list(sub, t.kind, checkResourceGroup(p.rg)));
  });

  add('/subscriptions/:sub/providers/:ns/:type', (ctx, p) => {
    const ns = namespace(p.ns);
    const lower = p.type.toLowerCase();
    if (ns.name === 'Microsoft.KeyVault' && KEYVAULT_EXTRAS.includes(lower)) {
      checkApiVersion(ctx, RESOURCE_TYPES.managedHSMs.apiVersions, 'managedHSMs');
      checkSubscription(p.sub);
      if (lower === 'deletedmanagedhsms') {
        if (ctx.method !== 'GET') throw armErrors.methodNotAllowed(ctx.method, ctx.path);
        return { status: 200, body: { value: deps.service.listDeleted(checkSubscription(p.sub)).map(deletedView) } };
      }
      if (ctx.method !== 'POST') throw armErrors.methodNotAllowed(ctx.method, ctx.path);
      return nameAvailability(ctx, deps);
    }
    const t = resourceType(p.ns, p.type);
    checkApiVersion(ctx, t.apiVersions, t.kind);
    if (ctx.method !== 'GET') throw armErrors.methodNotAllowed(ctx.method, ctx.path);
    return listReply(ctx, deps, deps.service.list(checkSubscription(p.sub), t.kind));
  });

  add('/subscriptions/:sub/providers/:ns/locations/:loc/:what/:id', (ctx, p) => {
    const ns = namespace(p.ns);
    const versions = [...new Set([...ns.types.values()].flatMap((t) => t.apiVersions))];
    checkApiVersion(ctx, versions, [...ns.types.keys()].join(', '));
    if (ctx.method !== 'GET') throw armErrors.methodNotAllowed(ctx.method, ctx.path);
    const sub = checkSubscription(p.sub);
    const what = p.what.toLowerCase();
    const keyVault = ns.name === 'Microsoft.KeyVault';
    if (what === 'deletedmanagedhsms' && keyVault) return { status: 200, body: deletedView(deps.service.getDeleted(sub, p.loc, p.id)) };
    const known = ['operationStatuses', 'operationResults', ...(keyVault ? ['managedHsmOperationResults', 'deletedManagedHSMs'] : [])];
    if (!known.some((k) => k.toLowerCase() === what)) throw armErrors.invalidResourceType(p.what, ns.name, known);
    const op = deps.service.operationRecord(p.id.toLowerCase());
    if (!op || op.subscriptionId !== sub || op.namespace !== ns.name) throw armErrors.notFound(`The operation '${shown(p.id)}' was not found.`);
    if (what === 'operationstatuses') return { status: 200, body: operationView(op) };
    if (what === 'managedhsmoperationresults') {
      // Location polling reads the status code alone: 202 running, 200 done, an error status with the error when failed.
      if (op.status === 'InProgress') return { status: 202, headers: managedHsmLocation(ctx, deps, op, ctx.query.get('api-version')!) };
      if (op.status === 'Failed') return { status: 400, body: { error: op.error } };
      return { status: 200 };
    }
    // operationResults: 202 while running, then the outcome.
    if (op.status === 'InProgress') return { status: 202, headers: { location: absolute(ctx, deps, operationPath(op, 'operationResults'), ctx.query.get('api-version')!) } };
    if (op.status === 'Failed') return { status: 200, body: operationView(op) };
    return { status: 204 };
  });

  add('/subscriptions/:sub/providers/:ns/locations/:loc/:what/:name/:action', async (ctx, p) => {
    const ns = namespace(p.ns);
    if (ns.name !== 'Microsoft.KeyVault' || p.what.toLowerCase() !== 'deletedmanagedhsms' || p.action.toLowerCase() !== 'purge') {
      throw armErrors.invalidResourceType(`locations/${p.what}/${p.action}`, ns.name, ['locations/deletedManagedHSMs/{name}/purge']);
    }
    const apiVersion = checkApiVersion(ctx, RESOURCE_TYPES.managedHSMs.apiVersions, 'managedHSMs');
    if (ctx.method !== 'POST') throw armErrors.methodNotAllowed(ctx.method, ctx.path);
    const op = await deps.service.purge(checkSubscription(p.sub), p.loc, p.name);
    return { status: 202, headers: managedHsmLocation(ctx, deps, op, apiVersion) };
  });
}

/**
 * What a Managed HSM DELETE, and a purge, answer (ManagedHsm_Delete.json, DeletedManagedHsm_Purge.json): a Location
 * at .../locations/{loc}/managedHsmOperationResults/{id}, no Azure-AsyncOperation; Retry-After when a step is ≥ 1 s.
 */
function managedHsmLocation(ctx: RequestContext, deps: ArmRouteDeps, op: OperationRecord, apiVersion: string): Record<string, string> {
  const retry = Math.floor(deps.stepMs / 1000);
  return {
    location: absolute(ctx, deps, operationPath(op, 'managedHsmOperationResults'), apiVersion),
    ...(retry >= 1 ? { 'retry-after': String(Math.min(retry, 60)) } : {}),
  };
}

/** Checks the bearer token: issued here, for https://management.azure.com, for the simulator's tenant. */
function authenticate(ctx: RequestContext, deps: ArmRouteDeps): string {
  const uri = deps.authorizationUri();
  const auth = ctx.headers.authorization;
  if (!auth) throw armErrors.unauthenticated(ArmCodes.AuthenticationFailed, "Authentication failed. The 'Authorization' header is missing.", uri);
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!m) throw armErrors.unauthenticated(ArmCodes.AuthenticationFailed, "Authentication failed. The 'Authorization' header is provided in an invalid format.", uri);
  const claims = deps.authority.validate(m[1], AUDIENCES.arm);
  if (isRefusal(claims)) {
    switch (claims.reason) {
      case 'expired':
        throw armErrors.unauthenticated(ArmCodes.ExpiredAuthenticationToken, `The access token is invalid: ${claims.message}.`, uri);
      case 'audience':
        throw armErrors.unauthenticated(
          ArmCodes.InvalidAuthenticationTokenAudience,
          `The access token has been obtained for wrong audience or resource: ${claims.message}. It should exactly match ${AUDIENCES.arm} (scope ${AUDIENCES.arm}/.default).`,
          uri,
        );
      default:
        throw armErrors.unauthenticated(ArmCodes.InvalidAuthenticationToken, `The access token is invalid: ${claims.message}.`, uri);
    }
  }
  if (claims.tid !== deps.tenantId) {
    throw armErrors.unauthenticated(
      ArmCodes.InvalidAuthenticationTokenTenant,
      `The access token is from the wrong issuer: tenant '${shown(claims.tid, 40)}'. It must match the tenant '${deps.tenantId}' associated with this subscription.`,
      uri,
    );
  }
  return claims.oid;
}

function namespace(ns: string) {
  const found = NAMESPACES.get(ns.toLowerCase());
  if (!found) throw armErrors.invalidNamespace(ns);
  return found;
}

function resourceType(ns: string, type: string): ResourceTypeInfo {
  const n = namespace(ns);
  const t = n.types.get(type.toLowerCase());
  if (!t) throw armErrors.invalidResourceType(type, n.name, [...n.types.values()].map((x) => x.kind));
  return t;
}

function checkApiVersion(ctx: RequestContext, supported: readonly string[], type: string): string {
  const v = ctx.query.get('api-version');
  if (v === null || v === '') throw armErrors.missingApiVersion();
  if (!/^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|beta|alpha))?$/i.test(v)) throw armErrors.invalidApiVersion(v, supported);
  if (!supported.includes(v.toLowerCase())) throw armErrors.noRegisteredProvider(v, type, supported);
  return v.toLowerCase();
}

function base(ctx: RequestContext, deps: ArmRouteDeps): string {
  return /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/.test(ctx.host) ? `https://${ctx.host}` : deps.baseUrl();
}

function absolute(ctx: RequestContext, deps: ArmRouteDeps, path: string, apiVersion: string): string {
  return `${base(ctx, deps)}${path}?api-version=${encodeURIComponent(apiVersion)}`;
}

/** Azure-AsyncOperation (absolute, what the poller follows); for DELETE also Location; Retry-After when ≥ 1 s. */
function asyncHeaders(ctx: RequestContext, deps: ArmRouteDeps, op: OperationRecord, apiVersion: string, withLocation: boolean, kind: ResourceKind): Record<string, string> {
  const steps = op.action === 'delete' ? 1 : kind === 'dedicatedHSMs' ? 4 : 1;
  const retry = Math.floor((steps * deps.stepMs) / 1000);
  return {
    'azure-asyncoperation': absolute(ctx, deps, operationPath(op, 'operationStatuses'), apiVersion),
    ...(withLocation ? { location: absolute(ctx, deps, operationPath(op, 'operationResults'), apiVersion) } : {}),
    ...(retry >= 1 ? { 'retry-after': String(Math.min(retry, 60)) } : {}),
  };
}

/** A list page: $top items from $skiptoken on, with nextLink while more remain. */
function listReply(ctx: RequestContext, deps: ArmRouteDeps, all: Parameters<typeof resourceView>[0][]): Reply {
  const n = top(ctx.query);
  const from = skipToken(ctx.query);
  const page = n === undefined ? all.slice(from) : all.slice(from, from + n);
  const body: Record<string, unknown> = { value: page.map((r) => resourceView(r, deps.managedHsms)) };
  if (n !== undefined && from + n < all.length) {
    const q = new URLSearchParams(ctx.query);
    q.set('$skiptoken', String(from + n));
    body.nextLink = `${base(ctx, deps)}${ctx.path}?${q.toString()}`;
  }
  return { status: 200, body };
}

function nameAvailability(ctx: RequestContext, deps: ArmRouteDeps): Reply {
  const body = jsonBody(ctx);
  const name = body.name;
  if (typeof name !== 'string' || name === '') throw armErrors.invalidParameter("The property 'name' is required.");
  let why: string | undefined;
  try {
    checkName('managedHSMs', name);
  } catch (err) {
    why = (err as Error).message;
  }
  if (why) return { status: 200, body: { nameAvailable: false, reason: 'AccountNameInvalid', message: why } };
  const taken = deps.service.managedNameTaken(name);
  if (!taken) return { status: 200, body: { nameAvailable: true } };
  const message = taken === 'deleted' ? `The name '${name}' is in use by a soft-deleted managed HSM until it is purged.` : `The name '${name}' is already in use.`;
  return { status: 200, body: { nameAvailable: false, reason: 'AlreadyExists', message } };
}
