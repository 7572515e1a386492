import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFile } from 'child_process';
import { KeyObject, X509Certificate, createPrivateKey } from 'crypto';
import { CeremonyError } from '../failure';

/**
 * Self-signed RSA certificates made by the openssl command, as the runbooks make the security-domain wrapping
 * keys (`openssl req -newkey rsa:N -nodes -x509 -keyout cert_0.key -out cert_0.cer`): a maintained X.509
 * implementation, not one of ours. openssl writes the key 0600 into a private temporary folder that is removed
 * before this returns; the caller decides where the key goes.
 */
export async function selfSignedRsa(bits: number, days: number, commonName: string): Promise<{ privateKey: KeyObject; certificate: X509Certificate }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsmctl-cert-'));
  try {
    const key = path.join(dir, 'cert.key');
    const cer = path.join(dir, 'cert.cer');
    await run(['req', '-x509', '-newkey', `rsa:${bits}`, '-nodes', '-sha256', '-days', String(days), '-subj', `/CN=${escapeRdn(commonName)}`, '-keyout', key, '-out', cer]);
    return { privateKey: createPrivateKey(fs.readFileSync(key)), certificate: new X509Certificate(fs.readFileSync(cer)) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** openssl's -subj takes /type=value pairs: a / or = inside a value is escaped with a backslash. */
function escapeRdn(value: string): string {
  return value.replace(/[\\/=+,]/g, (c) => `\\${c}`);
}

function run(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new CeremonyError('the openssl command is missing: install Debian\'s openssl (scripts/setup-system.sh, as root)'));
      reject(new CeremonyError(`openssl ${args[0]} failed: ${stderr.trim().split('\n')[0] || err.message}`));
    });
  });
}
