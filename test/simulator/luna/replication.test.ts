import * as fs from 'fs';
import * as https from 'https';
import * as net from 'net';
import * as path from 'path';
import { Appliance } from '../../../simulator/luna/appliance';
import { ensureServerCert, fingerprintOfPem } from '../../../simulator/luna/certs';
import { CLONE_ALPN, Replicator } from '../../../simulator/luna/replication';
import { makeClientCert, tempDir } from './helpers';

/**
 * The replicator's stop: an exchange with a peer that does not answer is under way when close() is called;
 * close() must not return before it has ended (the appliance closes its journal and token library right after),
 * and nothing starts afterwards. The peer is a TLS server that takes the request and never answers, as a hung
 * appliance would.
 */
describe('Luna replication: stopping', () => {
  let dir: string;
  let appliance: Appliance;
  let peer: https.Server;
  const log: string[] = [];

  beforeAll(async () => {
    dir = tempDir('luna-repl-');
    appliance = await Appliance.open(path.join(dir, 'state'), '10.0.2.4', 'local_host');
    await appliance.initHsm('LunaHSM', 'mystrongpassword', 'domain1');
    await appliance.createPartition('p1');
    const cert = await makeClientCert(dir, 'peer');
    peer = https.createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: [CLONE_ALPN] });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const port = (peer.address() as net.AddressInfo).port;
    await appliance.saveReplica({ partition: 'p1', peers: [{ ip: '127.0.0.1', port, certPem: cert.certPem, fingerprint: fingerprintOfPem(cert.certPem) }], known: [], tombstones: [] });
  });

  afterAll(async () => {
    peer?.closeAllConnections();
    await new Promise((r) => peer?.close(r));
    await appliance?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('close() waits for the exchange in flight, cutting a peer that does not answer', async () => {
    const replicator = new Replicator(appliance, ensureServerCert(path.join(dir, 'server'), '10.0.2.4'), { info: (m) => log.push(m), error: (m) => log.push(m) });
    let requests = 0;
    const arrived = new Promise<net.Socket>((resolve) =>
      peer.on('request', (req: { socket: net.Socket }) => {
        requests++;
        resolve(req.socket);
      }),
    );
    replicator.start();
    const held = await arrived;
    const cut = new Promise((r) => held.once('close', r));
    expect(replicator.inFlight).toBe(1);
    await replicator.close();
    expect(replicator.inFlight).toBe(0);
    await cut;
    expect(requests).toBe(1);
    expect(log).toEqual([]);
  });

  test('a change just before close() starts no exchange after it', async () => {
    const replicator = new Replicator(appliance, ensureServerCert(path.join(dir, 'server'), '10.0.2.4'), { info: (m) => log.push(m), error: (m) => log.push(m) });
    let requests = 0;
    peer.on('request', () => requests++);
    // The change schedules an exchange for the next turn of the event loop; close() comes first.
    appliance.emit('partition-changed', 'p1');
    await replicator.close();
    await new Promise((r) => setImmediate(r));
    expect(replicator.inFlight).toBe(0);
    expect(requests).toBe(0);
  });
});
