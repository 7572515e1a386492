import { publicEncrypt, constants, randomBytes } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { errors } from '../http/errors';
import { oaepDecodeSha256 } from '../crypto/oaep';
import { KeyService } from './keys';
import { VersionRecord } from './model';
import { AES_ALGS, GCM_IV_BYTES, GCM_TAG_BYTES, OAEP_SHA1, RSA_ENC_ALGS, RsaEncAlg, SIGN_ALGS, aesMechanism, rsaMaxPlaintext, signMechanism } from './algorithms';
import { modulusBytes, nodePublicKey } from './key-material';
import { requireKeyValid } from './key-validity';

export type KeyOp = 'sign' | 'verify' | 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey';

export interface AesResult {
  value: Buffer;
  iv?: Buffer;
  tag?: Buffer;
  aad?: Buffer;
}

/**
 * Cryptographic operations on a key version, decided as the service decides them: the key's key_ops, then
 * enabled/nbf/exp, then algorithm and input checks; private-key work happens in the token. Mechanisms
 * SoftHSM2 lacks are composed around the token (RSA-OAEP-256 = raw RSA in the token + OAEP decoding outside).
 */
export class CryptoService {
  constructor(private readonly keys: KeyService) {}

  private get token() {
    return this.keys.token;
  }

  usable(name: string, version: string, op: KeyOp): VersionRecord {
    const v = this.keys.get(name, version);
    if (!v.keyOps.includes(op)) throw errors.forbidden(`Operation ${op} is not permitted on this key (key_ops: ${v.keyOps.join(', ') || 'none'}).`, 'KeyOperationForbidden');
    requireKeyValid(v, op, this.keys.now());
    return v;
  }

  private signAlg(v: VersionRecord, alg: string, digest: Buffer) {
    const a = SIGN_ALGS[alg];
    if (!a) throw errors.badParameter(`Invalid algorithm '${alg.slice(0, 32)}': one of ${Object.keys(SIGN_ALGS).join(', ')}.`);
    if (a.kty !== v.kty || (a.crv && a.crv !== v.crv)) throw errors.badParameter(`Algorithm ${alg} cannot be used with a ${v.kty}${v.crv ? ` ${v.crv}` : ''} key.`);
    if (digest.length !== a.digestLength) throw errors.badParameter(`Invalid digest length ${digest.length} for ${alg}: expected ${a.digestLength} bytes.`);
    return a;
  }

  async sign(name: string, version: string, alg: string, digest: Buffer): Promise<{ v: VersionRecord; value: Buffer }> {
    const v = this.usable(name, version, 'sign');
    const { mech, data } = signMechanism(this.signAlg(v, alg, digest), digest);
    return { v, value: await this.token.sign(v.version, mech, data, 512) };
  }

  async verify(name: string, version: string, alg: string, digest: Buffer, signature: Buffer): Promise<{ v: VersionRecord; ok: boolean }> {
    const v = this.usable(name, version, 'verify');
    const { mech, data } = signMechanism(this.signAlg(v, alg, digest), digest);
    if (signature.length === 0 || signature.length > 1024) return { v, ok: false };
    return { v, ok: await this.token.verify(v.version, mech, data, signature) };
  }

