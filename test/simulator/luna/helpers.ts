import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';

/** Runs a program without blocking the event loop (the appliance under test lives in this process). */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export const SSH_OPTS = [
  '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'LogLevel=ERROR',
  '-o', 'ConnectTimeout=10',
];

/** `sshpass -p PW ssh -p PORT tenantadmin@127.0.0.1 [command]`, stdin from input (no terminal: -T). */
export function ssh(port: number, password: string, command?: string, input?: string) {
  const args = ['-p', password, 'ssh', ...SSH_OPTS, '-o', 'PubkeyAuthentication=no', '-T', '-p', String(port), 'tenantadmin@127.0.0.1'];
  if (command !== undefined) args.push(command);
  return run('sshpass', args, { input });
}

export function scp(port: number, password: string, args: string[]) {
  return run('sshpass', ['-p', password, 'scp', ...SSH_OPTS, '-o', 'PubkeyAuthentication=no', '-P', String(port), ...args]);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A self-signed client certificate as vtl createcert makes it (EC here, for speed). */
export async function makeClientCert(dir: string, cn: string): Promise<{ certFile: string; keyFile: string; certPem: string; keyPem: string }> {
  const keyFile = path.join(dir, `${cn}-key.pem`);
  const certFile = path.join(dir, `${cn}.pem`);
  const r = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${cn}`, '-days', '30']);
  if (r.code !== 0) throw new Error(r.stderr);
  return { certFile, keyFile, certPem: fs.readFileSync(certFile, 'utf8'), keyPem: fs.readFileSync(keyFile, 'utf8') };
}

/** The `Command Result` lines of a session transcript, in order. */
export function results(out: string): string[] {
  return [...out.matchAll(/Command Result : (\d+ \([^)]*\))/g)].map((m) => m[1]);
}

/** The bundle.json `hsmctl luna register-client` writes, for a client of an appliance started by a test. */
export function writeBundle(
  dir: string,
  h: { ntlsPort: number; serverCertPem: string },
  client: { name: string; certPem: string; keyPem: string },
  partition: string,
): string {
  const { fingerprintOfPem } = require('../../../simulator/luna/certs') as typeof import('../../../simulator/luna/certs');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, `${client.name}.pem`), client.certPem);
  fs.writeFileSync(path.join(dir, `${client.name}Key.pem`), client.keyPem, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'server.pem'), h.serverCertPem);
  const bundle = {
    hsm: { ip: '10.0.2.4', address: '127.0.0.1', ntlsPort: h.ntlsPort, serverCertificate: 'server.pem', serverCertificateSha256: fingerprintOfPem(h.serverCertPem) },
    partition: { name: partition, label: partition, serialNumber: '0' },
    client: { name: client.name, ip: '10.0.1.5', certificate: `${client.name}.pem`, key: `${client.name}Key.pem` },
  };
  fs.writeFileSync(path.join(dir, 'bundle.json'), JSON.stringify(bundle));
  return dir;
}

export const P11_KIT_CLIENT = '/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so';

/** pkcs11-tool through p11-kit-client.so with the bundle's P11_KIT_SERVER_ADDRESS (as `hsmctl luna connect` prints it). */
export async function pkcs11Tool(bundleDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { partitionModule } = require('../../../scripts/commands/luna-connect') as typeof import('../../../scripts/commands/luna-connect');
  const pm = await partitionModule(bundleDir);
  return run('pkcs11-tool', ['--module', pm.module, ...args], { env: pm.env });
}
