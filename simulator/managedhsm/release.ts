import { constants, createPublicKey, publicEncrypt, createHash } from 'crypto';
import { CompactSign, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { errors } from '../http/errors';
import { isObject } from '../http/validate';
import { HsmPlatform } from '../attestation/hsm-platform';
import { KeyService } from './keys';
import { InstanceRecord, VersionRecord } from './model';
import { OAEP_SHA1 } from './algorithms';
import { keyBundle, kid } from './bundle';
import { ReleasePolicy, evaluate, parseReleasePolicy, sameAuthority } from './release-policy';
import { requireKeyValid } from './key-validity';

/** The wrapping algorithms of a release (the REST spec's KeyEncryptionAlgorithm); the first is the default. */
export const RELEASE_ENC = ['CKM_RSA_AES_KEY_WRAP', 'RSA_AES_KEY_WRAP_256', 'RSA_AES_KEY_WRAP_384'] as const;
export type ReleaseEnc = (typeof RELEASE_ENC)[number];

export interface ReleaseRequest {
  target: string;
  nonce?: string;
  enc: ReleaseEnc;
}

/**
 * POST /keys/{name}/{version}/release: checks the target's attestation token (signature against its issuer's
 * OpenID keys, lifetime), evaluates the key's release policy over its claims, and answers {value: JWS} whose payload
 * holds the key wrapped for the transfer key found in the token's runtime claims (x-ms-runtime.keys), in the
 * format Managed HSM releases: key.key_hsm = base64url of {schema_version, header:{kid, alg:"dir", enc}, ciphertext},
 * ciphertext = RSA-OAEP(transfer key, AES key) || AES-KWP(AES key, PKCS#8 or raw key). The JWS is signed by the HSM's
 * release certificate (x5c). Refusals leave as 403 Forbidden (policy or token) or 400 BadParameter (malformed).
 */
export async function releaseKey(keys: KeyService, platform: HsmPlatform, host: string, instance: InstanceRecord, v: VersionRecord, req: ReleaseRequest, apiVersion: string): Promise<{ value: string }> {
  if (!v.attributes.exportable || !v.releasePolicy) throw errors.badParameter(`Key ${v.name} is not exportable: only keys created with attributes.exportable and a release policy can be released.`);
  requireKeyValid(v, 'release', keys.now());

  const policy = parseReleasePolicy(JSON.parse(Buffer.from(v.releasePolicy.data, 'base64url').toString('utf8')));
  const claims = await verifiedClaims(platform, policy, req.target);
  const verdict = evaluate(policy, String(claims.iss), claims);
  if (!verdict.allowed) throw errors.forbidden(`Target environment attestation statement does not satisfy the key release policy: ${verdict.reason}.`, 'AccessDenied');

  const transfer = transferKey(claims);
  const oaepHash = req.enc === 'CKM_RSA_AES_KEY_WRAP' ? undefined : req.enc === 'RSA_AES_KEY_WRAP_256' ? 'sha256' : 'sha384';
  const pub = createPublicKey({ key: { kty: 'RSA', n: transfer.n.toString('base64url'), e: transfer.e.toString('base64url') }, format: 'jwk' });
  const { encryptedKey, wrappedKey } = await keys.token.wrapForTransfer(v.version, transfer, oaepHash ? { encrypt: (aes) => publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, aes) } : { mech: OAEP_SHA1 });
  const keyHsm = { schema_version: '1.0.0', header: { kid: transfer.kid ?? '', alg: 'dir', enc: req.enc }, ciphertext: Buffer.concat([encryptedKey, wrappedKey]).toString('base64url') };
  const bundle = keyBundle(host, v, instance);
  const payload = {
    request: { 'api-version': apiVersion, enc: req.enc, kid: kid(host, v), ...(req.nonce !== undefined ? { nonce: req.nonce } : {}) },
    response: { key: { ...bundle, key: { ...bundle.key, key_hsm: Buffer.from(JSON.stringify(keyHsm)).toString('base64url') } } },
  };
  const signer = platform.releaseSigner;
  const jws = await new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'RS256', kid: createHash('sha256').update(signer.chain[0].raw).digest('hex'), x5c: signer.x5c, 'x5t#S256': createHash('sha256').update(signer.chain[0].raw).digest('base64url') })
    .sign(signer.key);
  return { value: jws };
}

