import * as fs from 'fs';
import * as path from 'path';
import { X509Certificate, createHash, generateKeyPairSync } from 'crypto';
import * as net from 'net';
import { ensurePrivateDir, writeFileAtomic, writePrivateFile } from '../../files/private-files';
import { openssl } from '../tls/ca';

/**
 * The appliance's own NTLS identity, as a real Luna has: a self-signed server certificate (server.pem) whose
 * subject is the appliance's IP, made once and kept across restarts and zeroization (only `sysconf regenCert`
 * replaces it on a real appliance). It also names 127.0.0.1 and localhost, where the simulated appliance
 * actually listens. The key is EC P-256 (cheap handshakes), 0600 in a 0700 folder.
 */
export function ensureServerCert(dir: string, ip: string): { certPem: string; keyPem: string } {
  ensurePrivateDir(dir);
  const keyFile = path.join(dir, 'server.key');
  const certFile = path.join(dir, 'server.pem');
  if (!fs.existsSync(keyFile) || !fs.existsSync(certFile)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writePrivateFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const sans = [`IP:${ip}`, ...(ip === '127.0.0.1' ? [] : ['IP:127.0.0.1']), 'DNS:localhost'].join(',');
    const pem = openssl([
      'req', '-x509', '-new', '-key', keyFile, '-sha256', '-days', '3650',
      '-subj', `/C=CA/ST=Ontario/L=Ottawa/O=Chrysalis-ITS/CN=${ip}`,
      '-addext', `subjectAltName=${sans}`,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      // clientAuth too: the appliance presents it to its HA peers on the clone link (replication.ts).
      '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
    ]);
    writeFileAtomic(certFile, pem, 0o644);
  }
  return { certPem: fs.readFileSync(certFile, 'utf8'), keyPem: fs.readFileSync(keyFile, 'utf8') };
}

/** The ECDSA host key the SSH server presents (OpenSSH and ssh2 both read SEC1 PEM), kept across restarts. */
export function ensureHostKey(dir: string): string {
  const file = path.join(dir, 'ssh_host_ecdsa_key');
  if (!fs.existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writePrivateFile(file, privateKey.export({ type: 'sec1', format: 'pem' }) as string);
  }
  return fs.readFileSync(file, 'utf8');
}

/** Parses one PEM certificate; throws a plain message (no content echoed) when it is not one. */
export function parseCertificate(pem: string): X509Certificate {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks || blocks.length !== 1) throw new Error('the file does not hold exactly one PEM certificate');
  try {
    return new X509Certificate(blocks[0]);
  } catch {
    throw new Error('the file holds a certificate that cannot be parsed');
  }
}

/** SHA-256 of the certificate's DER, as colon-separated upper-case hex (the form `client fingerprint` prints). */
export function fingerprintOfDer(der: Buffer): string {
  return createHash('sha256')
    .update(der)
    .digest('hex')
    .toUpperCase()
    .match(/../g)!
    .join(':');
}

export function fingerprintOfPem(pem: string): string {
  return fingerprintOfDer(parseCertificate(pem).raw);
}

/** True for a literal IPv4 or IPv6 address. */
export function isIp(value: string): boolean {
  return net.isIP(value) !== 0;
}

