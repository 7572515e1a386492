import { KeyObject, X509Certificate, constants, createCipheriv, createDecipheriv, createHash, createHmac, privateDecrypt, publicEncrypt, randomBytes, randomInt, timingSafeEqual } from 'crypto';

/**
 * The Managed HSM security-domain file and restore blob, in the format the service and the Azure CLI use
 * (reference/managed-hsm.md): a random master key split with Shamir over GF(257) byte by byte, each share a
 * compact JWE (RSA-OAEP-256 / A256CBC-HS512) to one certificate, and the domain data as compact JWEs (alg
 * "dir") under keys derived from the master key with NIST SP 800-108 (counter mode, HMAC-SHA512). Pure
 * functions over Node's crypto: the simulator (download/upload) and hsmctl (offline restore-blob) share them.
 * Errors are SdFormatError with a message fit for a user and never any key material.
 */
export class SdFormatError extends Error {}

export const MASTER_KEY_BYTES = 32;
const P = 257;

export function b64u(b: Buffer): string {
  return b.toString('base64url');
}

/** Strict base64url (padding tolerated). */
export function fromB64u(s: unknown, what: string): Buffer {
  if (typeof s !== 'string') throw new SdFormatError(`${what} must be a base64url string`);
  const t = s.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(t) || t.length % 4 === 1) throw new SdFormatError(`${what} is not valid base64url`);
  return Buffer.from(t, 'base64url');
}

/** NIST SP 800-108 counter-mode KDF with HMAC-SHA512: K(i) = HMAC(key, BE32(i) || label || 0x00 || context || BE32(bits)). */
export function sp800108(key: Buffer, label: string, context: string, bits: number): Buffer {
  const out: Buffer[] = [];
  const l = Buffer.alloc(4);
  l.writeUInt32BE(bits);
  for (let i = 1; out.length * 64 < bits / 8; i++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(i);
    out.push(createHmac('sha512', key).update(c).update(Buffer.from(label, 'utf8')).update(Buffer.from([0])).update(Buffer.from(context, 'utf8')).update(l).digest());
  }
  return Buffer.concat(out).subarray(0, bits / 8);
}

// ---- compact JWE with A256CBC-HS512 (RFC 7518 5.2.5) ----

