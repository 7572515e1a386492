import * as pkcs11js from 'pkcs11js';
import { errors } from '../http/errors';
import { Json, decodeB64url, isObject, optString } from '../http/validate';
import { KeyService, KeySpec } from './keys';
import { Kty, VersionRecord } from './model';
import { OAEP_SHA1 } from './algorithms';
import { CURVE_PARAMS } from '../pkcs11/token';
import { ecPublic, modulusBytes, recoverEcPublic, rsaPublic, stripZeros, usageFor } from './key-material';
import { isTokenRefusal } from './crypto-ops';

const RSA_SIZES = [2048, 3072, 4096];
const OCT_BYTES = [16, 24, 32];

/** PUT /keys/{name}: a plain JWK with private parts, or a BYOK transfer blob in key_hsm. */
export async function importKey(keys: KeyService, name: string, jwk: Json, kty: Kty, attrs: KeySpec['attributes'], tags: Record<string, string>, keyOps: string[]): Promise<VersionRecord> {
  const keyHsm = optString(jwk, 'key_hsm');
  if (keyHsm !== undefined) return importByok(keys, name, jwk, kty, decodeB64url(keyHsm, 'key.key_hsm'), attrs, tags, keyOps);
  const part = (p: string) => {
    const v = optString(jwk, p);
    if (v === undefined || v === '') throw errors.badParameter(`Property 'key.${p}' is required to import a ${kty} key.`);
    return stripZeros(decodeB64url(v, `key.${p}`));
  };
  if (kty === 'RSA') {
    const k = { n: part('n'), e: part('e'), d: part('d'), p: part('p'), q: part('q'), dp: part('dp'), dq: part('dq'), qi: part('qi') };
    const bits = k.n.length * 8;
    if (!RSA_SIZES.includes(bits)) throw errors.badParameter(`RSA key size ${bits} is not supported: one of ${RSA_SIZES.join(', ')}.`);
    return keys.addVersion(name, async (version, label) => {
      await tokenCall(() => keys.token.importRsa(version, label, k, usageFor('RSA')));
      return { kty, keyOps, tags, pub: rsaPublic(k.n, k.e), size: bits };
    }, attrs);
  }
  if (kty === 'EC') {
    const crv = curve(jwk);
    const len = crv === 'P-521' ? 66 : crv === 'P-384' ? 48 : 32;
    const pad = (b: Buffer) => (b.length > len ? b : Buffer.concat([Buffer.alloc(len - b.length), b]));
    const x = pad(part('x'));
    const y = pad(part('y'));
    const d = pad(part('d'));
    if (x.length !== len || y.length !== len || d.length !== len) throw errors.badParameter(`EC key components do not match curve ${crv}.`);
    const point = Buffer.concat([Buffer.from([4]), x, y]);
    return keys.addVersion(name, async (version, label) => {
      await tokenCall(() => keys.token.importEc(version, label, crv, d, point, usageFor('EC')));
      return { kty, keyOps, tags, pub: ecPublic(crv, point), crv };
    }, attrs);
  }
  const k = decodeB64url(optString(jwk, 'k') ?? '', 'key.k');
  if (!OCT_BYTES.includes(k.length)) throw errors.badParameter(`oct key length ${k.length * 8} bits is not supported: 128, 192 or 256.`);
  return keys.addVersion(name, async (version, label) => {
    await tokenCall(() => keys.token.importAes(version, label, k, usageFor('oct')));
    return { kty, keyOps, tags, size: k.length * 8 };
  }, attrs);
}

function curve(jwk: Json): string {
  const crv = optString(jwk, 'crv');
  if (!crv || !CURVE_PARAMS[crv]) throw errors.badParameter(`Property 'key.crv' must be one of ${Object.keys(CURVE_PARAMS).join(', ')}; got ${JSON.stringify((crv ?? '').slice(0, 20))}.`);
  return crv;
}

/**
 * BYOK: {schema_version, header:{kid, alg:"dir", enc:"CKM_RSA_AES_KEY_WRAP"}, ciphertext}. The ciphertext is
 * RSA-OAEP(SHA-1) of an ephemeral AES key under the KEK, then the target key wrapped with AES-KWP. SoftHSM2 has
 * no CKM_RSA_AES_KEY_WRAP, so the two halves are unwrapped in turn, both inside the token: the ephemeral key
 * lives only as a session object and the target key arrives directly as a token object.
 */
