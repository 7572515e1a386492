import * as net from 'net';
import { ServiceError, errors } from './errors';

/**
 * What one HTTPS face of the simulator accepts. HTTP framing, the head size and the deadlines are enforced by
 * Node's own parser (llhttp); the body cap and the per-address and per-connection counts by HttpsListener.
 */
export interface ListenerLimits {
  /** Request line plus header fields; a larger head is refused with 431. */
  maxHeaderBytes: number;
  /** A larger body is refused with 413 (at once when Content-Length says so, else when the cap is crossed). */
  maxBodyBytes: number;
  /**
   * A body may arrive in at most this many pieces (chunks of a chunked body, or reads): each costs a callback,
   * so a body of one-byte chunks would keep the event loop busy long before it reached the byte cap.
   */
  maxBodyPieces: number;
  /** The whole request head must arrive within this (408 otherwise): a head trickled line by line is cut off. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (408 otherwise). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A TLS handshake must complete within this. */
  handshakeTimeoutMs: number;
  /** Connections open at once, all clients together; more are closed as they arrive. */
  connections: number;
  /** Connections open at once from one client address; more are closed as they arrive. */
  connectionsPerAddress: number;
  /** Requests being handled at once on one connection (pipelining); more are answered 429. */
  inFlightPerConnection: number;
  /** Requests being handled at once from one client address; more are answered 429. */
  inFlightPerAddress: number;
}

export const DEFAULT_LIMITS: Readonly<ListenerLimits> = {
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 256 * 1024,
  maxBodyPieces: 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  connections: 2048,
  connectionsPerAddress: 512,
  inFlightPerConnection: 8,
  inFlightPerAddress: 128,
};

/** Seconds a throttled client is told to wait (Retry-After). */
const RETRY_AFTER_S = 1;

/**
 * Connections and requests in flight counted per client address and per connection, so that one client cannot
 * take every connection slot or every signing thread from the others.
 */
export class AddressLimits {
  private readonly connections = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private readonly perConnection = new WeakMap<object, number>();

  constructor(private readonly limits: ListenerLimits) {}

  /** Counts a new TCP connection; false (and nothing counted) when its address already holds its share. */
  openConnection(socket: net.Socket): boolean {
    const address = socket.remoteAddress ?? '';
    const n = this.connections.get(address) ?? 0;
    if (n >= this.limits.connectionsPerAddress) return false;
    this.connections.set(address, n + 1);
    socket.once('close', () => decrement(this.connections, address));
    return true;
  }

  /** Counts a request whose handler is about to run; the refusal when its address or connection is at its limit. */
  startRequest(connection: object, address: string): ServiceError | undefined {
    const onConnection = this.perConnection.get(connection) ?? 0;
    if (onConnection >= this.limits.inFlightPerConnection) {
      return errors.throttled(`more than ${this.limits.inFlightPerConnection} requests in flight on one connection`, RETRY_AFTER_S);
    }
    const fromAddress = this.inFlight.get(address) ?? 0;
    if (fromAddress >= this.limits.inFlightPerAddress) {
      return errors.throttled(`more than ${this.limits.inFlightPerAddress} requests in flight from ${address}`, RETRY_AFTER_S);
    }
    this.perConnection.set(connection, onConnection + 1);
    this.inFlight.set(address, fromAddress + 1);
    return undefined;
  }

  endRequest(connection: object, address: string): void {
    this.perConnection.set(connection, (this.perConnection.get(connection) ?? 1) - 1);
    decrement(this.inFlight, address);
  }
}

/** Maps hold only addresses with something counted, so a scan of many addresses leaves nothing behind. */
function decrement(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 1) - 1;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
}
