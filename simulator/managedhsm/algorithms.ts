import * as pkcs11js from 'pkcs11js';

/** The JWA algorithms of the Key Vault REST API and how each maps onto what SoftHSM2 offers. */

export interface SignAlg {
  kty: 'RSA' | 'EC';
  hash: 'sha256' | 'sha384' | 'sha512';
  digestLength: number;
  crv?: string;
  pss?: boolean;
}

export const SIGN_ALGS: Record<string, SignAlg> = {
  RS256: { kty: 'RSA', hash: 'sha256', digestLength: 32 },
  RS384: { kty: 'RSA', hash: 'sha384', digestLength: 48 },
  RS512: { kty: 'RSA', hash: 'sha512', digestLength: 64 },
  PS256: { kty: 'RSA', hash: 'sha256', digestLength: 32, pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', digestLength: 48, pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', digestLength: 64, pss: true },
  ES256: { kty: 'EC', hash: 'sha256', digestLength: 32, crv: 'P-256' },
  ES384: { kty: 'EC', hash: 'sha384', digestLength: 48, crv: 'P-384' },
  ES512: { kty: 'EC', hash: 'sha512', digestLength: 64, crv: 'P-521' },
  ES256K: { kty: 'EC', hash: 'sha256', digestLength: 32, crv: 'P-256K' },
};

/** DER DigestInfo prefixes: Key Vault signs a digest, so RS* is CKM_RSA_PKCS over DigestInfo || digest. */
const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

const PKCS11_HASH: Record<string, { hashAlg: number; mgf: number }> = {
  sha256: { hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256 },
  sha384: { hashAlg: pkcs11js.CKM_SHA384, mgf: pkcs11js.CKG_MGF1_SHA384 },
  sha512: { hashAlg: pkcs11js.CKM_SHA512, mgf: pkcs11js.CKG_MGF1_SHA512 },
};

/** The mechanism and the bytes to hand the token for a digest signature (or verification). */
export function signMechanism(a: SignAlg, digest: Buffer): { mech: pkcs11js.Mechanism; data: Buffer } {
  if (a.kty === 'EC') return { mech: { mechanism: pkcs11js.CKM_ECDSA }, data: digest };
  if (a.pss) {
    const h = PKCS11_HASH[a.hash];
    return {
      mech: { mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter: { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg: h.hashAlg, mgf: h.mgf, saltLen: a.digestLength } as pkcs11js.RsaPSS },
      data: digest,
    };
  }
  return { mech: { mechanism: pkcs11js.CKM_RSA_PKCS }, data: Buffer.concat([Buffer.from(DIGEST_INFO[a.hash], 'hex'), digest]) };
}

export type RsaEncAlg = 'RSA1_5' | 'RSA-OAEP' | 'RSA-OAEP-256';
export const RSA_ENC_ALGS: readonly string[] = ['RSA1_5', 'RSA-OAEP', 'RSA-OAEP-256'];

/** Largest plaintext for a modulus of k bytes. */
export function rsaMaxPlaintext(alg: RsaEncAlg, k: number): number {
  return alg === 'RSA1_5' ? k - 11 : alg === 'RSA-OAEP' ? k - 42 : k - 66;
}

export const OAEP_SHA1: pkcs11js.Mechanism = {
  mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
  parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: 1 } as pkcs11js.RsaOAEP,
};

export interface AesAlg {
  bits: number;
  mode: 'GCM' | 'CBC' | 'CBCPAD' | 'KW';
}

export const AES_ALGS: Record<string, AesAlg> = {};
for (const bits of [128, 192, 256]) {
  AES_ALGS[`A${bits}GCM`] = { bits, mode: 'GCM' };
  AES_ALGS[`A${bits}CBC`] = { bits, mode: 'CBC' };
  AES_ALGS[`A${bits}CBCPAD`] = { bits, mode: 'CBCPAD' };
  AES_ALGS[`A${bits}KW`] = { bits, mode: 'KW' };
}

export const GCM_TAG_BYTES = 16;
export const GCM_IV_BYTES = 12;

export function aesMechanism(a: AesAlg, iv: Buffer | undefined, aad?: Buffer): pkcs11js.Mechanism {
  switch (a.mode) {
    case 'GCM':
      return {
        mechanism: pkcs11js.CKM_AES_GCM,
        parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad, ivBits: (iv?.length ?? 0) * 8, tagBits: GCM_TAG_BYTES * 8 } as pkcs11js.AesGCM,
      };
    case 'CBC':
      return { mechanism: pkcs11js.CKM_AES_CBC, parameter: iv };
    case 'CBCPAD':
      return { mechanism: pkcs11js.CKM_AES_CBC_PAD, parameter: iv };
    case 'KW':
      return { mechanism: pkcs11js.CKM_AES_KEY_WRAP };
  }
}

/** Node's names for the curves, for public-key checks outside the token. */
export const NODE_CURVE: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1', 'P-256K': 'secp256k1' };
export const CURVE_BYTES: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66, 'P-256K': 32 };
