import * as fs from 'fs';
import * as path from 'path';
import { KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, createHash, randomUUID } from 'crypto';
import { writePrivateFile } from '../../files/private-files';

export interface TokenClaims {
  aud: string;
  iss: string;
  tid: string;
  oid: string;
  appid: string;
  sub: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
}

/** Audiences the simulator issues tokens for (the scope minus "/.default"). */
export const AUDIENCES = { managedHsm: 'https://managedhsm.azure.net', arm: 'https://management.azure.com' } as const;

const LIFETIME_S = 3600;
/** Clock skew tolerated on exp and nbf: five minutes, as Entra ID's token validation allows by default. */
export const SKEW_S = 300;

/** Why a token is refused; each face words it as its service does. */
export type TokenRefusalReason = 'malformed' | 'unknown-key' | 'signature' | 'issuer' | 'audience' | 'expired' | 'not-yet-valid';

export interface TokenRefusal {
  reason: TokenRefusalReason;
  /** What was wrong, naming the claim and its value (never the token itself). */
  message: string;
  /** The value the claim had to have (issuer, audience), for messages that name it. */
  expected?: string;
  found?: string;
}

/**
 * Issues and checks the simulator's access tokens: ES256 JWTs signed by a key made on first start
 * (identity/token-signing.key, 0600), shaped like Entra ID's v2 tokens: iss = <authority>/<tenant>/v2.0 (the
 * simulator's own authority, as login.microsoftonline.com is Entra's), aud, tid, oid, iat, nbf, exp. A token is
 * valid when its signature is this authority's, its issuer is this authority for the tenant it names, its audience
 * is the resource's, and now is within [nbf, exp] give or take five minutes. Signatures are checked once per
 * token (the claims are cached until they expire); the claims are checked on every request. The tenant a face
 * serves is that face's check (tid), so that each answers a foreign tenant with its own error.
 */
export class TokenAuthority {
  private readonly key: KeyObject;
  private readonly pub: KeyObject;
  readonly kid: string;
  /** Tokens whose signature and claim types were checked, with whether their issuer is right (it cannot change). */
  private readonly cache = new Map<string, { claims: TokenClaims; issuerOk: boolean }>();

  /**
   * @param authority https://host:port of the token endpoint: issuers are `${authority}/${tenant}/v2.0`
   * @param now the clock, in milliseconds since the epoch
   */
  constructor(
    stateDir: string,
    private readonly authority: string,
    private readonly now: () => number = Date.now,
  ) {
    const file = path.join(stateDir, 'identity', 'token-signing.key');
    if (!fs.existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writePrivateFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    }
    this.key = createPrivateKey(fs.readFileSync(file, 'utf8'));
    this.pub = createPublicKey(this.key);
    this.kid = createHash('sha256').update(this.pub.export({ format: 'der', type: 'spki' })).digest('base64url').slice(0, 22);
  }

  /** The issuer of tokens for a tenant, as Entra ID's v2 issuer is https://login.microsoftonline.com/<tenant>/v2.0. */
  issuer(tenant: string): string {
    return `${this.authority}/${tenant}/v2.0`;
  }

  jwks(): { keys: unknown[] } {
    return { keys: [{ ...(this.pub.export({ format: 'jwk' }) as object), kid: this.kid, use: 'sig', alg: 'ES256' }] };
  }

  issue(c: { aud: string; tid: string; oid: string }): { token: string; expiresIn: number } {
    const now = Math.floor(this.now() / 1000);
    const claims: TokenClaims = { aud: c.aud, iss: this.issuer(c.tid), tid: c.tid, oid: c.oid, appid: c.oid, sub: c.oid, iat: now, nbf: now, exp: now + LIFETIME_S, jti: randomUUID() };
    return { token: this.sign(claims), expiresIn: LIFETIME_S };
  }

  /** Signs any claims with the authority's key: the token endpoint's tokens, and tests' deliberately bad ones. */
  sign(claims: object): string {
    const head = b64json({ alg: 'ES256', typ: 'JWT', kid: this.kid });
    const body = b64json(claims);
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: this.key, dsaEncoding: 'ieee-p1363' });
    return `${head}.${body}.${sig.toString('base64url')}`;
  }

  /** The claims of a valid token for this audience, or why it is refused. */
  validate(token: string, audience: string): TokenClaims | TokenRefusal {
    let checked = this.cache.get(token);
    if (!checked) {
      let claims: TokenClaims;
      const parts = token.split('.');
      if (parts.length !== 3) return refusal('malformed', 'the bearer token is not a JWT');
      let head: { alg?: string; kid?: string };
      try {
        head = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
        claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as TokenClaims;
      } catch {
        return refusal('malformed', 'the bearer token is not a JWT');
      }
      if (typeof claims !== 'object' || claims === null) return refusal('malformed', 'the bearer token is not a JWT');
      if (head.alg !== 'ES256' || head.kid !== this.kid) return refusal('unknown-key', 'the bearer token was not signed by a key of this authority');
      const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: this.pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
      if (!ok) return refusal('signature', 'the bearer token signature is invalid');
      for (const c of ['iss', 'aud', 'tid', 'oid'] as const) if (typeof claims[c] !== 'string') return refusal('malformed', `the bearer token has no '${c}' claim`);
      for (const c of ['exp', 'nbf'] as const) if (typeof claims[c] !== 'number') return refusal('malformed', `the bearer token has no numeric '${c}' claim`);
      if (this.cache.size > 10_000) this.cache.clear();
      checked = { claims, issuerOk: claims.iss === this.issuer(claims.tid) };
      this.cache.set(token, checked);
    }
    const claims = checked.claims;
    if (!checked.issuerOk) {
      const issuer = this.issuer(claims.tid);
      return refusal('issuer', `invalid issuer '${shown(claims.iss)}': expected ${issuer}`, issuer, claims.iss);
    }
    if (claims.aud !== audience && claims.aud !== `${audience}/`) return refusal('audience', `invalid audience '${shown(claims.aud)}': expected ${audience}`, audience, claims.aud);
    const now = Math.floor(this.now() / 1000);
    if (claims.exp + SKEW_S < now) return refusal('expired', `the bearer token has expired (exp ${claims.exp}, now ${now}, 300 s of clock skew allowed)`);
    if (claims.nbf - SKEW_S > now) return refusal('not-yet-valid', `the bearer token is not valid yet (nbf ${claims.nbf}, now ${now}, 300 s of clock skew allowed)`);
    return claims;
  }
}

export function isRefusal(r: TokenClaims | TokenRefusal): r is TokenRefusal {
  return 'reason' in r;
}

function refusal(reason: TokenRefusalReason, message: string, expected?: string, found?: string): TokenRefusal {
  return { reason, message, expected, found };
}

function shown(v: string): string {
  return v.slice(0, 100);
}

function b64json(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}
