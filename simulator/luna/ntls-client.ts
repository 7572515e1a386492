import * as tls from 'tls';
import { fingerprintOfDer, fingerprintOfPem } from './certs';

/** An NTLS failure: the code from the appliance (see ntls.ts), or NTLS_* for link-level problems. */
export class NtlsClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface NtlsConnectOptions {
  host: string;
  port: number;
  /** The appliance's server.pem: the link is refused unless the server presents exactly this certificate. */
  serverCertPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  timeoutMs?: number;
}

/**
 * A client of the appliance's NTLS link (JSON lines over mutual TLS, protocol in ntls.ts). The server is
 * pinned to server.pem, as a Luna client pins the certificate it fetched at registration.
 */
export class NtlsClient {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closedWith: NtlsClientError | undefined;
  /** Set when the appliance ended the link (revoked, deleted, not registered). */
  closeReason: { code: string; message: string } | undefined;

  private constructor(private readonly socket: tls.TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.fail(new NtlsClientError(this.closeReason?.code ?? 'NTLS_LINK_CLOSED', this.closeReason?.message ?? 'the appliance closed the link')));
    socket.on('error', () => undefined);
  }

  static connect(o: NtlsConnectOptions): Promise<NtlsClient> {
    const pinned = fingerprintOfPem(o.serverCertPem);
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: o.host,
        port: o.port,
        cert: o.clientCertPem,
        key: o.clientKeyPem,
        // Trust is the pinned server.pem (checked below), not a CA chain or a host name.
        rejectUnauthorized: false,
        servername: undefined,
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new NtlsClientError('NTLS_TIMEOUT', `no NTLS answer from ${o.host}:${o.port}`));
      }, o.timeoutMs ?? 10000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new NtlsClientError('NTLS_CONNECT_FAILED', `cannot reach NTLS at ${o.host}:${o.port}: ${err.message}`));
      });
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        const peer = socket.getPeerCertificate();
        if (!peer?.raw || fingerprintOfDer(peer.raw) !== pinned) {
          socket.destroy();
          reject(new NtlsClientError('NTLS_SERVER_CERT_MISMATCH', `the appliance at ${o.host}:${o.port} does not present the expected server.pem`));
          return;
        }
        resolve(new NtlsClient(socket));
      });
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      let msg: { id?: number | null; ok?: boolean; result?: unknown; error?: { code: string; message: string }; event?: string };
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if (msg.event === 'closed' || (msg.id === null && msg.ok === false)) {
        this.closeReason = msg.error;
        this.fail(new NtlsClientError(msg.error?.code ?? 'NTLS_LINK_CLOSED', msg.error?.message ?? 'closed'));
        continue;
      }
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) continue;
      this.pending.delete(msg.id as number);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new NtlsClientError(msg.error?.code ?? 'CKR_FUNCTION_FAILED', msg.error?.message ?? 'failed'));
    }
  }

  private fail(err: NtlsClientError): void {
    this.closedWith ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  request<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(`${JSON.stringify({ ...args, id, op })}\n`);
    });
  }

  /** Resolves when the link is closed (by either side). */
  closed(): Promise<void> {
    return this.socket.closed ? Promise.resolve() : new Promise((r) => this.socket.once('close', () => r()));
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}
