import { createECDH, createPublicKey, randomBytes, verify, createHash, ECDH } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { Token, KeyUsage } from '../pkcs11/token';
import { Kty, PublicKey } from './model';
import { NODE_CURVE } from './algorithms';

/**
 * What each key type may do inside the token. The token flags are set by key type, not by key_ops, because
 * key_ops can be changed later by PATCH while token flags of SoftHSM2 objects are fixed at creation; the
 * domain layer enforces key_ops on every request.
 */
export function usageFor(kty: Kty): KeyUsage {
  if (kty === 'RSA') return { sign: true, decrypt: true, unwrap: true };
  if (kty === 'EC') return { sign: true, derive: true };
  return { encrypt: true, decrypt: true, wrap: true, unwrap: true };
}

export function rsaPublic(n: Buffer, e: Buffer): PublicKey {
  return { n: stripZeros(n).toString('base64url'), e: stripZeros(e).toString('base64url') };
}

export function ecPublic(crv: string, point: Buffer): PublicKey {
  const len = (point.length - 1) / 2;
  return { crv, x: point.subarray(1, 1 + len).toString('base64url'), y: point.subarray(1 + len).toString('base64url') };
}

export function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** Modulus length in bytes of an RSA public key record. */
export function modulusBytes(pub: PublicKey): number {
  return 'n' in pub ? Buffer.from(pub.n, 'base64url').length : 0;
}

export function nodePublicKey(pub: PublicKey) {
  return 'n' in pub
    ? createPublicKey({ key: { kty: 'RSA', n: pub.n, e: pub.e }, format: 'jwk' })
    : createPublicKey({ key: { kty: 'EC', crv: pub.crv === 'P-256K' ? 'secp256k1' : pub.crv, x: pub.x, y: pub.y }, format: 'jwk' });
}

/**
 * Recovers the public point of an EC private key that arrived wrapped (BYOK), where PKCS#11 gives no public half:
 * ECDH of the private key with the generator yields x of d·G inside the token; of the two points with that x,
 * the one that verifies a token signature is the public key. The private scalar never leaves the token.
 */
export async function recoverEcPublic(token: Token, id: string, crv: string): Promise<Buffer> {
  const curve = NODE_CURVE[crv];
  const ecdh: ECDH = createECDH(curve);
  const one = Buffer.alloc(crv === 'P-521' ? 66 : crv === 'P-384' ? 48 : 32);
  one[one.length - 1] = 1;
  ecdh.setPrivateKey(one);
  const g = ecdh.getPublicKey();
  const x = await token.ecdhX(id, g);
  const msg = randomBytes(32);
  const sig = await token.sign(id, { mechanism: pkcs11js.CKM_ECDSA }, createHash('sha256').update(msg).digest(), 200);
  for (const prefix of [0x02, 0x03]) {
    const point = ECDH.convertKey(Buffer.concat([Buffer.from([prefix]), x]), curve, undefined, undefined, 'uncompressed') as Buffer;
    const key = nodePublicKey(ecPublic(crv, point));
    if (verify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, sig)) return point;
  }
  throw new Error('could not recover the EC public key');
}
