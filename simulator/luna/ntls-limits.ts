import * as net from 'net';
import * as tls from 'tls';

/**
 * What the NTLS port accepts before a connection has proved itself with a trusted certificate. Each connection
 * holds a file descriptor, and one that never finishes its TLS handshake costs the client nothing: without these,
 * one client could hold every descriptor of the appliance with half-open handshakes. Our values (a real
 * appliance's are not documented in the reference); tests shorten them.
 */
export interface NtlsLimits {
  /** A TLS handshake must complete within this, or the connection is cut (Node's default is 120 s). */
  handshakeTimeoutMs: number;
  /** TCP connections open at once: links, clone links and handshakes together; more are closed as they arrive. */
  maxConnections: number;
  /** Connections from one address still in their TLS handshake; more from it are closed as they arrive. */
  maxHandshakesPerAddress: number;
}

export const NTLS_LIMITS: Readonly<NtlsLimits> = {
  handshakeTimeoutMs: 10_000,
  maxConnections: 256,
  maxHandshakesPerAddress: 16,
};

/**
 * Counts, per client address, the connections whose TLS handshake has not completed, so that one address
 * flooding the port with handshakes it never finishes cannot keep others from connecting.
 */
export class PendingHandshakes {
  /** address -> connections of it still in their handshake, keyed by remote port. */
  private readonly pending = new Map<string, Set<number>>();

  constructor(private readonly perAddress: number) {}

  /** Counts a new TCP connection; false (nothing counted) when its address already holds its share. */
  open(socket: net.Socket): boolean {
    const address = socket.remoteAddress ?? '';
    const ports = this.pending.get(address) ?? new Set<number>();
    if (ports.size >= this.perAddress) return false;
    const port = socket.remotePort ?? 0;
    ports.add(port);
    this.pending.set(address, ports);
    socket.once('close', () => this.forget(address, port));
    return true;
  }

  /** The handshake of this connection completed (the TLS socket shares its raw socket's address and port). */
  completed(socket: tls.TLSSocket): void {
    this.forget(socket.remoteAddress ?? '', socket.remotePort ?? 0);
  }

  private forget(address: string, port: number): void {
    const ports = this.pending.get(address);
    if (!ports) return;
    ports.delete(port);
    // Only addresses with something counted are kept, so a scan of many addresses leaves nothing behind.
    if (ports.size === 0) this.pending.delete(address);
  }
}
