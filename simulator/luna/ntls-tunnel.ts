/**
 * The client side of NTLS for p11-kit: `P11_KIT_SERVER_ADDRESS="|node ntls-tunnel.js BUNDLE"` makes
 * p11-kit-client.so run this program and speak its PKCS#11 RPC over its stdin and stdout. It opens mutual TLS
 * to the appliance as the Luna client library does: the client certificate and key of the bundle, the
 * appliance pinned to the server.pem fetched at registration (its SHA-256), and, for an HA group, the members
 * in order, the first that answers taking the session. Nothing but RPC bytes goes to stdout; why it could not
 * connect goes to stderr and the exit code is 1.
 *
 * Run precompiled (simulator/compiled.ts), as every PKCS#11 application start runs it once.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tls from 'tls';
import { createHash } from 'crypto';

interface Member {
  address: string;
  ntlsPort: number;
  serverCertificateSha256: string;
}

function fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

function fail(message: string): never {
  process.stderr.write(`luna ntls tunnel: ${message}\n`);
  process.exit(1);
}

function connect(m: Member, cert: string, key: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: m.address, port: m.ntlsPort, cert, key, rejectUnauthorized: false, timeout: 10_000 });
    // PKCS#11 calls are small requests and answers: no waiting on delayed ACKs (Nagle).
    socket.setNoDelay(true);
    const failed = (why: string) => {
      socket.destroy();
      reject(new Error(`${m.address}:${m.ntlsPort}: ${why}`));
    };
    socket.once('timeout', () => failed('no answer'));
    socket.once('error', (err) => failed(err.message));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      // Trust is the pinned server.pem, not a CA chain or a host name.
      if (!peer?.raw || fingerprint(peer.raw) !== m.serverCertificateSha256) return failed('the appliance does not present the registered server.pem');
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) fail('usage: ntls-tunnel BUNDLE_DIR');
  let bundle: { hsm: Member; ha?: { members: Member[] }; client: { certificate: string; key: string } };
  try {
    bundle = JSON.parse(fs.readFileSync(path.join(dir, 'bundle.json'), 'utf8'));
  } catch (err) {
    fail(`cannot read ${path.join(dir, 'bundle.json')}: ${(err as Error).message}`);
  }
  const cert = fs.readFileSync(path.join(dir, bundle.client.certificate), 'utf8');
  const key = fs.readFileSync(path.join(dir, bundle.client.key), 'utf8');
  const members = bundle.ha?.members.length ? bundle.ha.members : [bundle.hsm];
  const errors: string[] = [];
  let socket: tls.TLSSocket | undefined;
  for (const m of members) {
    try {
      socket = await connect(m, cert, key);
      break;
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (!socket) fail(`no appliance accepted the link: ${errors.join('; ')}`);
  const s = socket;
  let answered = false;
  // An appliance that does not trust the client certificate ends the link at the handshake, before any byte;
  // our first write may then meet the closed socket (an error) before its 'close'.
  const ended = (err?: Error) => {
    if (!answered) fail('the appliance closed the link at the TLS handshake: this client certificate is not registered with a partition assigned');
    if (err) fail(`the link failed: ${err.message}`);
    process.exit(0);
  };
  s.on('error', (err) => ended(err));
  s.on('close', () => ended());
  process.stdin.on('data', (d) => s.write(d));
  process.stdin.on('end', () => s.end());
  s.on('data', (d) => {
    answered = true;
    process.stdout.write(d);
  });
}

void main();
