import { constants, createPublicKey, publicEncrypt, createHash } from 'crypto';
import { CompactSign, createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { errors, ServiceError } from '../http/errors';
import { isObject } from '../http/validate';
import { HsmPlatform } from '../attestation/hsm-platform';
import { KeyService } from './keys';
import { InstanceRecord, VersionRecord } from './model';
import { OAEP_SHA1 } from './algorithms';
import { keyBundle, kid } from './bundle';
import { evaluate, parseReleasePolicy } from './release-policy';

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
  const now = Math.floor(Date.now() / 1000);
  if (!v.attributes.enabled) throw errors.forbidden('Operation release is not allowed on a disabled key.', 'KeyDisabled');
  if (v.attributes.nbf !== undefined && now < v.attributes.nbf) throw errors.forbidden('Operation release is not allowed: the key is not valid yet.', 'KeyNotYetValid');
  if (v.attributes.exp !== undefined && now >= v.attributes.exp) throw errors.forbidden('Operation release is not allowed: the key has expired.', 'KeyExpired');

  const claims = await verifiedClaims(platform, req.target);
  const policy = parseReleasePolicy(JSON.parse(Buffer.from(v.releasePolicy.data, 'base64url').toString('utf8')));
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

/** The target token's claims once its signature (by a key its issuer publishes), issuer and lifetime check out. */
async function verifiedClaims(platform: HsmPlatform, token: string): Promise<Record<string, unknown>> {
  let iss: unknown;
  try {
    decodeProtectedHeader(token);
    iss = decodeJwt(token).iss;
  } catch {
    throw errors.badParameter('The target is not an attestation token (a signed JWT).');
  }
  if (typeof iss !== 'string' || !/^https:\/\//i.test(iss)) throw errors.forbidden('Target environment attestation statement cannot be verified: the token names no https issuer.', 'AccessDenied');
  const base = iss.replace(/\/+$/, '');
  let jwks: unknown;
  try {
    const meta = await platform.fetchJson(`${base}/.well-known/openid-configuration`);
    const uri = isObject(meta) && typeof meta.jwks_uri === 'string' ? meta.jwks_uri : undefined;
    if (!uri) throw new Error('its OpenID metadata has no jwks_uri');
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

/** The RSA transfer key the attested environment put in its runtime claims: x-ms-runtime.keys, an encryption key. */
function transferKey(claims: Record<string, unknown>): { n: Buffer; e: Buffer; kid?: string } {
  const runtime = claims['x-ms-runtime'];
  const list = isObject(runtime) && Array.isArray(runtime.keys) ? runtime.keys : [];
  const rsa = list.filter((k): k is Record<string, unknown> => isObject(k) && k.kty === 'RSA' && typeof k.n === 'string' && typeof k.e === 'string');
  const k = rsa.find((x) => !Array.isArray(x.key_ops) || x.key_ops.includes('encrypt') || x.key_ops.includes('wrapKey')) ?? rsa[0];
  if (!k) throw new ServiceError(400, 'BadParameter', 'The attestation token carries no RSA transfer key in its runtime claims (x-ms-runtime.keys).');
  const n = Buffer.from(k.n as string, 'base64url');
  if (n.length < 256) throw errors.badParameter(`The transfer key must be RSA of at least 2048 bits; the token's has ${n.length * 8}.`);
  return { n, e: Buffer.from(k.e as string, 'base64url'), kid: typeof k.kid === 'string' ? k.kid : undefined };
}
