import * as path from 'path';
import { createHash, createPublicKey, randomUUID } from 'crypto';
import { SignJWT } from 'jose';
import { Router } from '../http/router';
import { ServiceError, errors } from '../http/errors';
import { AppHandler } from '../http/server';
import { isObject, jsonBody, optObject, optString, reqString, decodeB64url } from '../http/validate';
import { SigningIdentity, ensureIdentity } from './signing-identity';

/** MAA attestation tokens live eight hours. */
const TOKEN_LIFETIME_S = 8 * 3600;
const RESERVED_CLAIMS = new Set(['iss', 'iat', 'nbf', 'exp', 'jti', 'x-ms-runtime', 'x-ms-ver', 'x-ms-policy-hash', 'nonce']);

/**
 * A local stand-in for a Microsoft Azure Attestation provider: OpenID metadata at /.well-known/openid-configuration,
 * its signing certificates at /certs (JWKS with x5c), and POST /attest/SevSnpVm issuing RS256 tokens shaped like
 * MAA's (iss = the provider's URL, jku/kid header, x-ms-attestation-type, x-ms-ver, x-ms-runtime holding the
 * runtime data, 8-hour lifetime). What it cannot do is verify hardware evidence: the "report" it takes is a JSON
 * object of the platform claims the evidence would prove (base64url), and it trusts it (simulator/README.md).
 */
export class AttestationService {
  private readonly signer: SigningIdentity;
  readonly kid: string;
  private readonly router = new Router();
  /** https://127.0.0.1:<port>: the provider's URL, the issuer of its tokens. */
  baseUrl = '';

  constructor(stateDir: string) {
    this.signer = ensureIdentity({
      dir: path.join(stateDir, 'attestation'),
      name: 'maa-signing',
      subject: '/CN=azure-hsm-cdktf simulated attestation signing',
      keyArgs: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      extensions: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'],
    });
    this.kid = createHash('sha256').update(this.signer.chain[0].raw).digest('base64url');
    this.router.add('GET', '/.well-known/openid-configuration', () => ({ status: 200, body: this.metadata() }));
    this.router.add('GET', '/certs', () => ({ status: 200, body: this.jwks() }));
    this.router.add('POST', '/attest/:tee', async (ctx, p) => {
      if (p.tee.toLowerCase() !== 'sevsnpvm') throw errors.notSupported(`Attestation of type ${p.tee.slice(0, 30)} (only SevSnpVm)`);
      if (!ctx.query.get('api-version')) throw errors.badParameter('The api-version query parameter is required.');
      return { status: 200, body: { token: await this.attestSevSnp(jsonBody(ctx)) } };
    });
  }

  app(): AppHandler {
    return async (ctx) => {
      const { handler, params } = this.router.resolve(ctx.method, ctx.path);
      return handler(ctx, params);
    };
  }

  metadata() {
    return {
      issuer: this.baseUrl,
      jwks_uri: `${this.baseUrl}/certs`,
      revocation_endpoint: `${this.baseUrl}/revoke`,
      response_types_supported: ['token', 'none'],
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['x-ms-attestation-type', 'x-ms-compliance-status', 'x-ms-runtime', 'x-ms-ver'],
    };
  }

  jwks() {
    const jwk = createPublicKey(this.signer.key).export({ format: 'jwk' }) as { n: string; e: string };
    return { keys: [{ kty: 'RSA', kid: this.kid, use: 'sig', alg: 'RS256', n: jwk.n, e: jwk.e, x5c: this.signer.x5c }] };
  }

  /** {report: base64url JSON of platform claims, runtimeData: {data: base64url, dataType: "JSON"}, nonce?} -> token. */
  private async attestSevSnp(body: Record<string, unknown>): Promise<string> {
    const evidence = jsonOf(decodeB64url(reqString(body, 'report'), 'report'), 'report');
    if (!isObject(evidence)) throw errors.badParameter("The report must be base64url of a JSON object of the platform's claims.");
    const claims: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(evidence)) {
      if (RESERVED_CLAIMS.has(k)) throw errors.badParameter(`The report must not set the claim ${k}: the attestation service issues it.`);
      claims[k] = v;
    }
    const runtime = optObject(body, 'runtimeData');
    let runtimeClaims: unknown = undefined;
    if (runtime) {
      const type = optString(runtime, 'dataType') ?? 'Binary';
      const data = decodeB64url(reqString(runtime, 'data'), 'runtimeData.data');
      if (type === 'JSON') runtimeClaims = jsonOf(data, 'runtimeData.data');
      else if (type === 'Binary') runtimeClaims = undefined;
      else throw errors.badParameter(`runtimeData.dataType must be JSON or Binary; got ${type.slice(0, 20)}.`);
    }
    const nonce = optString(body, 'nonce') ?? (typeof body.nonce === 'number' ? String(body.nonce) : undefined);
    return this.issue({ 'x-ms-attestation-type': 'sevsnpvm', ...claims, ...(runtimeClaims !== undefined ? { 'x-ms-runtime': runtimeClaims } : {}), ...(nonce ? { nonce } : {}) });
  }

  /** Signs claims as this provider (also used by tests to make tokens of chosen claims without evidence). */
  issue(claims: Record<string, unknown>): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ 'x-ms-ver': '1.0', ...claims })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', jku: `${this.baseUrl}/certs`, kid: this.kid })
      .setIssuer(this.baseUrl)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + TOKEN_LIFETIME_S)
      .setJti(randomUUID())
      .sign(this.signer.key);
  }
}

function jsonOf(b: Buffer, prop: string): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    throw new ServiceError(400, 'BadParameter', `${prop} is not JSON.`);
  }
}