  async encrypt(name: string, version: string, op: 'encrypt' | 'wrapKey', alg: string, value: Buffer, iv?: Buffer, aad?: Buffer): Promise<{ v: VersionRecord; r: AesResult }> {
    const v = this.usable(name, version, op);
    if (v.kty === 'RSA') {
      const a = this.rsaAlg(alg);
      const k = modulusBytes(v.pub!);
      if (value.length > rsaMaxPlaintext(a, k)) throw errors.badParameter(`The plaintext is too long for ${alg} with a ${k * 8}-bit key (at most ${rsaMaxPlaintext(a, k)} bytes).`);
      // Encryption uses only the public key; Node's OpenSSL offers OAEP with SHA-256 where SoftHSM2 does not.
      const key = nodePublicKey(v.pub!);
      const out =
        a === 'RSA1_5'
          ? publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, value)
          : publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: a === 'RSA-OAEP' ? 'sha1' : 'sha256' }, value);
      return { v, r: { value: out } };
    }
    if (v.kty !== 'oct') throw errors.badParameter(`Operation ${op} is not supported for ${v.kty}-HSM keys.`);
    const a = this.aesAlg(v, alg, op);
    if (a.mode === 'KW') {
      if (value.length < 16 || value.length % 8 !== 0) throw errors.badParameter(`${alg} wraps keys of at least 16 bytes in multiples of 8; got ${value.length}.`);
      return { v, r: { value: await this.token.wrapBytes(v.version, aesMechanism(a, undefined), value) } };
    }
    if (a.mode === 'GCM') {
      // The service chooses the IV for AES-GCM encryption; a caller-chosen one is refused.
      if (iv) throw errors.badParameter(`The iv must not be supplied for ${alg} encryption: the HSM generates it.`);
      const nonce = randomBytes(GCM_IV_BYTES);
      const out = await this.token.encrypt(v.version, aesMechanism(a, nonce, aad), value);
      return { v, r: { value: out.subarray(0, out.length - GCM_TAG_BYTES), tag: out.subarray(out.length - GCM_TAG_BYTES), iv: nonce, aad } };
    }
    // Without a caller iv the HSM picks a random one and returns it (KeyClient's remote path sends none).
    if (!iv) iv = randomBytes(16);
    if (iv.length !== 16) throw errors.badParameter(`${alg} needs a 16-byte iv; got ${iv.length}.`);
    if (a.mode === 'CBC' && value.length % 16 !== 0) throw errors.badParameter(`${alg} needs a plaintext that is a multiple of 16 bytes; use ${alg}PAD for padding.`);
    return { v, r: { value: await this.token.encrypt(v.version, aesMechanism(a, iv), value), iv } };
  }

  async decrypt(name: string, version: string, op: 'decrypt' | 'unwrapKey', alg: string, value: Buffer, iv?: Buffer, aad?: Buffer, tag?: Buffer): Promise<{ v: VersionRecord; value: Buffer }> {
    const v = this.usable(name, version, op);
    const fail = () => errors.badParameter(`The ${op === 'decrypt' ? 'ciphertext' : 'wrapped key'} could not be ${op === 'decrypt' ? 'decrypted' : 'unwrapped'} with ${alg} and this key.`);
    if (v.kty === 'RSA') {
      const a = this.rsaAlg(alg);
      const k = modulusBytes(v.pub!);
      if (value.length !== k) throw errors.badParameter(`The ciphertext must be ${k} bytes for this ${k * 8}-bit key; got ${value.length}.`);
      try {
        if (a === 'RSA1_5') return { v, value: await this.token.decrypt(v.version, { mechanism: pkcs11js.CKM_RSA_PKCS }, value) };
        if (a === 'RSA-OAEP') return { v, value: await this.token.decrypt(v.version, OAEP_SHA1, value) };
        const em = await this.token.decrypt(v.version, { mechanism: pkcs11js.CKM_RSA_X_509 }, value);
        const out = oaepDecodeSha256(em, k);
        if (!out) throw fail();
        return { v, value: out };
      } catch (err) {
        throw isTokenRefusal(err) ? fail() : err;
      }
    }
    if (v.kty !== 'oct') throw errors.badParameter(`Operation ${op} is not supported for ${v.kty}-HSM keys.`);
    const a = this.aesAlg(v, alg, op);
    try {
      if (a.mode === 'KW') {
        if (value.length < 24 || value.length % 8 !== 0) throw fail();
        return { v, value: await this.token.unwrapBytes(v.version, aesMechanism(a, undefined), value) };
      }
      if (a.mode === 'GCM') {
        if (!iv || iv.length === 0 || iv.length > 64) throw errors.badParameter(`${alg} decryption needs the iv returned by encryption.`);
        if (!tag || tag.length !== GCM_TAG_BYTES) throw errors.badParameter(`${alg} decryption needs the 16-byte authentication tag.`);
        return { v, value: await this.token.decrypt(v.version, aesMechanism(a, iv, aad), Buffer.concat([value, tag])) };
      }
      if (!iv || iv.length !== 16) throw errors.badParameter(`${alg} needs a 16-byte iv; got ${iv ? iv.length : 'none'}.`);
      if (value.length === 0 || value.length % 16 !== 0) throw fail();
      return { v, value: await this.token.decrypt(v.version, aesMechanism(a, iv), value) };
    } catch (err) {
      throw isTokenRefusal(err) ? fail() : err;
    }
  }

  private rsaAlg(alg: string): RsaEncAlg {
    if (!RSA_ENC_ALGS.includes(alg)) throw errors.badParameter(`Invalid algorithm '${alg.slice(0, 32)}' for an RSA key: one of ${RSA_ENC_ALGS.join(', ')}.`);
    return alg as RsaEncAlg;
  }

  private aesAlg(v: VersionRecord, alg: string, op: string) {
    const a = AES_ALGS[alg];
    if (!a) throw errors.badParameter(`Invalid algorithm '${alg.slice(0, 32)}' for an oct key: one of ${Object.keys(AES_ALGS).join(', ')}.`);
    const wrapping = op === 'wrapKey' || op === 'unwrapKey';
    if ((a.mode === 'KW') !== wrapping) throw errors.badParameter(`Algorithm ${alg} cannot be used for ${op}.`);
    if (a.bits !== v.size) throw errors.badParameter(`Algorithm ${alg} needs a ${a.bits}-bit key; this key has ${v.size} bits.`);
    return a;
  }
}

/** PKCS#11 answers that mean "this input does not decrypt", as opposed to a fault of ours. */
export function isTokenRefusal(err: unknown): boolean {
  if (!(err instanceof pkcs11js.Pkcs11Error)) return false;
  return [
    pkcs11js.CKR_ENCRYPTED_DATA_INVALID,
    pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE,
    pkcs11js.CKR_DATA_INVALID,
    pkcs11js.CKR_DATA_LEN_RANGE,
    pkcs11js.CKR_WRAPPED_KEY_INVALID,
    pkcs11js.CKR_WRAPPED_KEY_LEN_RANGE,
    pkcs11js.CKR_MECHANISM_PARAM_INVALID,
    pkcs11js.CKR_ARGUMENTS_BAD,
    pkcs11js.CKR_GENERAL_ERROR,
    pkcs11js.CKR_FUNCTION_FAILED,
    pkcs11js.CKR_TEMPLATE_INCONSISTENT,
    pkcs11js.CKR_KEY_SIZE_RANGE,
  ].includes(err.code);
}
