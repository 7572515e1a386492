import * as fs from 'fs';
import * as path from 'path';
import { KeyObject, X509Certificate, createPrivateKey } from 'crypto';
import { ensurePrivateDir, writeFileAtomic, writePrivateFile } from '../../files/private-files';
import { openssl } from '../tls/ca';

/** A private key with its certificate chain (leaf first), made with openssl and kept in a 0700 folder. */
export interface SigningIdentity {
  key: KeyObject;
  /** PEM certificates, leaf first. */
  chain: X509Certificate[];
  /** Standard base64 DER of each certificate (a JWS x5c). */
  x5c: string[];
}

export interface IdentitySpec {
  dir: string;
  name: string;
  subject: string;
  /** openssl genpkey arguments, e.g. ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']. */
  keyArgs: string[];
  /** Issuer: its key and certificate files; absent for a self-signed certificate. */
  issuer?: { keyFile: string; certFile: string };
  /** Extensions for the certificate (openssl extfile lines). */
  extensions: string[];
  days?: number;
}

/** Creates the key and certificate on first use and loads them afterwards; the key file is 0600. */
export function ensureIdentity(s: IdentitySpec): SigningIdentity & { keyFile: string; certFile: string } {
  ensurePrivateDir(s.dir);
  const keyFile = path.join(s.dir, `${s.name}.key`);
  const certFile = path.join(s.dir, `${s.name}.crt`);
  if (!fs.existsSync(keyFile) || !fs.existsSync(certFile)) {
    writePrivateFile(keyFile, openssl(['genpkey', ...s.keyArgs]));
    const ext = path.join(s.dir, `${s.name}.ext`);
    fs.writeFileSync(ext, s.extensions.join('\n') + '\n');
    try {
      writeFileAtomic(certFile, s.issuer ? issued(s, keyFile, ext) : selfSigned(s, keyFile));
    } finally {
      fs.rmSync(ext, { force: true });
    }
  }
  const leaf = new X509Certificate(fs.readFileSync(certFile));
  const chain = [leaf];
  return { key: createPrivateKey(fs.readFileSync(keyFile)), chain, x5c: chain.map((c) => c.raw.toString('base64')), keyFile, certFile };
}

/** A certificate for keyFile signed by the issuer's key (openssl x509 -req). */
function issued(s: IdentitySpec, keyFile: string, ext: string): string {
  const csr = path.join(s.dir, `${s.name}.csr`);
  fs.writeFileSync(csr, openssl(['req', '-new', '-key', keyFile, '-subj', s.subject]));
  try {
    return openssl(['x509', '-req', '-in', csr, '-CA', s.issuer!.certFile, '-CAkey', s.issuer!.keyFile, '-set_serial', `0x${Date.now().toString(16)}`, '-days', String(s.days ?? 3650), '-sha256', '-extfile', ext]);
  } finally {
    fs.rmSync(csr, { force: true });
  }
}

/** A self-signed certificate whose extensions come from a minimal openssl config's [v3] section. */
function selfSigned(s: IdentitySpec, keyFile: string): string {
  const cnf = path.join(s.dir, `${s.name}.cnf`);
  fs.writeFileSync(cnf, ['[req]', 'distinguished_name = dn', '[dn]', '[v3]', ...s.extensions, ''].join('\n'));
  try {
    return openssl(['req', '-x509', '-new', '-key', keyFile, '-sha256', '-days', String(s.days ?? 3650), '-subj', s.subject, '-extensions', 'v3', '-config', cnf]);
  } finally {
    fs.rmSync(cnf, { force: true });
  }
}

/** The identity followed by its issuers' certificates (leaf first). */
export function withIssuers(id: SigningIdentity, ...issuers: SigningIdentity[]): SigningIdentity {
  const chain = [id.chain[0], ...issuers.map((i) => i.chain[0])];
  return { key: id.key, chain, x5c: chain.map((c) => c.raw.toString('base64')) };
}
