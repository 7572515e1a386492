import * as fs from 'fs';
import * as path from 'path';
import { X509Certificate, createHash, createPrivateKey, KeyObject } from 'crypto';
import { ensurePrivateDir, writeFileAtomic, writePrivateFile } from '../../files/private-files';
import { selfSignedRsa } from '../clients/openssl';
import { SdFormatError, WrappingKey, decryptData, makeRestoreBlob, parseSecurityDomainFile, recoverMasterKey, x5tS256 } from '../../formats/security-domain-file';
import { CertificateJwk, ManagedHsmAdminClient, SdStatus } from '../clients/mhsm-admin';
import { CeremonyError } from '../failure';

/**
 * The security-domain ceremonies as library functions (the sd commands and the DR drill call them): make the
 * wrapping keys and certificates, download (activate or rotate), make a restore blob offline, recover.
 * Private keys and the security-domain file are written 0600 in 0700 folders; nothing secret is printed.
 */

export const MIN_KEY_BITS = 2048;
export const SD_FILE = 'security-domain.json';


export interface MadeKeys {
  keys: WrappingKey[];
  files: Array<{ key: string; cer: string }>;
}

/** The files a set of N wrapping keys is written to (as the seeds name them with openssl: cert_0.key/.cer...). */
export function keyFiles(dir: string, n: number): Array<{ key: string; cer: string }> {
  return Array.from({ length: n }, (_, i) => ({ key: path.join(dir, `cert_${i}.key`), cer: path.join(dir, `cert_${i}.cer`) }));
}

/** Makes N RSA key pairs and self-signed certificates with openssl, as the runbooks do; kept in memory until written. */
export async function makeWrappingKeys(n: number, bits: number, days: number, subject = 'Managed HSM security domain'): Promise<Array<{ privateKey: KeyObject; certificate: X509Certificate }>> {
  if (!Number.isInteger(bits) || bits < MIN_KEY_BITS) throw new CeremonyError(`key size must be at least ${MIN_KEY_BITS} bits; got ${bits}`);
  return Promise.all(Array.from({ length: n }, (_, i) => selfSignedRsa(bits, days, `${subject} ${i}`)));
}

/** Refuses to overwrite: every target file must be absent. */
export function checkFree(files: string[]): void {
  const taken = files.filter((f) => fs.existsSync(f));
  if (taken.length) throw new CeremonyError(`refusing to overwrite ${taken.join(', ')}: choose an empty --out folder`);
}

export function writeWrappingKeys(dir: string, made: Array<{ privateKey: KeyObject; certificate: X509Certificate }>): Array<{ key: string; cer: string }> {
  ensurePrivateDir(dir);
  const files = keyFiles(dir, made.length);
  made.forEach((m, i) => {
    writePrivateFile(files[i].key, m.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    writeFileAtomic(files[i].cer, m.certificate.toString(), 0o644);
  });
  return files;
}

/** The JWK the download call takes for a certificate (as `az keyvault security-domain download` builds it). */
export function certificateJwk(cert: X509Certificate): CertificateJwk {
  const pub = rsaPublicOf(cert);
  if (!pub || pub.bits < MIN_KEY_BITS) throw new CeremonyError(`${cert.subject}: a security-domain certificate must hold an RSA key of at least ${MIN_KEY_BITS} bits`);
  return {
    kty: 'RSA',
    alg: 'RSA-OAEP-256',
    key_ops: ['verify', 'encrypt', 'wrapKey'],
    n: pub.n,
    e: pub.e,
    x5c: [cert.raw.toString('base64')],
    x5t: createHash('sha1').update(cert.raw).digest('base64url'),
    'x5t#S256': x5tS256(cert),
  };
}

function rsaPublicOf(cert: X509Certificate): { n: string; e: string; bits: number } | undefined {
  const jwk = cert.publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) return undefined;
  return { n: jwk.n, e: jwk.e, bits: cert.publicKey.asymmetricKeyDetails?.modulusLength ?? Buffer.from(jwk.n, 'base64url').length * 8 };
}

export function readCertificateFile(file: string): X509Certificate {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    throw new CeremonyError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return new X509Certificate(data);
  } catch {
    throw new CeremonyError(`${file}: not an X.509 certificate (PEM or DER expected)`);
  }
}

/** Reads wrapping keys: each private key file (PEM) and the certificate beside it (same name, .cer), as the Azure CLI does. */
export function loadWrappingKeys(files: string[], warn: (m: string) => void): WrappingKey[] {
  const seen = new Set<string>();
  return files.map((file) => {
    const resolved = path.resolve(file);
    if (seen.has(resolved)) throw new CeremonyError(`${file} is given twice`);
    seen.add(resolved);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(fs.readFileSync(file));
    } catch (err) {
      throw new CeremonyError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not a PEM private key (an unencrypted RSA key, as openssl req -nodes writes, is expected)'}`);
    }
    const cer = file.replace(/\.[^./\\]*$/, '') + '.cer';
    if (!fs.existsSync(cer)) throw new CeremonyError(`${file}: its certificate ${cer} is missing (keep each key's .cer beside it)`);
    const certificate = readCertificateFile(cer);
    const mine = createPrivateKey(fs.readFileSync(file)).asymmetricKeyType;
    if (mine !== 'rsa') throw new CeremonyError(`${file}: not an RSA key`);
    if (new Date(certificate.validTo).getTime() < Date.now()) {
      warn(`warning: the certificate ${cer} expired on ${new Date(certificate.validTo).toISOString()}; it still recovers the security domain (expiry does not matter for the recovery), but rotate the security domain to new certificates (hsmctl sd rotate)`);
    }
    return { label: file, privateKey, certificate };
  });
}

