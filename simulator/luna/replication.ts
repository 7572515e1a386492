import * as http from 'http';
import * as https from 'https';
import * as tls from 'tls';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'crypto';
import { Appliance, ReplicaState } from './appliance';
import type { TokenClone } from './tokens';
import { fingerprintOfDer, fingerprintOfPem } from './certs';
import { KeyedMutex } from '../keyed-mutex';
import { Logger } from '../logger';
import { TokenFiles } from './token-files';

/** The ALPN name of the appliance-to-appliance link on the NTLS port (clients name none). */
export const CLONE_ALPN = 'luna-clone';
const MAX_BODY = 8 * 1024 * 1024;
const RETRY_MS = 2000;

export class ReplicationError extends Error {
  constructor(
    readonly code: 'CLONING_DOMAIN_MISMATCH' | 'PEER_UNREACHABLE' | 'PEER_REFUSED' | 'NOT_EMPTY' | 'NOT_INITIALIZED' | 'STOPPING' | 'BUSY',
    message: string,
  ) {
    super(message);
  }
}

type Peer = ReplicaState['peers'][number];

/**
 * HA groups over a Dedicated HSM HA pair, done by the appliances: a partition is replicated to the same
 * partition on peer appliances of the same cloning domain. Joining clones the partition's token (its files,
 * token PINs and roles, sealed under a key derived from the cloning domain) to a member that is still empty;
 * afterwards each change a client makes (role-gate.ts emits 'partition-changed') is sent to every peer, and
 * what a peer made while this appliance was down comes back at the next exchange (both sides send what the
 * other lacks; deletions travel as tombstones). A peer that cannot be reached is retried every 2 s.
 *
 * No appliance waits for a peer while holding a partition's lock, except a join, and an appliance joining refuses
 * its peers' requests for that partition at once (409 BUSY) instead of making them wait: otherwise two appliances
 * each waiting for the other's answer would hold each other until the request's timeout cut it.
 *
 * The link is HTTP over mutual TLS on the NTLS port (ALPN `luna-clone`): each side presents its server.pem and
 * trusts only the server.pem recorded for the peer; every request and answer carries an HMAC over both
 * certificates' fingerprints under the cloning-domain key, so appliances of different domains refuse each
 * other (Luna clones only within a domain).
 */
export class Replicator {
  private readonly files: TokenFiles;
  private readonly mutex = new KeyedMutex();
  private readonly dirty = new Set<string>();
  /** Partitions whose exchange with the peers is under way: one at a time per partition. */
  private readonly exchanging = new Set<string>();
  /** Partitions with a join under way: the only work that holds the partition's lock while waiting for a peer. */
  private readonly joining = new Set<string>();
  private readonly http: http.Server;
  private timer: NodeJS.Timeout | undefined;
  private readonly fingerprint: string;
  private closed = false;
  /** Exchanges, joins and answers to peers under way: close() waits for them before the appliance closes. */
  private readonly work = new Set<Promise<unknown>>();
  /** Requests to peers in flight: close() cuts them rather than wait up to their timeout. */
  private readonly outgoing = new Set<http.ClientRequest>();
  private readonly onChanged = (p: string) => this.markDirty(p);

