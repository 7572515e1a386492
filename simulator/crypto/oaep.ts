import { createHash, timingSafeEqual } from 'crypto';

/**
 * EME-OAEP decoding (RFC 8017 §7.1.2) with SHA-256 for hash and MGF1. SoftHSM2 refuses OAEP with SHA-256, so the
 * token does the raw RSA private operation (CKM_RSA_X_509) and only this unpadding happens outside it: the
 * private key never leaves the token. Returns undefined for any decoding error, without saying which check
 * failed (no padding oracle).
 */
export function oaepDecodeSha256(em: Buffer, k: number, label = Buffer.alloc(0)): Buffer | undefined {
  const hLen = 32;
  if (em.length > k) return undefined;
  const full = em.length === k ? em : Buffer.concat([Buffer.alloc(k - em.length), em]);
  if (k < 2 * hLen + 2) return undefined;
  const y = full[0];
  const maskedSeed = full.subarray(1, 1 + hLen);
  const maskedDb = full.subarray(1 + hLen);
  const seed = xor(maskedSeed, mgf1(maskedDb, hLen));
  const db = xor(maskedDb, mgf1(seed, k - hLen - 1));
  const lHash = createHash('sha256').update(label).digest();
  let bad = y !== 0 ? 1 : 0;
  bad |= timingSafeEqual(db.subarray(0, hLen), lHash) ? 0 : 1;
  let sep = -1;
  for (let i = hLen; i < db.length; i++) {
    if (sep === -1 && db[i] === 0x01) sep = i;
    else if (sep === -1 && db[i] !== 0x00) bad |= 1;
  }
  if (sep === -1) bad |= 1;
  return bad ? undefined : Buffer.from(db.subarray(sep + 1));
}

function mgf1(seed: Buffer, len: number): Buffer {
  const out: Buffer[] = [];
  for (let c = 0; out.length * 32 < len; c++) {
    const ctr = Buffer.alloc(4);
    ctr.writeUInt32BE(c);
    out.push(createHash('sha256').update(seed).update(ctr).digest());
  }
  return Buffer.concat(out).subarray(0, len);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const r = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) r[i] = a[i] ^ b[i];
  return r;
}
