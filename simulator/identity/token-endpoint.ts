import { randomUUID } from 'crypto';
import { Router } from '../http/router';
import { RequestContext, Reply } from '../http/server';
import { AUDIENCES, TokenAuthority } from './tokens';
import { Principals } from './principals';
import { FailedSignInThrottle } from './failed-sign-in-throttle';

export interface IdentityDeps {
  tenantId: string;
  authority: TokenAuthority;
  principals: Principals;
  /** Default: a throttle with DEFAULT_THROTTLE's limits on the real clock. */
  throttle?: FailedSignInThrottle;
}

/**
 * The Entra ID (AAD) face: OpenID discovery, the signing keys and the OAuth2 client-credentials token endpoint,
 * enough for @azure/identity's ClientSecretCredential with authorityHost pointing here. Its errors use AAD's
 * own shape (error, error_description, error_codes), which MSAL parses, not the Key Vault shape.
 */
export function addIdentityRoutes(router: Router, deps: IdentityDeps): void {
  const throttle = deps.throttle ?? new FailedSignInThrottle();
  router.add('GET', '/:tenant/v2.0/.well-known/openid-configuration', (ctx, p) => {
    const t = tenant(deps, p.tenant);
    if (typeof t !== 'string') return t;
    const base = `https://${ctx.host}/${t}`;
    return {
      status: 200,
      body: {
        issuer: `${base}/v2.0`,
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_types_supported: ['token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['ES256'],
        token_endpoint_auth_methods_supported: ['client_secret_post'],
        grant_types_supported: ['client_credentials'],
        tenant_region_scope: 'WW',
      },
    };
  });

  router.add('GET', '/:tenant/discovery/v2.0/keys', (_ctx, p) => {
    const t = tenant(deps, p.tenant);
    return typeof t === 'string' ? { status: 200, body: deps.authority.jwks() } : t;
  });

  router.add('POST', '/:tenant/oauth2/v2.0/token', (ctx, p) => token(ctx, p.tenant, deps, throttle));
}

function token(ctx: RequestContext, tenantInPath: string, deps: IdentityDeps, throttle: FailedSignInThrottle): Reply {
  const t = tenant(deps, tenantInPath);
  if (typeof t !== 'string') return t;
  const form = new URLSearchParams(ctx.rawBody.toString('utf8'));
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials') {
    return aadError(400, 'unsupported_grant_type', 70003, `AADSTS70003: The grant type '${(grant ?? '').slice(0, 40)}' is not supported; only client_credentials is.`);
  }
  const clientId = form.get('client_id') ?? '';
  const secret = form.get('client_secret');
  if (!secret) {
    return aadError(400, 'invalid_client', 7000216, "AADSTS7000216: 'client_assertion' or 'client_secret' is required for the 'client_credentials' grant type (certificates are not supported by the simulator).");
  }
  const scope = (form.get('scope') ?? '').split(' ').filter(Boolean);
  const audiences = Object.values(AUDIENCES) as string[];
  const aud = scope.length === 1 && scope[0].endsWith('/.default') ? scope[0].slice(0, -'/.default'.length).replace(/\/$/, '') : undefined;
  if (!aud || !audiences.includes(aud)) {
    return aadError(400, 'invalid_scope', 1002012, `AADSTS1002012: The provided value for scope is not valid. Client credential flows must have one scope value with /.default, one of: ${audiences.map((a) => `${a}/.default`).join(', ')}.`);
  }
  const client = clientId.toLowerCase();
  const clientWait = throttle.clientLockedFor(client);
  if (clientWait > 0) return throttled(`Too many failed sign-ins for application '${client.slice(0, 64)}': its sign-ins are refused for ${clientWait} more seconds, whatever the secret.`, clientWait);
  // A locked address still lets a right secret through (every client here shares loopback); its failures get 429
  // and go on counting, against their application too, whose own lock then stops the guessing.
  const addressWait = throttle.addressLockedFor(ctx.remoteAddress);
  const auth = deps.principals.authenticate(clientId, secret);
  if (auth !== 'ok') throttle.failed(auth === 'bad-secret' ? client : undefined, ctx.remoteAddress);
  if (auth !== 'ok' && addressWait > 0) return throttled(`Too many failed sign-ins from address ${ctx.remoteAddress}: for ${addressWait} more seconds only the right secret of an application that is not itself locked gets a token.`, addressWait);
  if (auth === 'unknown') {
    return aadError(400, 'unauthorized_client', 700016, `AADSTS700016: Application with identifier '${clientId.slice(0, 64)}' was not found in the directory '${t}'.`);
  }
  if (auth === 'bad-secret') {
    return aadError(401, 'invalid_client', 7000215, `AADSTS7000215: Invalid client secret provided for application '${clientId.slice(0, 64)}'.`);
  }
  throttle.succeeded(client);
  const { token: accessToken, expiresIn } = deps.authority.issue({ aud, tid: t, oid: clientId.toLowerCase() });
  return { status: 200, body: { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: accessToken } };
}

/**
 * Entra ID answers a throttled client-credentials request with 429 and Retry-After (MSAL's documentation); the
 * body, in the token endpoint's error shape, is the simulator's wording.
 */
function throttled(description: string, seconds: number): Reply {
  return {
    status: 429,
    headers: { 'retry-after': String(seconds) },
    body: {
      error: 'temporarily_unavailable',
      error_description: description,
      error_codes: [],
      timestamp: new Date().toISOString(),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    },
  };
}

function tenant(deps: IdentityDeps, inPath: string): string | Reply {
  if (inPath.toLowerCase() === deps.tenantId.toLowerCase()) return deps.tenantId;
  return aadError(400, 'invalid_request', 90002, `AADSTS90002: Tenant '${inPath.slice(0, 64)}' not found. This simulator serves tenant ${deps.tenantId}.`);
}

function aadError(status: number, error: string, code: number, description: string): Reply {
  return {
    status,
    body: { error, error_description: description, error_codes: [code], timestamp: new Date().toISOString(), trace_id: randomUUID(), correlation_id: randomUUID() },
  };
}
