import { ServiceError, errors } from '../http/errors';
import { Handler, Router } from '../http/router';
import { AppHandler, Reply, RequestContext } from '../http/server';
import { AUDIENCES, TokenAuthority, TokenClaims, isRefusal } from '../identity/tokens';
import { keyVaultTokenMessage } from '../identity/key-vault-token-errors';
import { AuditTrail } from '../audit/audit-trail';
import { buildAuditEvent } from '../audit/audit-event';
import { auditOperation } from '../audit/operations';
import { HsmContext } from './context';
import { ManagedHsmInstance } from './instance';
import { addKeyRoutes } from './key-routes';
import { addCryptoRoutes } from './crypto-routes';
import { handleRbac, isRbacPath } from './rbac-routes';
import { addSecurityDomainRoutes } from './sd-routes';
import { addFullBackupRoutes } from './backup-routes';
import { addReleaseRoutes } from './release-routes';
import { HsmPlatform } from '../attestation/hsm-platform';
import { addSettingsRoutes } from './settings-routes';

/** api-versions the data plane accepts (7.2 brought Managed HSM; KeyClient 4.10 sends 2025-07-01). */
export const API_VERSIONS = ['7.2', '7.3', '7.4-preview.1', '7.4', '7.5', '7.6-preview.1', '7.6-preview.2', '7.6', '2025-06-01-preview', '2025-07-01'];

export interface DataPlaneDeps {
  authority: TokenAuthority;
  tenantId: string;
  /** https://<identity host>/<tenant>: where the 401 challenge sends clients for a token. */
  authorizationUri: () => string;
  /** Where every authenticated request's AuditEvent record goes. */
  audit: AuditTrail;
  /** The ARM id of an instance (its AuditEvent resourceId). */
  resourceIdOf: (hsmName: string) => string;
  platform: HsmPlatform;
}

const router = new Router<HsmContext>();
addReleaseRoutes(router);
addKeyRoutes(router);
addCryptoRoutes(router);
addFullBackupRoutes(router);
addSettingsRoutes(router);

/**
 * Routes that answer before activation (the security-domain API lives here). Other faces register theirs with
 * addPreActivationRoute; until one does, /securitydomain answers "not supported".
 */
const preActivation = new Router<HsmContext>();
export function addPreActivationRoute(method: string, pattern: string, handler: Handler<HsmContext>): void {
  preActivation.add(method, pattern, handler);
}
addSecurityDomainRoutes(addPreActivationRoute);

/**
 * The Managed HSM data plane of one instance: authentication (401 challenge, token check), api-version,
 * activation, then routing to the key, crypto and RBAC handlers.
 */
export function managedHsmApp(instance: ManagedHsmInstance, deps: DataPlaneDeps): AppHandler {
  return async (ctx: RequestContext) => {
    const started = Date.now();
    const claims = authenticate(ctx, deps);
    // Every authenticated request leaves one AuditEvent record, allowed or refused, before it is answered.
    let reply: Reply | undefined;
    let failure: unknown;
    try {
      reply = await serve(ctx, claims, instance, deps.platform);
    } catch (err) {
      failure = err;
    }
    audit(deps, instance, ctx, claims, started, reply, failure);
    if (failure !== undefined) throw failure;
    return reply!;
  };
}

/** The 401 challenge for a missing or invalid token (not audited: the service logs authenticated requests). */
function authenticate(ctx: RequestContext, deps: DataPlaneDeps): TokenClaims {
  const challenge = { 'www-authenticate': `Bearer authorization="${deps.authorizationUri()}", resource="${AUDIENCES.managedHsm}"` };
  const auth = ctx.headers.authorization;
  if (!auth) throw errors.unauthorized('AKV10000: Request is missing a Bearer or PoP token.', challenge);
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  if (!m) throw errors.unauthorized('AKV10000: The Authorization header is not a Bearer token.', challenge);
  const claims = deps.authority.validate(m[1], AUDIENCES.managedHsm);
  if (isRefusal(claims)) throw errors.unauthorized(keyVaultTokenMessage(claims), challenge);
  if (claims.tid !== deps.tenantId) throw errors.unauthorized(`AKV10032: Invalid issuer: the token is for tenant ${claims.tid}, this HSM belongs to ${deps.tenantId}.`, challenge);
  return claims;
}

