import * as fs from 'fs';
import * as path from 'path';
import { KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, createHash, randomUUID } from 'crypto';
import { writePrivateFile } from '../fsutil';

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
const SKEW_S = 300;

/**
 * Issues and checks the simulator's access tokens: ES256 JWTs signed by a key made on first start
 * (identity/token-signing.key, 0600). Checked tokens are cached until they expire, so the signature check
 * costs once per token, not once per request.
 */
export class TokenAuthority {
  private readonly key: KeyObject;
  private readonly pub: KeyObject;
  readonly kid: string;
  private readonly cache = new Map<string, TokenClaims>();

  constructor(stateDir: string) {
    const file = path.join(stateDir, 'identity', 'token-signing.key');
    if (!fs.existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writePrivateFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    }
    this.key = createPrivateKey(fs.readFileSync(file, 'utf8'));
    this.pub = createPublicKey(this.key);
    this.kid = createHash('sha256').update(this.pub.export({ format: 'der', type: 'spki' })).digest('base64url').slice(0, 22);
  }

  jwks(): { keys: unknown[] } {
    return { keys: [{ ...(this.pub.export({ format: 'jwk' }) as object), kid: this.kid, use: 'sig', alg: 'ES256' }] };
  }

  issue(c: { aud: string; iss: string; tid: string; oid: string }): { token: string; expiresIn: number } {
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = { ...c, appid: c.oid, sub: c.oid, iat: now, nbf: now, exp: now + LIFETIME_S, jti: randomUUID() };
    const head = b64json({ alg: 'ES256', typ: 'JWT', kid: this.kid });
    const body = b64json(claims);
    const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: this.key, dsaEncoding: 'ieee-p1363' });
    return { token: `${head}.${body}.${sig.toString('base64url')}`, expiresIn: LIFETIME_S };
  }

  /** The claims of a valid token for this audience, or a reason it is refused (the reason names no secret). */
  check(token: string, audience: string): TokenClaims | string {
    let claims = this.cache.get(token);
    if (!claims) {
      const parts = token.split('.');
      if (parts.length !== 3) return 'the bearer token is not a JWT';
      let head: { alg?: string; kid?: string };
      try {
        head = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
        claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as TokenClaims;
      } catch {
        return 'the bearer token is not a JWT';
      }
      if (head.alg !== 'ES256' || head.kid !== this.kid) return 'the bearer token was not issued by this simulator';
      const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: this.pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
      if (!ok) return 'the bearer token signature is invalid';
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(token, claims);
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number' || claims.exp + SKEW_S < now) return 'the bearer token has expired';
    if (typeof claims.nbf !== 'number' || claims.nbf - SKEW_S > now) return 'the bearer token is not valid yet';
    if (claims.aud !== audience && claims.aud !== `${audience}/`) return `invalid audience '${String(claims.aud).slice(0, 100)}': expected ${audience}`;
    return claims;
  }
}

function b64json(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}
