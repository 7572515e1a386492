import * as net from 'net';
import * as tls from 'tls';
import { ChildProcess, spawn } from 'child_process';
import { Appliance, ClientState } from './appliance';
import { fingerprintOfDer } from './certs';
import { Logger } from '../logger';
import { DEFAULT_SOFTHSM_MODULE } from '../pkcs11/module';
import { Frame, FrameReader, encodeFrame } from './p11-rpc';
import { GateDecision, RoleGate } from './role-gate';
import { CLONE_ALPN, Replicator } from './replication';
import { FramePump } from './frame-pump';
import { NTLS_LIMITS, NtlsLimits, PendingHandshakes } from './ntls-limits';

/** Links at once; a real appliance's limit is higher, but each link here is a `p11-kit remote` process. */
export const MAX_LINKS = 64;

/** Sends one frame to p11-kit remote and resolves with its answer. */
type Ask = (f: Frame) => Promise<Frame>;

interface Link {
  socket: tls.TLSSocket;
  child: ChildProcess;
  client: string;
  fingerprint: string;
  partitions: string[];
  cut: boolean;
}

/**
 * NTLS, the appliance's client link (port 1792 on a real Luna): mutual TLS carrying p11-kit's PKCS#11 RPC to a
 * `p11-kit remote` that exports only the client's assigned partitions (SoftHSM2 tokens labelled with the
 * partition names), so any PKCS#11 application reaches a partition through p11-kit-client.so.
 *
 * Trust, as on the appliance: the server presents server.pem; the TLS handshake accepts only the certificates
 * of registered clients that have a partition assigned (the trusted list is rebuilt on every registration
 * change), so an unregistered, deleted or partition-less client is refused before any PKCS#11 byte moves.
 * A live link whose client loses a partition, is deleted, or whose partition is deleted or zeroized ends at once.
 * Between client and `p11-kit remote` the role gate (role-gate.ts) enforces the partition roles.
 */
export class NtlsServer {
  private readonly server: tls.Server;
  private readonly links = new Set<Link>();
  private readonly sockets = new Set<net.Socket>();
  private readonly handshakes: PendingHandshakes;
  private readonly onAccessChanged = () => {
    this.refreshTrust();
    this.recheck();
  };
  private readonly onZeroized = (partition: string) => {
    for (const l of this.links) if (l.partitions.includes(partition)) this.cut(l, `partition ${partition} was erased or replaced`);
  };