export interface Jwe {
  encodedHeader: string;
  header: Record<string, unknown>;
  encryptedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export function parseJwe(compact: unknown, what: string): Jwe {
  if (typeof compact !== 'string') throw new SdFormatError(`${what} must be a compact JWE string`);
  const parts = compact.split('.');
  if (parts.length !== 5) throw new SdFormatError(`${what} is not a compact JWE (5 dot-separated parts expected)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(fromB64u(parts[0], `${what} header`).toString('utf8'));
  } catch (err) {
    throw err instanceof SdFormatError ? err : new SdFormatError(`${what} has a header that is not JSON`);
  }
  if (typeof header !== 'object' || header === null) throw new SdFormatError(`${what} has a header that is not a JSON object`);
  if (header.enc !== 'A256CBC-HS512') throw new SdFormatError(`${what} uses enc ${String(header.enc).slice(0, 20)}; only A256CBC-HS512 is supported`);
  return {
    encodedHeader: parts[0],
    header,
    encryptedKey: fromB64u(parts[1], `${what} encrypted key`),
    iv: fromB64u(parts[2], `${what} iv`),
    ciphertext: fromB64u(parts[3], `${what} ciphertext`),
    tag: fromB64u(parts[4], `${what} tag`),
  };
}

function mac(macKey: Buffer, encodedHeader: string, iv: Buffer, ct: Buffer): Buffer {
  const al = Buffer.alloc(8);
  al.writeBigUInt64BE(BigInt(Buffer.byteLength(encodedHeader, 'ascii') * 8));
  return createHmac('sha512', macKey).update(Buffer.from(encodedHeader, 'ascii')).update(iv).update(ct).update(al).digest().subarray(0, 32);
}

function seal(cek: Buffer, header: Record<string, unknown>, plaintext: Buffer, encryptedKey: Buffer): string {
  if (cek.length !== 64) throw new Error('A256CBC-HS512 needs a 64-byte key');
  const encodedHeader = b64u(Buffer.from(JSON.stringify(header), 'utf8'));
  const iv = randomBytes(16);
  const c = createCipheriv('aes-256-cbc', cek.subarray(32), iv);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return [encodedHeader, b64u(encryptedKey), b64u(iv), b64u(ct), b64u(mac(cek.subarray(0, 32), encodedHeader, iv, ct))].join('.');
}

/** Decrypts the content of a JWE with its content-encryption key; undefined when the tag does not match. */
export function openJwe(jwe: Jwe, cek: Buffer): Buffer | undefined {
  if (cek.length !== 64 || jwe.iv.length !== 16 || jwe.tag.length !== 32) return undefined;
  const want = mac(cek.subarray(0, 32), jwe.encodedHeader, jwe.iv, jwe.ciphertext);
  if (!timingSafeEqual(want, jwe.tag)) return undefined;
  try {
    const d = createDecipheriv('aes-256-cbc', cek.subarray(32), jwe.iv);
    return Buffer.concat([d.update(jwe.ciphertext), d.final()]);
  } catch {
    return undefined;
  }
}

/** A JWE with alg "dir" (the key is given), kid = the datum's tag. */
export function jweDir(cek: Buffer, plaintext: Buffer, kid: string): string {
  return seal(cek, { alg: 'dir', enc: 'A256CBC-HS512', kid }, plaintext, Buffer.alloc(0));
}

/** A JWE to an RSA public key: a random CEK wrapped with RSA-OAEP-256. */
export function jweToRsa(publicKey: KeyObject, plaintext: Buffer, kid: string): string {
  const cek = randomBytes(64);
  const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
  try {
    return seal(cek, { alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512', kid }, plaintext, wrapped);
  } finally {
    cek.fill(0);
  }
}

/** Opens a JWE addressed to an RSA key held in this process (hsmctl's offline restore-blob). */
export function openJweWithPrivateKey(jwe: Jwe, privateKey: KeyObject): Buffer | undefined {
  if (jwe.header.alg !== 'RSA-OAEP-256' && jwe.header.alg !== 'RSA-OAEP') return undefined;
  let cek: Buffer;
  try {
    cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: jwe.header.alg === 'RSA-OAEP' ? 'sha1' : 'sha256' }, jwe.encryptedKey);
  } catch {
    return undefined;
  }
  try {
    return openJwe(jwe, cek);
  } finally {
    cek.fill(0);
  }
}

// ---- Shamir over GF(257), byte by byte; a share byte is the 16-bit little-endian word (x << 9) | v ----

const mod = (a: number) => ((a % P) + P) % P;

function inverse(a: number): number {
  // Fermat: a^(p-2) mod p.
  let r = 1;
  let b = mod(a);
  for (let e = P - 2; e > 0; e >>= 1) {
    if (e & 1) r = (r * b) % P;
    b = (b * b) % P;
  }
  return r;
}

export function shamirSplit(secret: Buffer, shares: number, required: number): Buffer[] {
  if (required < 2 || required > shares || shares > 126) throw new Error('bad share counts');
  const out = Array.from({ length: shares }, () => Buffer.alloc(secret.length * 2));
  for (let i = 0; i < secret.length; i++) {
    const coeffs = [secret[i], ...Array.from({ length: required - 1 }, () => randomInt(P))];
    for (let x = 1; x <= shares; x++) {
      let v = 0;
      for (let k = coeffs.length - 1; k >= 0; k--) v = (v * x + coeffs[k]) % P;
      out[x - 1].writeUInt16LE((x << 9) | v, i * 2);
    }
  }
  return out;
}

/** Lagrange interpolation at 0 over the given shares (each twice the secret's length). */
export function shamirCombine(shares: Buffer[]): Buffer {
  if (shares.length === 0) throw new SdFormatError('no shares');
  const n = shares[0].length / 2;
  if (!Number.isInteger(n) || shares.some((s) => s.length !== n * 2)) throw new SdFormatError('the shares have different or odd lengths');
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const pts = shares.map((s) => {
      const w = s.readUInt16LE(i * 2);
      return { x: w >> 9, v: w & 0x1ff };
    });
    if (new Set(pts.map((p) => p.x)).size !== pts.length || pts.some((p) => p.x === 0 || p.v >= P)) throw new SdFormatError('the shares are malformed (repeated or invalid x, or value out of range)');
    let acc = 0;
    for (let j = 0; j < pts.length; j++) {
      let num = 1;
      let den = 1;
      for (let k = 0; k < pts.length; k++) {
        if (k === j) continue;
        num = (num * pts[k].x) % P;
        den = (den * mod(pts[k].x - pts[j].x)) % P;
      }
      acc = (acc + pts[j].v * num * inverse(den)) % P;
    }
    if (acc > 255) throw new SdFormatError('the shares do not reconstruct a key (they are inconsistent)');
    out[i] = acc;
  }
  return out;
}

// ---- the security domain file and the restore blob ----

export interface SdDatum {
  compact_jwe: string;
  tag: string;
}

export interface SecurityDomainFile {
  EncData: { data: SdDatum[]; kdf: 'sp108_kdf' };
  SharedKeys: { enc_shares: Array<{ enc_key: string; x5t_256: string }>; required: number; key_algorithm: 'shamir_share' };
}

export interface RestoreBlob {
  EncData: { data: SdDatum[]; kdf: 'sp108_kdf' };
  WrappedKey: { enc_key: string; x5t_256: string };
}

export function x5tS256(cert: X509Certificate | Buffer): string {
  return b64u(createHash('sha256').update(Buffer.isBuffer(cert) ? cert : cert.raw).digest());
}

export function encryptData(masterKey: Buffer, items: Array<{ tag: string; plaintext: Buffer }>): SdDatum[] {
  return items.map(({ tag, plaintext }) => {
    const key = sp800108(masterKey, tag, '', 512);
    try {
      return { compact_jwe: jweDir(key, plaintext, tag), tag };
    } finally {
      key.fill(0);
    }
  });
}

/** Decrypts every datum; a wrong master key (too few or wrong shares, a corrupt file) fails the HMAC. */
export function decryptData(masterKey: Buffer, data: SdDatum[]): Array<{ tag: string; plaintext: Buffer }> {
  return data.map((d, i) => {
    // Older Azure CLI versions wrote compact_jwe base64url-encoded once more: accept both.
    const compact = d.compact_jwe.includes('.') ? d.compact_jwe : fromB64u(d.compact_jwe, `EncData.data[${i}].compact_jwe`).toString('ascii');
    const jwe = parseJwe(compact, `EncData.data[${i}]`);
    const key = sp800108(masterKey, d.tag, '', 512);
    try {
      const pt = openJwe(jwe, key);
      if (!pt) throw new SdFormatError('the security domain data cannot be decrypted: the key shares do not reconstruct its master key (a corrupt file, or shares from other certificates)');
      return { tag: d.tag, plaintext: pt };
    } finally {
      key.fill(0);
    }
  });
}

export function buildSecurityDomainFile(items: Array<{ tag: string; plaintext: Buffer }>, certificates: X509Certificate[], required: number): SecurityDomainFile {
  const master = randomBytes(MASTER_KEY_BYTES);
  try {
    const shares = shamirSplit(master, certificates.length, required);
    const encShares = certificates.map((c, i) => {
      const t = x5tS256(c);
      try {
        return { enc_key: jweToRsa(c.publicKey, shares[i], t), x5t_256: t };
      } finally {
        shares[i].fill(0);
      }
    });
    return { EncData: { data: encryptData(master, items), kdf: 'sp108_kdf' }, SharedKeys: { enc_shares: encShares, required, key_algorithm: 'shamir_share' } };
  } finally {
    master.fill(0);
  }
}

function parseData(v: unknown, where: string): SdDatum[] {
  const e = v as { data?: unknown; kdf?: unknown } | undefined;
  if (!e || typeof e !== 'object' || !Array.isArray(e.data) || e.data.length === 0) throw new SdFormatError(`${where}.data must be a non-empty list`);
  if (e.kdf !== 'sp108_kdf') throw new SdFormatError(`${where}.kdf must be sp108_kdf`);
  return e.data.map((d: unknown, i: number) => {
    const x = d as { compact_jwe?: unknown; tag?: unknown };
    if (!x || typeof x.compact_jwe !== 'string' || typeof x.tag !== 'string' || x.tag === '') throw new SdFormatError(`${where}.data[${i}] needs compact_jwe and tag strings`);
    return { compact_jwe: x.compact_jwe, tag: x.tag };
  });
}

function parseJson(text: string | Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text.toString());
  } catch {
    throw new SdFormatError(`${what} is not valid JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SdFormatError(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** Validates a security domain file's structure (not yet its cryptography). */
export function parseSecurityDomainFile(text: string | Buffer): SecurityDomainFile {
  const o = parseJson(text, 'the security domain file');
  if (!o.EncData || !o.SharedKeys) throw new SdFormatError('not a security domain file: EncData and SharedKeys are required');
  const data = parseData(o.EncData, 'EncData');
  const sk = o.SharedKeys as { enc_shares?: unknown; required?: unknown; key_algorithm?: unknown };
  if (sk.key_algorithm !== 'shamir_share') throw new SdFormatError(`SharedKeys.key_algorithm ${String(sk.key_algorithm).slice(0, 20)} is not supported (shamir_share expected)`);
  if (!Number.isInteger(sk.required) || (sk.required as number) < 2 || (sk.required as number) > 10) throw new SdFormatError('SharedKeys.required must be an integer from 2 to 10');
  if (!Array.isArray(sk.enc_shares) || sk.enc_shares.length < (sk.required as number)) throw new SdFormatError('SharedKeys.enc_shares must list at least `required` shares');
  const shares = sk.enc_shares.map((s: unknown, i: number) => {
    const x = s as { enc_key?: unknown; x5t_256?: unknown };
    if (!x || typeof x.enc_key !== 'string' || typeof x.x5t_256 !== 'string') throw new SdFormatError(`SharedKeys.enc_shares[${i}] needs enc_key and x5t_256 strings`);
    return { enc_key: x.enc_key, x5t_256: x.x5t_256 };
  });
  return { EncData: { data, kdf: 'sp108_kdf' }, SharedKeys: { enc_shares: shares, required: sk.required as number, key_algorithm: 'shamir_share' } };
}

export function parseRestoreBlob(text: string | Buffer): RestoreBlob {
  const o = parseJson(text, 'the restore blob');
  if (!o.EncData || !o.WrappedKey) throw new SdFormatError('not a security domain restore blob: EncData and WrappedKey are required (a security domain file must first go through restore-blob with the exchange key)');
  const data = parseData(o.EncData, 'EncData');
  const w = o.WrappedKey as { enc_key?: unknown; x5t_256?: unknown };
  if (typeof w.enc_key !== 'string' || typeof w.x5t_256 !== 'string') throw new SdFormatError('WrappedKey needs enc_key and x5t_256 strings');
  const encKey = w.enc_key.includes('.') ? w.enc_key : fromB64u(w.enc_key, 'WrappedKey.enc_key').toString('ascii');
  return { EncData: { data, kdf: 'sp108_kdf' }, WrappedKey: { enc_key: encKey, x5t_256: w.x5t_256 } };
}

export interface WrappingKey {
  /** Where it came from, for messages (a file name). */
  label: string;
  privateKey: KeyObject;
  certificate: X509Certificate;
}

/**
 * Recovers the master key from a quorum of wrapping keys (private key + its certificate). Errors: fewer keys
 * than the quorum, a key whose certificate is not among the file's, a share that does not open.
 */
export function recoverMasterKey(file: SecurityDomainFile, keys: WrappingKey[]): { masterKey: Buffer; used: string[] } {
  const required = file.SharedKeys.required;
  if (keys.length < required) throw new SdFormatError(`the security domain needs ${required} wrapping keys (its quorum); got ${keys.length}`);
  const seen = new Set<string>();
  const shares: Buffer[] = [];
  const used: string[] = [];
  for (const k of keys) {
    const t = x5tS256(k.certificate);
    const share = file.SharedKeys.enc_shares.find((s) => s.x5t_256 === t);
    if (!share) throw new SdFormatError(`${k.label}: its certificate (x5t#S256 ${t}) is not one of the ${file.SharedKeys.enc_shares.length} certificates this security domain was made for`);
    if (seen.has(t)) throw new SdFormatError(`${k.label}: the same certificate was given twice`);
    seen.add(t);
    const pt = openJweWithPrivateKey(parseJwe(share.enc_key, `the share for ${k.label}`), k.privateKey);
    if (!pt) throw new SdFormatError(`${k.label}: the private key does not open its share (the key does not match its certificate, or the file is corrupt)`);
    shares.push(pt);
    used.push(k.label);
    if (shares.length === required) break;
  }
  try {
    return { masterKey: shamirCombine(shares), used };
  } finally {
    for (const s of shares) s.fill(0);
  }
}

/** The offline step of a recovery: the file's data re-encrypted under a new master key wrapped to the exchange key. */
export function makeRestoreBlob(file: SecurityDomainFile, keys: WrappingKey[], exchange: X509Certificate): RestoreBlob {
  const { masterKey } = recoverMasterKey(file, keys);
  let items: Array<{ tag: string; plaintext: Buffer }>;
  try {
    items = decryptData(masterKey, file.EncData.data);
  } finally {
    masterKey.fill(0);
  }
  const fresh = randomBytes(MASTER_KEY_BYTES);
  try {
    const t = x5tS256(exchange);
    return { EncData: { data: encryptData(fresh, items), kdf: 'sp108_kdf' }, WrappedKey: { enc_key: jweToRsa(exchange.publicKey, fresh, 'not used'), x5t_256: t } };
  } finally {
    fresh.fill(0);
    for (const i of items) i.plaintext.fill(0);
  }
}