/**
 * The target token's claims once its signature (by a key its issuer publishes), issuer and lifetime check out. Only
 * the policy's authorities are ever asked for keys: a token naming another issuer is refused before anything is
 * fetched (a caller must not make the HSM fetch URLs of its choosing), and the keys are read from the authority as
 * the policy spells it, at a jwks_uri on the authority's own origin.
 */
async function verifiedClaims(platform: HsmPlatform, policy: ReleasePolicy, token: string): Promise<Record<string, unknown>> {
  let iss: unknown;
  try {
    decodeProtectedHeader(token);
    iss = decodeJwt(token).iss;
  } catch {
    throw errors.badParameter('The target is not an attestation token (a signed JWT).');
  }
  if (typeof iss !== 'string' || iss === '') throw errors.forbidden('Target environment attestation statement cannot be verified: the token names no issuer.', 'AccessDenied');
  const authority = policy.authorities.find((a) => sameAuthority(a.authority, iss as string))?.authority;
  if (!authority) throw errors.forbidden(`Target environment attestation statement does not satisfy the key release policy: the token's issuer ${iss.slice(0, 200)} is not an authority of the key's release policy.`, 'AccessDenied');
  const base = authority.replace(/\/+$/, '');
  let jwks: unknown;
  try {
    const meta = await platform.fetchJson(`${base}/.well-known/openid-configuration`);
    const uri = isObject(meta) && typeof meta.jwks_uri === 'string' ? meta.jwks_uri : undefined;
    if (!uri) throw new Error('its OpenID metadata has no jwks_uri');
    if (!sameOrigin(uri, base)) throw new Error(`its jwks_uri ${uri.slice(0, 200)} is not on the origin of ${base.slice(0, 200)}`);
    jwks = await platform.fetchJson(uri);
  } catch (err) {
    throw errors.forbidden(`Target environment attestation statement cannot be verified: the keys of ${base.slice(0, 200)} could not be read (${(err as Error).message}).`, 'AccessDenied');
  }
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as { keys: [] }), { issuer: iss, clockTolerance: 300, algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256'] });
    return payload as Record<string, unknown>;
  } catch (err) {
    const why = (err as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'the token has expired' : 'its signature does not verify with the keys its issuer publishes';
    throw errors.forbidden(`Target environment attestation statement cannot be verified: ${why}.`, 'AccessDenied');
  }
}

/** Same scheme, host and port. */
function sameOrigin(url: string, base: string): boolean {
  try {
    return new URL(url).origin === new URL(base).origin;
  } catch {
    return false;
  }
}

/**
 * The RSA transfer key the attested environment put in its runtime claims (x-ms-runtime.keys): the first RSA key of
 * at least 2048 bits whose key_ops allow encryption (encrypt or wrapKey; a key without key_ops is unrestricted).
 */
function transferKey(claims: Record<string, unknown>): { n: Buffer; e: Buffer; kid?: string } {
  const runtime = claims['x-ms-runtime'];
  const list = isObject(runtime) && Array.isArray(runtime.keys) ? runtime.keys : [];
  const rsa = list.filter((k): k is Record<string, unknown> => isObject(k) && k.kty === 'RSA' && typeof k.n === 'string' && typeof k.e === 'string');
  const encrypts = (k: Record<string, unknown>) => !Array.isArray(k.key_ops) || k.key_ops.includes('encrypt') || k.key_ops.includes('wrapKey');
  const k = rsa.find((x) => encrypts(x) && bitLength(Buffer.from(x.n as string, 'base64url')) >= 2048);
  if (!k) throw errors.badParameter(`The attestation token's runtime claims (x-ms-runtime.keys) hold no RSA key of at least 2048 bits whose key_ops allow encryption (encrypt or wrapKey); they hold ${rsa.length} RSA key(s).`);
  return { n: Buffer.from(k.n as string, 'base64url'), e: Buffer.from(k.e as string, 'base64url'), kid: typeof k.kid === 'string' ? k.kid : undefined };
}

/** Bits of a big-endian unsigned integer, leading zeros not counted. */
function bitLength(b: Buffer): number {
  const i = b.findIndex((x) => x !== 0);
  return i < 0 ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
}