  constructor(
    private readonly appliance: Appliance,
    private readonly identity: { certPem: string; keyPem: string },
    private readonly logger: Logger,
    private readonly replicator?: Replicator,
    limits: NtlsLimits = NTLS_LIMITS,
    private readonly softhsmModule = process.env.SOFTHSM2_MODULE ?? DEFAULT_SOFTHSM_MODULE,
  ) {
    this.handshakes = new PendingHandshakes(limits.maxHandshakesPerAddress);
    this.server = tls.createServer({
      ...this.context(),
      // Peer appliances of an HA group name this protocol; PKCS#11 clients name none.
      ALPNProtocols: [CLONE_ALPN],
      requestCert: true,
      // Node ends a connection whose certificate is not trusted as the handshake completes, before 'secureConnection'.
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      handshakeTimeout: limits.handshakeTimeoutMs,
    });
    // Past this, Node closes a new connection before any byte is read.
    this.server.maxConnections = limits.maxConnections;
    this.server.on('secureConnection', (s) => {
      this.handshakes.completed(s);
      this.accept(s);
    });
    this.server.on('tlsClientError', (err, sock) => {
      this.logger.info(`luna ntls: refused a connection from ${sock.remoteAddress}: ${err.message}`);
      // A plain TLS server leaves the socket open after a failed or timed-out handshake: it is ended here.
      sock.destroy();
    });
    this.server.on('connection', (sock: net.Socket) => {
      if (!this.handshakes.open(sock)) {
        this.logger.info(`luna ntls: refused a connection from ${sock.remoteAddress}: ${limits.maxHandshakesPerAddress} handshakes from it under way`);
        sock.destroy();
        return;
      }
      // PKCS#11 calls are small requests and answers: no waiting on delayed ACKs (Nagle).
      sock.setNoDelay(true);
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    appliance.on('access-changed', this.onAccessChanged);
    appliance.on('partition-zeroized', this.onZeroized);
  }

  /** The server identity and, as trusted roots, the self-signed certificates of clients allowed a session. */
  private context(): tls.SecureContextOptions {
    const trusted = this.appliance.clients().filter((c) => c.partitions.length > 0).map((c) => c.certPem);
    return { cert: this.identity.certPem, key: this.identity.keyPem, ca: [...trusted, ...(this.replicator?.peerCerts() ?? [])] };
  }

  private refreshTrust(): void {
    this.server.setSecureContext(this.context());
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  private current(link: Pick<Link, 'client' | 'fingerprint'>): ClientState | undefined {
    const c = this.appliance.client(link.client);
    return c && c.fingerprint === link.fingerprint ? c : undefined;
  }

  /** Ends every link whose client is gone or lost one of the partitions it was given. */
  recheck(): void {
    for (const link of this.links) {
      if (link.cut) continue;
      const c = this.current(link);
      const lost = link.partitions.filter((p) => !c?.partitions.includes(p) || !this.appliance.partition(p));
      if (!c) this.cut(link, 'the client registration was deleted');
      else if (lost.length) this.cut(link, `access to partition ${lost[0]} was revoked`);
    }
  }

  private cut(link: Link, why: string): void {
    if (link.cut) return;
    link.cut = true;
    this.logger.info(`luna ntls: ${link.client}: link ended: ${why}`);
    link.socket.destroy();
    link.child.kill('SIGKILL');
  }

  private accept(socket: tls.TLSSocket): void {
    socket.on('error', () => undefined);
    const peer = socket.getPeerCertificate();
    const fingerprint = peer?.raw ? fingerprintOfDer(peer.raw) : '';
    if (socket.alpnProtocol === CLONE_ALPN) {
      if (this.replicator && this.replicator.isPeer(fingerprint)) this.replicator.accept(socket);
      else socket.destroy();
      return;
    }
    const client = fingerprint ? this.appliance.clientByFingerprint(fingerprint) : undefined;
    // The handshake already required a trusted certificate; this maps it to its registration.
    if (!client || client.partitions.length === 0 || this.links.size >= MAX_LINKS) {
      socket.destroy();
      return;
    }
    // A partition still being zeroized (its erase failed part-way) is not exported until the appliance restarts.
    const partitions = client.partitions.filter((p) => this.appliance.partition(p) && !this.appliance.partition(p)!.zeroizing);
    const child = spawn('p11-kit', ['remote', '-p', this.softhsmModule, ...partitions.map((p) => `pkcs11:token=${p}`)], {
      env: { ...process.env, SOFTHSM2_CONF: this.appliance.tokens.conf },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const link: Link = { socket, child, client: client.name, fingerprint, partitions, cut: false };
    this.links.add(link);
    this.logger.info(`luna ntls: ${client.name}: link opened (partitions ${partitions.join(', ')})`);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-1000)));
    child.on('error', (err) => {
      this.logger.error(`luna ntls: ${client.name}: cannot start p11-kit remote: ${err.message}`);
      this.cut(link, 'p11-kit remote did not start');
    });
    child.on('exit', (code) => {
      if (!link.cut && code) this.logger.error(`luna ntls: ${client.name}: p11-kit remote ended (${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
      this.cut(link, 'the PKCS#11 server ended');
    });
    socket.on('close', () => {
      this.links.delete(link);
      if (!link.cut) {
        link.cut = true;
        child.stdin!.end();
        // p11-kit remote ends at the end of its input; a stuck one is not left behind.
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }
    });
    child.stdin!.on('error', () => undefined);

    // The one request in flight to p11-kit remote, answered by the next frame it sends.
    const waiting: Array<(f: Frame) => void> = [];
    const fromServer = new FrameReader(true);
    child.stdout!.on('data', (chunk: Buffer) => {
      let got;
      try {
        got = fromServer.push(chunk);
      } catch {
        return this.cut(link, 'p11-kit remote sent a malformed frame');
      }
      if (got.version !== undefined && !socket.destroyed) socket.write(Buffer.from([got.version]));
      for (const f of got.frames) waiting.shift()?.(f);
    });
    const ask: Ask = (f) =>
      new Promise<Frame>((resolve, reject) => {
        if (link.cut) return reject(new Error('link closed'));
        waiting.push(resolve);
        child.stdin!.write(encodeFrame(f));
      });
    const gate = new RoleGate(this.appliance, partitions, (p) => this.appliance.tokens.pins(p), async (body) => (await ask({ code: 0x7fffffff, options: Buffer.alloc(0), body })).body, (p) => this.onZeroized(p));
    this.proxy(link, gate, ask);
  }

  /** Client frames are handled one at a time, in order (frame-pump.ts): each goes through the gate, then to p11-kit remote. */
  private proxy(link: Link, gate: RoleGate, ask: Ask): void {
    const fromClient = new FrameReader(true);
    const pump = new FramePump(
      link.socket,
      async (f) => {
        const d: GateDecision = await gate.request(f.body);
        let answer: Frame;
        if ('reply' in d) answer = { code: f.code, options: Buffer.alloc(0), body: d.reply };
        else {
          answer = await ask({ ...f, body: d.forward });
          await d.after?.(answer.body);
        }
        await writeHeldBack(link.socket, encodeFrame(answer));
      },
      () => link.cut,
      (err) => {
        if (link.cut) return;
        this.logger.error(`luna ntls: ${link.client}: ${err.message}`);
        this.cut(link, 'a malformed PKCS#11 request');
      },
    );
    link.socket.on('data', (chunk: Buffer) => {
      let got;
      try {
        got = fromClient.push(chunk);
      } catch {
        return this.cut(link, 'the client sent a malformed frame');
      }
      if (got.version !== undefined) link.child.stdin!.write(Buffer.from([got.version]));
      pump.push(got.frames);
    });
  }

  /** Ends every link and stops listening. */
  async close(): Promise<void> {
    this.appliance.off('access-changed', this.onAccessChanged);
    this.appliance.off('partition-zeroized', this.onZeroized);
    for (const l of this.links) this.cut(l, 'the appliance is stopping');
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Writes an answer; when the client does not read its answers, waits until it does (or the link ends). */
async function writeHeldBack(socket: tls.TLSSocket, data: Buffer): Promise<void> {
  if (socket.destroyed || socket.write(data)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
