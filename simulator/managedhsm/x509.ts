import { KeyObject, X509Certificate, createHash, createPublicKey, randomBytes } from 'crypto';

/**
 * A minimal X.509 v3 certificate builder (DER), enough for self-signed RSA certificates: the security-domain
 * certificates hsmctl makes (as `openssl req -x509` does in the seeds) and the simulator's exchange-key
 * certificate, which is signed inside the token. Parsing is left to Node's X509Certificate.
 */

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...c: Buffer[]) => der(0x30, ...c);
const set = (...c: Buffer[]) => der(0x31, ...c);
const NULL = Buffer.from([0x05, 0x00]);

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f];
    for (let v = p >> 7; v > 0; v >>= 7) stack.unshift(0x80 | (v & 0x7f));
    out.push(...stack);
  }
  return der(0x06, Buffer.from(out));
}

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return der(0x02, v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  // UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
  return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2))) : der(0x18, Buffer.from(iso));
}

function name(cn: string): Buffer {
  return seq(set(seq(oid('2.5.4.3'), der(0x0c, Buffer.from(cn, 'utf8')))));
}

const SHA256_WITH_RSA = seq(oid('1.2.840.113549.1.1.11'), NULL);

export interface CertificateSpec {
  commonName: string;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Signs the DER TBSCertificate with RSASSA-PKCS1-v1_5 / SHA-256 using the key matching publicKey. */
  sign: (tbs: Buffer) => Promise<Buffer> | Buffer;
}

/** Builds a self-signed certificate; returns its DER. */
export async function selfSignedCertificate(spec: CertificateSpec): Promise<Buffer> {
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const spki = spec.publicKey.export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha1').update(spki).digest();
  const extensions = der(
    0xa3,
    seq(
      seq(oid('2.5.29.19'), der(0x01, Buffer.from([0xff])), der(0x04, seq())), // basicConstraints critical, CA false
      seq(oid('2.5.29.15'), der(0x01, Buffer.from([0xff])), der(0x04, der(0x03, Buffer.from([0x05, 0xa0])))), // digitalSignature, keyEncipherment
      seq(oid('2.5.29.14'), der(0x04, der(0x04, keyId))),
    ),
  );
  const tbs = seq(
    der(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    SHA256_WITH_RSA,
    name(spec.commonName),
    seq(time(spec.notBefore), time(spec.notAfter)),
    name(spec.commonName),
    spki,
    extensions,
  );
  const signature = await spec.sign(tbs);
  return seq(tbs, SHA256_WITH_RSA, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
}

export function derToPem(derBytes: Buffer): string {
  const b64 = derBytes.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/** Reads a PEM or DER certificate; throws an Error naming what is wrong. */
export function readCertificate(data: Buffer | string): X509Certificate {
  try {
    return new X509Certificate(data);
  } catch {
    throw new Error('not an X.509 certificate (PEM or DER expected)');
  }
}

export function rsaPublicJwk(cert: X509Certificate): { n: string; e: string; bits: number } | undefined {
  const jwk = createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' })).export({ format: 'jwk' }) as { kty?: string; n?: string; e?: string };
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) return undefined;
  return { n: jwk.n, e: jwk.e, bits: Buffer.from(jwk.n, 'base64url').length * 8 };
}