/** api-version, activation, then the routes. */
async function serve(ctx: RequestContext, claims: TokenClaims, instance: ManagedHsmInstance, platform: HsmPlatform): Promise<Reply> {
  const apiVersion = ctx.query.get('api-version');
  if (!apiVersion) throw errors.badParameter('The api-version query parameter is required.');
  if (!API_VERSIONS.includes(apiVersion)) {
    throw errors.badParameter(`The specified version (${apiVersion.slice(0, 40)}) is not recognized. Consider using the latest supported version (${API_VERSIONS[API_VERSIONS.length - 1]}).`);
  }
  const hctx = hsmContext(ctx, claims.oid, instance, apiVersion, platform);
  const early = tryResolve(preActivation, ctx.method, ctx.path);
  if (early) return early.handler(hctx, early.params);
  if (/^\/securitydomain(\/|$)/i.test(ctx.path)) throw errors.notFound(`No security domain operation matches ${ctx.method} ${ctx.path.slice(0, 80)}.`);
  if (!instance.activated) throw errors.notActivated(instance.name);

  if (isRbacPath(ctx.path)) return handleRbac(hctx);
  const { handler, params } = router.resolve(ctx.method, ctx.path);
  return handler(hctx, params);
}

function firstHeader(ctx: RequestContext, name: string): string {
  const v = ctx.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

function audit(deps: DataPlaneDeps, instance: ManagedHsmInstance, ctx: RequestContext, claims: TokenClaims, started: number, reply: Reply | undefined, failure: unknown): void {
  const status = reply ? reply.status : failure instanceof ServiceError ? failure.status : 500;
  const query = ctx.query.toString();
  deps.audit.record(
    buildAuditEvent({
      tenantId: deps.tenantId,
      resourceId: deps.resourceIdOf(instance.name),
      started: new Date(started),
      durationMs: Date.now() - started,
      method: ctx.method,
      requestUri: `https://${ctx.host}${ctx.path}${query ? `?${query}` : ''}`,
      host: ctx.host,
      apiVersion: ctx.query.get('api-version') ?? '',
      op: auditOperation(ctx.method, ctx.path),
      status,
      errorMessage: failure instanceof ServiceError ? failure.message : failure !== undefined ? 'InternalError' : undefined,
      caller: { oid: claims.oid, appid: claims.appid, tid: claims.tid },
      callerIpAddress: ctx.remoteAddress.replace(/^::ffff:/, ''),
      clientInfo: firstHeader(ctx, 'user-agent').slice(0, 512),
      correlationId: firstHeader(ctx, 'x-ms-client-request-id').slice(0, 128) || ctx.requestId,
    }),
  );
}

/**
 * Field by field rather than `{ ...ctx, ... }`: V8 gives a spread-and-extend object a fresh hidden class each
 * time, so every handler's reads of it missed their inline caches (perf: ~10 µs a request).
 */
function hsmContext(ctx: RequestContext, principal: string, instance: ManagedHsmInstance, apiVersion: string, platform: HsmPlatform): HsmContext {
  const { method, path, query, headers, host, rawBody, requestId, remoteAddress } = ctx;
  return { method, path, query, headers, host, rawBody, requestId, remoteAddress, principal, instance, apiVersion, platform };
}

/** A miss is the common case here (most requests are not security-domain calls), so it must not throw. */
function tryResolve(r: Router<HsmContext>, method: string, path: string) {
  const found = r.find(method, path);
  return found === 'method' ? undefined : found;
}