  constructor(
    private readonly appliance: Appliance,
    private readonly identity: { certPem: string; keyPem: string },
    private readonly logger: Logger,
  ) {
    this.files = new TokenFiles(appliance.tokens.tokensDir);
    this.fingerprint = fingerprintOfPem(identity.certPem);
    this.http = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => void this.track(this.serve(req as http.IncomingMessage & { socket: tls.TLSSocket }, res)));
    appliance.on('partition-changed', this.onChanged);
  }

  /** Every recorded peer certificate: the NTLS port trusts them as clients for the clone link. */
  peerCerts(): string[] {
    return [...new Set(this.appliance.replicas().flatMap((r) => r.peers.map((p) => p.certPem)))];
  }

  isPeer(fingerprint: string): boolean {
    return this.appliance.replicas().some((r) => r.peers.some((p) => p.fingerprint === fingerprint));
  }

  /** Takes a TLS connection that named the clone ALPN (NtlsServer checked the certificate is a peer's). */
  accept(socket: tls.TLSSocket): void {
    this.http.emit('connection', socket);
  }

  /** Starts the exchanges: every replicated partition is brought up to date with its peers, then on change. */
  start(): void {
    for (const r of this.appliance.replicas()) this.dirty.add(r.partition);
    this.timer = setInterval(() => this.flush(), RETRY_MS);
    this.timer.unref();
    this.flush();
  }

  markDirty(partition: string): void {
    if (this.closed || !this.appliance.replica(partition)) return;
    this.dirty.add(partition);
    setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.closed) return;
    for (const p of [...this.dirty]) {
      // Left dirty: taken up when the exchange or join under way has ended.
      if (this.exchanging.has(p) || this.joining.has(p)) continue;
      this.dirty.delete(p);
      this.exchanging.add(p);
      void this.track(
        this.syncAll(p)
          .catch((err) => {
            if (this.closed) return;
            this.dirty.add(p);
            this.logger.info(`luna replication: ${p}: ${(err as Error).message}; retrying`);
          })
          .finally(() => this.exchanging.delete(p)),
      );
    }
  }

  /** Exchanges, joins and answers to peers under way (for tests and status). */
  get inFlight(): number {
    return this.work.size;
  }

  /** Counts work that close() must wait for. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.work.add(p);
    const done = () => this.work.delete(p);
    p.then(done, done);
    return p;
  }

  private refuseWhenClosed(): void {
    if (this.closed) throw new ReplicationError('STOPPING', 'the appliance is stopping');
  }

  // ---- joining ----

  /**
   * `partition replication add`: records the peer, then, if the peer already knows this appliance, proves the
   * domains match and makes both partitions one token: the initialised one is cloned to the empty one.
   */
  async addPeer(partition: string, peer: { ip: string; port: number; certPem: string }): Promise<{ state: 'pending' | 'cloned-to-peer' | 'cloned-from-peer' | 'in-sync' }> {
    this.appliance.requirePartition(partition);
    if (!this.appliance.hsm().domainKey) throw new ReplicationError('NOT_INITIALIZED', 'this HSM has no cloning domain (initialise it with hsm init)');
    const fingerprint = fingerprintOfPem(peer.certPem);
    if (fingerprint === this.fingerprint) throw new ReplicationError('PEER_REFUSED', 'the peer certificate is this appliance\'s own');
    const entry: Peer = { ...peer, fingerprint };
    this.refuseWhenClosed();
    if (this.joining.has(partition)) throw new ReplicationError('BUSY', `a join of partition ${partition} is already under way on this appliance`);
    this.joining.add(partition);
    const done = () => {
      this.joining.delete(partition);
      if (this.dirty.has(partition)) setImmediate(() => this.flush());
    };
    return this.track(this.join(partition, entry, fingerprint).finally(done));
  }

  private join(partition: string, entry: Peer, fingerprint: string): ReturnType<Replicator['addPeer']> {
    return this.mutex.run(partition, async () => {
      const r = this.appliance.replica(partition) ?? { partition, peers: [], known: [], tombstones: [] };
      await this.appliance.saveReplica({ ...r, peers: [...r.peers.filter((p) => p.fingerprint !== fingerprint), entry] });
      let hello: { initialized: boolean; serial?: string; objects: number };
      try {
        hello = (await this.call(entry, 'POST', `/partitions/${partition}/hello`, {})) as typeof hello;
      } catch (err) {
        if (err instanceof ReplicationError && err.code === 'CLONING_DOMAIN_MISMATCH') {
          await this.forget(partition, fingerprint);
          throw err;
        }
        if (err instanceof ReplicationError && err.code === 'PEER_UNREACHABLE') return { state: 'pending' };
        throw err;
      }
      const mine = { initialized: !!this.appliance.partition(partition)?.roles, serial: await this.appliance.tokens.serialOf(partition), objects: this.files.objects(partition).size };
      if (hello.serial === mine.serial) {
        this.dirty.add(partition);
        return { state: 'in-sync' };
      }
      if (mine.initialized && !hello.initialized && hello.objects === 0) {
        await this.call(entry, 'POST', `/partitions/${partition}/clone`, this.seal(await this.clonePayload(partition)));
        await this.appliance.updateReplica(partition, (r) => ({ ...r, known: [...this.files.objects(partition).keys()] }));
        return { state: 'cloned-to-peer' };
      }
      if (!mine.initialized && mine.objects === 0 && hello.initialized) {
        const sealed = (await this.call(entry, 'GET', `/partitions/${partition}/clone`)) as Sealed;
        await this.appliance.adoptClone(partition, this.open(sealed));
        return { state: 'cloned-from-peer' };
      }
      await this.forget(partition, fingerprint);
      throw new ReplicationError(
        'NOT_EMPTY',
        mine.initialized && hello.initialized ? `both appliances hold their own partition ${partition}; an HA member joins empty (delete and create it again on one of them)` : `neither appliance's partition ${partition} is initialised; run partition init on one of them first`,
      );
    });
  }

  async removePeer(partition: string, ip: string, port: number): Promise<void> {
    this.refuseWhenClosed();
    await this.track(this.mutex.run(partition, async () => {
      const r = this.appliance.replica(partition);
      const left = r?.peers.filter((p) => !(p.ip === ip && p.port === port)) ?? [];
      if (!r || left.length === r.peers.length) throw new ReplicationError('PEER_REFUSED', `partition ${partition} is not replicated to ${ip}:${port}`);
      await this.appliance.saveReplica(left.length ? { ...r, peers: left } : { partition, remove: true });
    }));
  }

  private async forget(partition: string, fingerprint: string): Promise<void> {
    const r = this.appliance.replica(partition);
    if (!r) return;
    const left = r.peers.filter((p) => p.fingerprint !== fingerprint);
    await this.appliance.saveReplica(left.length ? { ...r, peers: left } : { partition, remove: true });
  }

  private async clonePayload(partition: string): Promise<TokenClone> {
    return { files: this.files.snapshot(partition), pins: this.appliance.tokens.pins(partition), roles: this.appliance.partition(partition)?.roles };
  }

  // ---- exchanges ----

  /**
   * One exchange with each peer: send what we have and our tombstones, take what they have that we lack. The lock
   * is held while reading and while merging, not while the peer answers (see the class comment); each step is
   * whole under the appliance's lock, and the merge counts deletions made here meanwhile, so nothing comes back.
   */
  private async syncAll(partition: string): Promise<void> {
    const failures: string[] = [];
    for (const peer of this.appliance.replica(partition)?.peers ?? []) {
      try {
        const local = await this.mutex.run(partition, () => this.noteLocalDeletions(partition));
        const answer = (await this.call(peer, 'POST', `/partitions/${partition}/sync`, toWire(local))) as Wire;
        await this.mutex.run(partition, () => this.merge(partition, answer));
      } catch (err) {
        failures.push(`${peer.ip}:${peer.port}: ${(err as Error).message}`);
      }
    }
    if (failures.length) throw new Error(failures.join('; '));
  }

  /** Files deleted here since the last exchange become tombstones; returns what we have now. */
  private async noteLocalDeletions(partition: string): Promise<{ files: Map<string, Buffer>; tombstones: string[] }> {
    let out: { files: Map<string, Buffer>; tombstones: string[] } | undefined;
    // Read and recorded under the appliance's lock: a zeroize of the partition happens wholly before or after.
    await this.appliance.updateReplica(partition, (r) => {
      const files = this.files.objects(partition);
      const gone = r.known.filter((n) => !files.has(n));
      const tombstones = [...new Set([...r.tombstones, ...gone])];
      out = { files, tombstones };
      return { ...r, tombstones, known: [...files.keys()] };
    });
    if (!out) throw notReplicated(partition);
    return out;
  }

  /** Applies the other side's files and tombstones (after noting deletions made here); returns what the other side lacks. */
  private async merge(partition: string, other: Wire): Promise<Wire> {
    const theirs = fromWire(other);
    let out: Wire | undefined;
    // Under the appliance's lock: never into a token being zeroized, nor into the empty one made after it.
    await this.appliance.updateReplica(partition, (r) => {
      const here = this.files.objects(partition);
      const deletedHere = r.known.filter((n) => !here.has(n));
      const tombstones = [...new Set([...r.tombstones, ...deletedHere, ...theirs.tombstones])];
      const write = new Map([...theirs.files].filter(([n]) => !tombstones.includes(n)));
      this.files.apply(partition, write, theirs.tombstones);
      const now = this.files.objects(partition);
      const lacking = new Map([...now].filter(([n]) => !theirs.files.has(n) && !theirs.tombstones.includes(n)));
      out = toWire({ files: lacking, tombstones });
      return { ...r, tombstones, known: [...now.keys()] };
    });
    if (!out) throw notReplicated(partition);
    return out;
  }

  // ---- the HTTP side ----

  private async serve(req: http.IncomingMessage & { socket: tls.TLSSocket }, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown, peerFp?: string) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', ...(peerFp ? { 'x-luna-domain-proof': this.proof(this.fingerprint, peerFp) } : {}) });
      res.end(text);
    };
    try {
      if (this.closed) return reply(503, { error: { code: 'STOPPING', message: 'the appliance is stopping' } });
      const raw = req.socket.getPeerCertificate()?.raw;
      const peerFp = raw ? fingerprintOfDer(raw) : '';
      const m = /^\/partitions\/([A-Za-z0-9_-]{1,32})\/(hello|clone|sync)$/.exec(req.url ?? '');
      if (!m) return reply(404, { error: { code: 'NotFound', message: 'no such replication call' } });
      const [, partition, op] = m;
      if (!this.verify(String(req.headers['x-luna-domain-proof'] ?? ''), peerFp, this.fingerprint)) {
        return reply(403, { error: { code: 'CLONING_DOMAIN_MISMATCH', message: 'the caller is not of this HSM\'s cloning domain' } });
      }
      if (this.joining.has(partition)) {
        return reply(409, { error: { code: 'BUSY', message: `a join of partition ${partition} is under way on this appliance; try again once it has ended` } }, peerFp);
      }
      const r = this.appliance.replica(partition);
      if (!r?.peers.some((p) => p.fingerprint === peerFp) || !this.appliance.partition(partition)) {
        return reply(403, { error: { code: 'PEER_REFUSED', message: `partition ${partition} is not replicated with the caller here` } }, peerFp);
      }
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      const result = await this.mutex.run(partition, async () => {
        if (op === 'hello') return { initialized: !!this.appliance.partition(partition)?.roles, serial: await this.appliance.tokens.serialOf(partition), objects: this.files.objects(partition).size };
        if (op === 'clone' && req.method === 'GET') {
          if (!this.appliance.partition(partition)?.roles) throw new ReplicationError('NOT_INITIALIZED', `partition ${partition} is not initialised here`);
          return this.seal(await this.clonePayload(partition));
        }
        if (op === 'clone') {
          if (this.appliance.partition(partition)?.roles || this.files.objects(partition).size) throw new ReplicationError('NOT_EMPTY', `partition ${partition} is not empty here`);
          await this.appliance.adoptClone(partition, this.open(body as Sealed));
          this.logger.info(`luna replication: ${partition}: cloned from ${peerFp.slice(0, 17)}`);
          return {};
        }
        return this.merge(partition, body as Wire);
      });
      reply(200, result, peerFp);
    } catch (err) {
      const code = err instanceof ReplicationError ? err.code : 'InternalError';
      if (!(err instanceof ReplicationError)) this.logger.error(`luna replication: ${(err as Error).message}`);
      reply(err instanceof ReplicationError ? 409 : 500, { error: { code, message: err instanceof ReplicationError ? err.message : 'the replication call failed' } });
    }
  }

  private call(peer: Peer, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions & tls.ConnectionOptions = {
          host: peer.ip,
          port: peer.port,
          method,
          path,
          cert: this.identity.certPem,
          key: this.identity.keyPem,
          ca: [peer.certPem],
          // The peer is its recorded server.pem, whatever name or address it answers on.
          checkServerIdentity: (_host, cert) => (fingerprintOfDer(cert.raw) === peer.fingerprint ? undefined : new Error('the peer does not present its recorded server.pem')),
          ALPNProtocols: [CLONE_ALPN],
          agent: false,
          timeout: 15_000,
          headers: { 'content-type': 'application/json', 'x-luna-domain-proof': this.proof(this.fingerprint, peer.fingerprint) },
        };
      const req = https.request(options, (res) => {
          res.on('error', (err) => reject(new ReplicationError('PEER_UNREACHABLE', `${peer.ip}:${peer.port}: ${err.message}`)));
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: { error?: { code: string; message: string } } = {};
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              return reject(new ReplicationError('PEER_REFUSED', `${peer.ip}:${peer.port} answered ${res.statusCode} without JSON`));
            }
            const e = parsed.error;
            if (e?.code === 'CLONING_DOMAIN_MISMATCH') return reject(new ReplicationError('CLONING_DOMAIN_MISMATCH', `${peer.ip}:${peer.port} is not of this HSM's cloning domain`));
            if (res.statusCode !== 200) return reject(new ReplicationError(e?.code === 'NOT_EMPTY' || e?.code === 'BUSY' ? e.code : 'PEER_REFUSED', `${peer.ip}:${peer.port}: ${e?.message ?? `HTTP ${res.statusCode}`}`));
            if (!this.verify(String(res.headers['x-luna-domain-proof'] ?? ''), peer.fingerprint, this.fingerprint)) {
              return reject(new ReplicationError('CLONING_DOMAIN_MISMATCH', `${peer.ip}:${peer.port} is not of this HSM's cloning domain`));
            }
            resolve(parsed);
          });
        });
      this.outgoing.add(req);
      req.on('close', () => this.outgoing.delete(req));
      req.on('timeout', () => req.destroy(new Error('no answer')));
      req.on('error', (err) => reject(new ReplicationError('PEER_UNREACHABLE', `${peer.ip}:${peer.port} cannot be reached: ${err.message}`)));
      req.end(text);
    });
  }

  /** HMAC under the domain key over the sender's and the receiver's certificate fingerprints. */
  private proof(from: string, to: string): string {
    return createHmac('sha256', Buffer.from(this.appliance.hsm().domainKey ?? '', 'hex')).update(`${CLONE_ALPN}|${from}|${to}`).digest('hex');
  }

  private verify(given: string, from: string, to: string): boolean {
    if (!this.appliance.hsm().domainKey || !/^[0-9a-f]{64}$/.test(given)) return false;
    return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(this.proof(from, to), 'hex'));
  }

  private sealKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', Buffer.from(this.appliance.hsm().domainKey!, 'hex'), Buffer.alloc(0), 'luna-clone-payload', 32));
  }

  /** A clone travels sealed under the domain's key (AES-256-GCM), as Luna clones only within a domain. */
  private seal(c: TokenClone): Sealed {
    const iv = randomBytes(12);
    const gcm = createCipheriv('aes-256-gcm', this.sealKey(), iv);
    const data = Buffer.concat([gcm.update(JSON.stringify(c)), gcm.final()]);
    return { iv: iv.toString('base64'), tag: gcm.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  private open(s: Sealed): TokenClone {
    try {
      const gcm = createDecipheriv('aes-256-gcm', this.sealKey(), Buffer.from(s.iv, 'base64'));
      gcm.setAuthTag(Buffer.from(s.tag, 'base64'));
      return JSON.parse(Buffer.concat([gcm.update(Buffer.from(s.data, 'base64')), gcm.final()]).toString('utf8'));
    } catch {
      throw new ReplicationError('CLONING_DOMAIN_MISMATCH', 'the clone is not sealed under this HSM\'s cloning domain');
    }
  }

  /**
   * Stops exchanging: no new work starts, requests to peers in flight are cut, peers' connections closed, and it
   * resolves once every exchange, join and answer under way has ended, so none touches the appliance after it closes.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.appliance.off('partition-changed', this.onChanged);
    for (const req of this.outgoing) req.destroy(new Error('the appliance is stopping'));
    this.http.closeAllConnections();
    this.http.close();
    while (this.work.size) await Promise.allSettled([...this.work]);
  }
}

function notReplicated(partition: string): ReplicationError {
  return new ReplicationError('PEER_REFUSED', `partition ${partition} is no longer replicated here`);
}

interface Sealed {
  iv: string;
  tag: string;
  data: string;
}

interface Wire {
  files: Record<string, string>;
  tombstones: string[];
}

function toWire(x: { files: Map<string, Buffer>; tombstones: string[] }): Wire {
  return { files: Object.fromEntries([...x.files].map(([n, b]) => [n, b.toString('base64')])), tombstones: x.tombstones };
}

function fromWire(w: Wire): { files: Map<string, Buffer>; tombstones: string[] } {
  if (!w || typeof w.files !== 'object' || !Array.isArray(w.tombstones)) throw new ReplicationError('PEER_REFUSED', 'a malformed exchange');
  return { files: new Map(Object.entries(w.files).map(([n, b]) => [n, Buffer.from(String(b), 'base64')])), tombstones: w.tombstones.map(String) };
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.destroy();
        reject(new ReplicationError('PEER_REFUSED', 'the exchange is too large'));
      } else chunks.push(c);
    });
    // A peer's connection cut before the whole body came (or the appliance stopping) ends the wait.
    req.on('close', () => reject(new ReplicationError('PEER_REFUSED', 'the exchange was cut off')));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new ReplicationError('PEER_REFUSED', 'the exchange is not JSON'));
      }
    });
  });
}
