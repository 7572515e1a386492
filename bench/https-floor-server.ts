/**
 * The least an HTTPS signing service on Node costs on this machine, for bench/simulator-sign.ts: a bare node:https
 * server (the same HTTP parser, TLS and kind of certificate as the simulator) that reads the body, signs its
 * digest with RS256 or ES256 on the same signing threads, and answers the signature as JSON. No routing, token
 * check, RBAC, metadata or limits. The bench sends it the simulator's own requests (path, bearer token, body),
 * which it ignores but parses and decrypts alike: the simulator's own work is what it costs beyond this server.
 * Run by the bench: node -r tsx/cjs bench/https-floor-server.ts DIR; prints {"port":N} when ready.
 */
import * as https from 'https';
import * as path from 'path';
import { AddressInfo } from 'net';
import * as pkcs11js from 'pkcs11js';
import { Pkcs11Module } from '../simulator/pkcs11/module';
import { ensureTls } from '../simulator/tls/ca';
import { signMechanism, SIGN_ALGS } from '../simulator/managedhsm/algorithms';

async function main(dir: string): Promise<void> {
  const material = ensureTls(dir);
  const module = Pkcs11Module.open(path.join(dir, 'token'));
  const token = module.token('floor');
  await token.generateRsa('01', 'rsa', 2048, Buffer.from([1, 0, 1]), { sign: true });
  await token.generateEc('02', 'ec', 'P-256', { sign: true });
  const server = https.createServer({ key: material.key, cert: material.cert, keepAliveTimeout: 30_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: { alg: string; value: string };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400);
        res.end();
        return;
      }
      const digest = Buffer.from(body.value, 'base64url');
      const [id, { mech, data }] = body.alg === 'RS256' ? ['01', signMechanism(SIGN_ALGS.RS256, digest)] : ['02', { mech: { mechanism: pkcs11js.CKM_ECDSA }, data: digest }];
      token.sign(id, mech, data, 512).then(
        (signature) => {
          const reply = JSON.stringify({ value: signature.toString('base64url') });
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(reply) });
          res.end(reply);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    module.close();
    process.exit(0);
  });
}

main(process.argv[2]).catch((err) => {
  console.error(err);
  process.exit(1);
});
