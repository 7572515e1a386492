/**
 * The least an HTTPS signing service can cost on this machine, for bench/simulator-sign.ts: a bare TLS server
 * (same Node TLS, same kind of certificate as the simulator) that frames requests by hand, does no routing, no
 * token check, no RBAC and no metadata, and signs the request's digest with RS256 on the same signing threads.
 * Whatever ratio it reaches is a ceiling for any service built on Node here, the simulator included.
 * Run by the bench: node -r tsx/cjs bench/tls-floor-server.ts DIR; prints {"port":N} when ready.
 */
import * as path from 'path';
import * as tls from 'tls';
import { AddressInfo } from 'net';
import { Pkcs11Module } from '../simulator/pkcs11/module';
import { ensureTls } from '../simulator/tls/ca';
import { signMechanism, SIGN_ALGS } from '../simulator/managedhsm/algorithms';

async function main(dir: string): Promise<void> {
  const material = ensureTls(dir);
  const module = Pkcs11Module.open(path.join(dir, 'token'));
  const token = module.token('floor');
  await token.generateRsa('01', 'floor', 2048, Buffer.from([1, 0, 1]), { sign: true });
  const server = tls.createServer({ key: material.key, cert: material.cert, ALPNProtocols: ['http/1.1'] }, (socket) => {
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        const headEnd = buffered.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(buffered.toString('latin1', 0, headEnd));
        const end = headEnd + 4 + (length ? Number(length[1]) : 0);
        if (buffered.length < end) return;
        const body = JSON.parse(buffered.toString('utf8', headEnd + 4, end));
        buffered = buffered.subarray(end);
        const { mech, data } = signMechanism(SIGN_ALGS.RS256, Buffer.from(body.value, 'base64url'));
        token.sign('01', mech, data, 512).then(
          (signature) => {
            const reply = JSON.stringify({ value: signature.toString('base64url') });
            socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(reply)}\r\n\r\n${reply}`);
          },
          () => socket.destroy(),
        );
      }
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
  process.on('SIGTERM', () => {
    server.close();
    module.close();
    process.exit(0);
  });
}

main(process.argv[2]).catch((err) => {
  console.error(err);
  process.exit(1);
});