/** Proves a security-domain file opens with a quorum of the keys (used right after each download). */
export function verifySecurityDomainFile(text: string, keys: WrappingKey[]): void {
  const file = parseSecurityDomainFile(text);
  const { masterKey } = recoverMasterKey(file, keys);
  try {
    for (const d of decryptData(masterKey, file.EncData.data)) d.plaintext.fill(0);
  } finally {
    masterKey.fill(0);
  }
}

/** `az keyvault security-domain restore-blob`: offline, from the file, a quorum of keys and the exchange certificate. */
export function restoreBlob(sdText: string, exchange: X509Certificate, keys: WrappingKey[]): string {
  try {
    const file = parseSecurityDomainFile(sdText);
    return JSON.stringify(makeRestoreBlob(file, keys, exchange));
  } catch (err) {
    if (err instanceof SdFormatError) throw new CeremonyError(`the security domain file cannot be used: ${err.message}`);
    throw err;
  }
}

export interface DownloadResult {
  sdFile: string;
  keyFiles: Array<{ key: string; cer: string }>;
  status: SdStatus;
  required: number;
  certificates: number;
}

/**
 * Downloads the security domain under the given certificates: writes the key files first (when made here),
 * then the file, checks it opens with a quorum of the keys, and waits for Success. A refused download removes
 * the key files it wrote, so nothing is left changed.
 */
export async function downloadSecurityDomain(
  client: ManagedHsmAdminClient,
  o: { out: string; required: number; made?: Array<{ privateKey: KeyObject; certificate: X509Certificate }>; certificates?: X509Certificate[] },
): Promise<DownloadResult> {
  const certs = o.made ? o.made.map((m) => m.certificate) : o.certificates!;
  if (certs.length < 3 || certs.length > 10) throw new CeremonyError(`the security domain needs 3 to 10 certificates; got ${certs.length}`);
  if (o.required < 2 || o.required > 10 || o.required > certs.length) throw new CeremonyError(`the quorum must be from 2 to 10 and at most the number of certificates (${certs.length}); got ${o.required}`);
  const jwks = certs.map(certificateJwk);
  const sdFile = path.join(o.out, SD_FILE);
  const files = o.made ? keyFiles(o.out, o.made.length) : [];
  checkFree([sdFile, ...files.flatMap((f) => [f.key, f.cer])]);
  ensurePrivateDir(o.out);
  if (o.made) writeWrappingKeys(o.out, o.made);
  let text: string;
  try {
    text = await client.downloadSecurityDomain(jwks, o.required);
  } catch (err) {
    for (const f of files) for (const p of [f.key, f.cer]) fs.rmSync(p, { force: true });
    throw err;
  }
  writePrivateFile(sdFile, text);
  if (o.made) verifySecurityDomainFile(text, o.made.map((m, i) => ({ label: files[i].key, privateKey: m.privateKey, certificate: m.certificate })).slice(0, o.required));
  const status = await client.waitSecurityDomain('download');
  if (status.status === 'Failed') throw new CeremonyError(`the security domain download failed: ${status.status_details ?? 'no details'}`);
  return { sdFile, keyFiles: files, status, required: o.required, certificates: certs.length };
}

export async function isActivated(client: ManagedHsmAdminClient): Promise<boolean> {
  const s = await client.downloadStatus();
  return s?.status === 'Success' || s?.status === 'Succeeded';
}

/**
 * `sd recover`: checks offline that the keys open the file (quorum, certificates, integrity) before touching the
 * HSM, then exchange key, restore blob (made here), upload, wait.
 */
export async function recoverSecurityDomain(client: ManagedHsmAdminClient, sdText: string, keys: WrappingKey[], exchangeOut?: string): Promise<SdStatus> {
  try {
    verifySecurityDomainFile(sdText, keys);
  } catch (err) {
    if (err instanceof SdFormatError) throw new CeremonyError(`the security domain file cannot be used: ${err.message}; nothing was changed`);
    throw err;
  }
  const jwk = await client.exchangeKey();
  const exchange = new X509Certificate(Buffer.from(jwk.x5c[0], 'base64'));
  if (exchangeOut) writeFileAtomic(exchangeOut, exchange.toString(), 0o644);
  const blob = restoreBlob(sdText, exchange, keys);
  await client.uploadSecurityDomain(blob);
  const status = await client.waitSecurityDomain('upload');
  if (status.status === 'Failed') throw new CeremonyError(`the security domain upload failed: ${status.status_details ?? 'no details'}`);
  return status;
}

export function readTextFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CeremonyError(`${what} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
