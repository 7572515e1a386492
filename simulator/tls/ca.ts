import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { ensurePrivateDir, writeFileAtomic, writePrivateFile } from '../../files/private-files';

export interface TlsMaterial {
  caCertPath: string;
  caCert: string;
  key: string;
  cert: string;
}

/**
 * The simulator's own CA and its server certificate (127.0.0.1, ::1 and localhost), made once with the openssl
 * command line and reused afterwards. Private keys are written 0600 inside the 0700 tls/ folder; the CA key
 * never leaves it. EC P-256 keeps TLS handshakes cheap.
 */
export function ensureTls(stateDir: string): TlsMaterial {
  const dir = path.join(stateDir, 'tls');
  ensurePrivateDir(dir);
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  const key = path.join(dir, 'server.key');
  const cert = path.join(dir, 'server.crt');
  if (!fs.existsSync(caCert) || !fs.existsSync(caKey)) {
    writePrivateFile(caKey, genKey());
    const pem = openssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '3650', '-subj', '/CN=azure-hsm-cdktf simulator CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    writeFileAtomic(caCert, pem);
    fs.rmSync(cert, { force: true });
  }
  if (!fs.existsSync(cert) || !fs.existsSync(key)) {
    writePrivateFile(key, genKey());
    const csr = path.join(dir, 'server.csr');
    const ext = path.join(dir, 'server.ext');
    fs.writeFileSync(csr, openssl(['req', '-new', '-key', key, '-subj', '/CN=127.0.0.1']));
    fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
    const pem = openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext]);
    writeFileAtomic(cert, pem);
    fs.rmSync(csr, { force: true });
    fs.rmSync(ext, { force: true });
  }
  return { caCertPath: caCert, caCert: fs.readFileSync(caCert, 'utf8'), key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
}

function genKey(): string {
  return openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
}

/** Runs the openssl command; its failures name the subcommand and what openssl said (it prints no secrets). */
export function openssl(args: string[]): string {
  try {
    return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the openssl command is missing: run scripts/setup-system.sh as root (Debian package openssl)');
    throw new Error(`openssl ${args[0]} failed: ${String(e.stderr ?? '').trim()}`);
  }
}
