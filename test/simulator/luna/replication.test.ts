import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as path from 'path';
import * as tls from 'tls';
import { createHmac } from 'crypto';
import { LunaApplianceHandle, startLunaAppliance } from '../../../simulator/luna';
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

/**
 * An exchange must not keep the partition from the peer it is talking to. The peer of an HA group may need to ask
 * this appliance something before it answers (a member joining again holds its partition while it asks for the
 * clone, and only then answers the exchange that came in meanwhile): were the request to the peer made while
 * holding the partition, each side would wait for the other until the request's 15 s timeout cut it.
 * The peer here is a TLS server that holds this appliance's exchange unanswered and, meanwhile, asks it hello.
 */
describe('Luna replication: a peer asks while an exchange with it is under way', () => {
  let dir: string;
  let h: LunaApplianceHandle;
  let peer: https.Server;
  let peerCert: { certPem: string; keyPem: string };
  /** The appliance's log: an exchange cut for want of an answer shows there. */
  const log: string[] = [];

  beforeAll(async () => {
    dir = tempDir('luna-repl-ask-');
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4', logger: { info: (m) => log.push(m), error: (m) => log.push(m) } });
    await h.appliance.initHsm('LunaHSM', 'mystrongpassword', 'domain1');
    await h.appliance.createPartition('p1');
    peerCert = await makeClientCert(dir, 'peer');
    peer = https.createServer({ cert: peerCert.certPem, key: peerCert.keyPem, ALPNProtocols: [CLONE_ALPN] });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const port = (peer.address() as net.AddressInfo).port;
    await h.appliance.saveReplica({ partition: 'p1', peers: [{ ip: '127.0.0.1', port, certPem: peerCert.certPem, fingerprint: fingerprintOfPem(peerCert.certPem) }], known: [], tombstones: [] });
  });

  afterAll(async () => {
    peer?.closeAllConnections();
    await new Promise((r) => peer?.close(r));
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The peer's proof of the cloning domain: HMAC under the domain key over the sender's and the receiver's fingerprints. */
  const proof = () =>
    createHmac('sha256', Buffer.from(h.appliance.hsm().domainKey!, 'hex'))
      .update(`${CLONE_ALPN}|${fingerprintOfPem(peerCert.certPem)}|${fingerprintOfPem(h.serverCertPem)}`)
      .digest('hex');

  /** The peer's request to the appliance over its clone link. */
  const ask = (pathName: string): Promise<{ status: number; body: { initialized?: boolean } }> =>
    new Promise((resolve, reject) => {
      const options: https.RequestOptions & tls.ConnectionOptions = {
        host: '127.0.0.1',
        port: h.ntlsPort,
        method: 'POST',
        path: pathName,
        cert: peerCert.certPem,
        key: peerCert.keyPem,
        ca: [h.serverCertPem],
        checkServerIdentity: () => undefined,
        ALPNProtocols: [CLONE_ALPN],
        agent: false,
        headers: { 'content-type': 'application/json', 'x-luna-domain-proof': proof() },
      };
      const req = https.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      req.on('error', reject);
      req.end('{}');
    });

  test('answers the peer at once while its own exchange with that peer waits for the answer', async () => {
    const held = new Promise<{ req: http.IncomingMessage; res: http.ServerResponse }>((resolve) => peer.once('request', (req, res) => resolve({ req, res })));
    h.appliance.emit('partition-changed', 'p1');
    const exchange = await held;
    expect(exchange.req.url).toBe('/partitions/p1/sync');
    log.length = 0;
    // Were the exchange holding the partition, this answer would come only once its request had timed out and been
    // cut (logged before the answer is written: "luna replication: p1: ... no answer; retrying").
    const hello = await ask('/partitions/p1/hello');
    expect(hello).toEqual({ status: 200, body: expect.objectContaining({ initialized: false, objects: 0 }) });
    expect(log.filter((l) => l.startsWith('luna replication'))).toEqual([]);
    // The peer answers the exchange at last (it had nothing to send).
    exchange.res.writeHead(200, { 'content-type': 'application/json', 'x-luna-domain-proof': proof() });
    exchange.res.end(JSON.stringify({ files: {}, tombstones: [] }));
  }, 60_000);

  test('a join under way refuses the peer at once (409 BUSY) rather than make it wait, and the join then ends', async () => {
    // The join asks the peer hello; the peer holds it unanswered and meanwhile asks the appliance, as a peer whose own
    // join or exchange needs this appliance would.
    const held = new Promise<{ req: http.IncomingMessage; res: http.ServerResponse }>((resolve) => peer.once('request', (req, res) => resolve({ req, res })));
    const port = (peer.address() as net.AddressInfo).port;
    const joined = h.replicator.addPeer('p1', { ip: '127.0.0.1', port, certPem: peerCert.certPem });
    const hello = await held;
    expect(hello.req.url).toBe('/partitions/p1/hello');
    // Answered while the join still waits for its hello (a request made to wait would be answered only after the
    // join's 15 s timeout, and then with 200).
    const asked = await ask('/partitions/p1/sync');
    expect(asked.status).toBe(409);
    expect(asked.body).toEqual({ error: { code: 'BUSY', message: 'a join of partition p1 is under way on this appliance; try again once it has ended' } });
    // A second join of the same partition here is refused too, changing nothing.
    await expect(h.replicator.addPeer('p1', { ip: '127.0.0.1', port, certPem: peerCert.certPem })).rejects.toMatchObject({ code: 'BUSY' });
    // The peer answers: it holds the same partition (same serial), so the join ends in sync.
    hello.res.writeHead(200, { 'content-type': 'application/json', 'x-luna-domain-proof': proof() });
    hello.res.end(JSON.stringify({ initialized: false, serial: await h.appliance.tokens.serialOf('p1'), objects: 0 }));
    await expect(joined).resolves.toEqual({ state: 'in-sync' });
    expect((await ask('/partitions/p1/hello')).status).toBe(200);
  }, 60_000);
});
