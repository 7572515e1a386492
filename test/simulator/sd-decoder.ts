import { KeyObject, X509Certificate, constants, createDecipheriv, createHash, createHmac, privateDecrypt } from 'crypto';

/**
 * A decoder of the Managed HSM security-domain file written for the tests from the published format
 * (reference/managed-hsm.md), sharing no code with formats/security-domain-file.ts: RSA-OAEP-256 +
 * A256CBC-HS512 compact JWEs, Shamir shares over GF(257) as 16-bit little-endian words (x << 9) | v, Lagrange
 * interpolation at 0, and SP 800-108 (HMAC-SHA512, counter mode) for the data keys.
 */

function unb64(s: string): Buffer {
  return Buffer.from(s, 'base64url');
}

/** Opens a compact JWE with a content key; null when the authentication tag does not match. */
function openCompact(compact: string, cek: Buffer): Buffer | null {
  const [h, , iv, ct, tag] = compact.split('.');
  const aadBits = Buffer.alloc(8);
  aadBits.writeBigUInt64BE(BigInt(h.length * 8));
  const mac = createHmac('sha512', cek.subarray(0, 32)).update(Buffer.from(h, 'ascii')).update(unb64(iv)).update(unb64(ct)).update(aadBits).digest().subarray(0, 32);
  if (!mac.equals(unb64(tag))) return null;
  const d = createDecipheriv('aes-256-cbc', cek.subarray(32, 64), unb64(iv));
  return Buffer.concat([d.update(unb64(ct)), d.final()]);
}

export function decryptShare(file: any, privateKey: KeyObject, cert: X509Certificate): Buffer {
  const thumb = createHash('sha256').update(cert.raw).digest('base64url');
  const share = file.SharedKeys.enc_shares.find((s: any) => s.x5t_256 === thumb);
  if (!share) throw new Error('no share for this certificate');
  const header = JSON.parse(unb64(share.enc_key.split('.')[0]).toString());
  if (header.alg !== 'RSA-OAEP-256' || header.enc !== 'A256CBC-HS512') throw new Error(`unexpected share header ${JSON.stringify(header)}`);
  const cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, unb64(share.enc_key.split('.')[1]));
  const out = openCompact(share.enc_key, cek);
  if (!out) throw new Error('share tag mismatch');
  return out;
}

function power(b: number, e: number): number {
  let r = 1;
  for (let i = 0; i < e; i++) r = (r * b) % 257;
  return r;
}

/** Lagrange at x = 0 over GF(257), byte position by byte position. */
export function interpolate(shares: Buffer[]): Buffer {
  const len = shares[0].length / 2;
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    const pts = shares.map((s) => ({ x: s.readUInt16LE(2 * i) >> 9, y: s.readUInt16LE(2 * i) & 0x1ff }));
    let sum = 0;
    for (const p of pts) {
      let l = 1;
      for (const q of pts) if (q !== p) l = (l * q.x * power((q.x - p.x + 257) % 257, 255)) % 257;
      sum = (sum + p.y * l) % 257;
    }
    out[i] = sum & 0xff;
  }
  return out;
}

function dataKey(master: Buffer, tag: string): Buffer {
  const input = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from(tag), Buffer.from([0]), Buffer.from([0, 0, 2, 0])]);
  return createHmac('sha512', master).update(input).digest();
}

/** Decrypts every EncData item with a candidate master key; null if any fails (wrong key). */
export function openData(file: any, master: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  for (const d of file.EncData.data) {
    const pt = openCompact(d.compact_jwe, dataKey(master, d.tag));
    if (!pt) return null;
    out.push(pt);
  }
  return out;
}
