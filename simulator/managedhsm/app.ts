import { errors } from '../http/errors';
import { Handler, Router } from '../http/router';
import { AppHandler, RequestContext } from '../http/server';
import { AUDIENCES, TokenAuthority, isRefusal } from '../identity/tokens';
import { keyVaultTokenMessage } from '../identity/key-vault-token-errors';
import { HsmContext } from './context';
import { ManagedHsmInstance } from './instance';
import { addKeyRoutes } from './key-routes';
import { addCryptoRoutes } from './crypto-routes';
import { handleRbac, isRbacPath } from './rbac-routes';
import { addSecurityDomainRoutes } from './sd-routes';
import { addFullBackupRoutes } from './backup-routes';

/** api-versions the data plane accepts (7.2 brought Managed HSM; KeyClient 4.10 sends 2025-07-01). */
export const API_VERSIONS = ['7.2', '7.3', '7.4', '7.5', '7.6', '7.6-preview.1', '7.6-preview.2', '2025-06-01-preview', '2025-07-01'];

export interface DataPlaneDeps {
  authority: TokenAuthority;
  tenantId: string;
  /** https://<identity host>/<tenant>: where the 401 challenge sends clients for a token. */
  authorizationUri: () => string;
}

const router = new Router<HsmContext>();
addKeyRoutes(router);
addCryptoRoutes(router);
addFullBackupRoutes(router);

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
    const challenge = { 'www-authenticate': `Bearer authorization="${deps.authorizationUri()}", resource="${AUDIENCES.managedHsm}"` };
    const auth = ctx.headers.authorization;
    if (!auth) throw errors.unauthorized('AKV10000: Request is missing a Bearer or PoP token.', challenge);
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) throw errors.unauthorized('AKV10000: The Authorization header is not a Bearer token.', challenge);
    const claims = deps.authority.validate(m[1], AUDIENCES.managedHsm);
    if (isRefusal(claims)) throw errors.unauthorized(keyVaultTokenMessage(claims), challenge);
    if (claims.tid !== deps.tenantId) throw errors.unauthorized(`AKV10032: Invalid issuer: the token is for tenant ${claims.tid}, this HSM belongs to ${deps.tenantId}.`, challenge);

    const apiVersion = ctx.query.get('api-version');
    if (!apiVersion) throw errors.badParameter('The api-version query parameter is required.');
    if (!API_VERSIONS.includes(apiVersion)) {
      throw errors.badParameter(`The specified version (${apiVersion.slice(0, 40)}) is not recognized. Consider using the latest supported version (${API_VERSIONS[API_VERSIONS.length - 1]}).`);
    }
    const hctx = hsmContext(ctx, claims.oid, instance, apiVersion);
    const early = tryResolve(preActivation, ctx.method, ctx.path);
    if (early) return early.handler(hctx, early.params);
    if (/^\/securitydomain(\/|$)/i.test(ctx.path)) throw errors.notFound(`No security domain operation matches ${ctx.method} ${ctx.path.slice(0, 80)}.`);
    if (!instance.activated) throw errors.notActivated(instance.name);

    if (isRbacPath(ctx.path)) return handleRbac(hctx);
    const { handler, params } = router.resolve(ctx.method, ctx.path);
    return handler(hctx, params);
  };
}

/**
 * Field by field rather than `{ ...ctx, ... }`: V8 gives a spread-and-extend object a fresh hidden class each
 * time, so every handler's reads of it missed their inline caches (perf: ~10 µs a request).
 */
function hsmContext(ctx: RequestContext, principal: string, instance: ManagedHsmInstance, apiVersion: string): HsmContext {
  const { method, path, query, headers, host, rawBody, requestId, remoteAddress } = ctx;
  return { method, path, query, headers, host, rawBody, requestId, remoteAddress, principal, instance, apiVersion };
}

/** A miss is the common case here (most requests are not security-domain calls), so it must not throw. */
function tryResolve(r: Router<HsmContext>, method: string, path: string) {
  const found = r.find(method, path);
  return found === 'method' ? undefined : found;
}