async function importByok(keys: KeyService, name: string, jwk: Json, kty: Kty, blobBytes: Buffer, attrs: KeySpec['attributes'], tags: Record<string, string>, keyOps: string[]): Promise<VersionRecord> {
  const bad = (why: string) => errors.badParameter(`The BYOK blob in key_hsm is not valid: ${why}.`);
  let blob: unknown;
  try {
    blob = JSON.parse(blobBytes.toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (!isObject(blob) || !isObject(blob.header)) throw bad('a header object is required');
  const h = blob.header;
  if (h.alg !== 'dir' || h.enc !== 'CKM_RSA_AES_KEY_WRAP') throw bad('header.alg must be "dir" and header.enc "CKM_RSA_AES_KEY_WRAP"');
  if (typeof h.kid !== 'string' || typeof blob.ciphertext !== 'string') throw bad('header.kid and ciphertext are required');
  const m = /\/keys\/([A-Za-z0-9-]{1,127})\/([0-9a-fA-F]{32})$/.exec(h.kid);
  if (!m) throw bad(`header.kid '${h.kid.slice(0, 200)}' is not a key identifier of this HSM`);
  let kek: VersionRecord;
  try {
    kek = keys.get(m[1], m[2].toLowerCase());
  } catch {
    throw bad(`the key exchange key ${m[1]}/${m[2]} does not exist in this HSM`);
  }
  if (kek.kty !== 'RSA' || kek.keyOps.length !== 1 || kek.keyOps[0] !== 'import') throw bad('the key exchange key must be an RSA-HSM key whose key_ops is only ["import"]');
  if (!kek.attributes.enabled) throw bad('the key exchange key is disabled');
  const ct = decodeB64url(blob.ciphertext, 'ciphertext');
  const k = modulusBytes(kek.pub!);
  if (ct.length <= k + 8) throw bad('the ciphertext is too short');
  const crv = kty === 'EC' ? curve(jwk) : undefined;
  // AES key wrap with padding adds 8 bytes to a key whose length is a multiple of 8; the unwrap checks the
  // length the wrapping encoded. (SoftHSM2 leaves CKA_VALUE_LEN of an unwrapped key at 0, so it is not read back.)
  const octBytes = ct.length - k - 8;
  if (kty === 'oct' && !OCT_BYTES.includes(octBytes)) throw errors.badParameter(`oct key length ${octBytes * 8} bits is not supported: 128, 192 or 256.`);
  return keys.addVersion(name, async (version, label) => {
    await tokenCall(() =>
      keys.token.withTransientAesKey(kek.version, OAEP_SHA1, ct.subarray(0, k), (aes) =>
        keys.token.unwrapKey(aes, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, ct.subarray(k), version, label, kty === 'oct' ? { cls: 'secret' } : { cls: 'private', keyType: kty }, usageFor(kty)),
      ),
    );
    if (kty === 'RSA') {
      const { n, e } = await keys.token.rsaPublicOf(version);
      const bits = stripZeros(n).length * 8;
      if (!RSA_SIZES.includes(bits)) throw errors.badParameter(`RSA key size ${bits} is not supported: one of ${RSA_SIZES.join(', ')}.`);
      await keys.token.addPublic(version, label, { n, e });
      return { kty, keyOps, tags, pub: rsaPublic(n, e), size: bits };
    }
    if (kty === 'EC') {
      const point = await tokenCall(() => recoverEcPublic(keys.token, version, crv!));
      await keys.token.addPublic(version, label, { curve: crv!, point });
      return { kty, keyOps, tags, pub: ecPublic(crv!, point), crv };
    }
    return { kty, keyOps, tags, size: octBytes * 8 };
  }, attrs);
}

/** Token refusals of the imported material (bad key, wrong KEK, bad padding) are the caller's bad input. */
async function tokenCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isTokenRefusal(err) || (err instanceof pkcs11js.Pkcs11Error && [pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID, pkcs11js.CKR_UNWRAPPING_KEY_HANDLE_INVALID].includes(err.code))) {
      throw errors.badParameter('The key material could not be imported: the token refused it (wrong key exchange key, corrupt ciphertext or inconsistent key components).');
    }
    if (err instanceof Error && err.message === 'could not recover the EC public key') throw errors.badParameter('The imported EC key does not match the curve given in key.crv.');
    throw err;
  }
}
