import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import { Duplex } from 'stream';
import { randomUUID } from 'crypto';
import { ErrorCodes, ServiceError, errors } from './errors';
import { AddressLimits, DEFAULT_LIMITS, ListenerLimits } from './limits';
import { readBody } from './request-body';
import { splitTarget } from './request-target';
import { stateDiskFailure } from '../store/state-disk';
import { Logger } from '../logger';

export { splitTarget } from './request-target';
export type { ListenerLimits } from './limits';

/** Bodies above this are refused with 413 before they are buffered whole. */
export const MAX_BODY_BYTES = DEFAULT_LIMITS.maxBodyBytes;

/** Request heads above this are refused with 431. */
export const MAX_HEADER_BYTES = DEFAULT_LIMITS.maxHeaderBytes;

export interface RequestContext {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  /** host:port as the client addressed us: key ids (kid) are built from it. */
  readonly host: string;
  readonly rawBody: Buffer;
  readonly requestId: string;
  /** The client's IP address, as the TCP connection shows it. */
  readonly remoteAddress: string;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type AppHandler = (ctx: RequestContext) => Promise<Reply>;

/**
 * An HTTPS face of the simulator on Node's own HTTP/1.1 server (llhttp parses and frames every request; its
 * deadlines and head limit apply), with a body cap and per-address and per-connection limits (limits.ts). Turns
 * every request into a RequestContext, runs the handler and writes its Reply, or its error in the service's
 * shape, in one write. Anything unexpected becomes a logged 500 for that request only (a 503 naming the cause
 * when the state disk is full or failing): no input can take the process down.
 */
export class HttpsListener {
  private readonly server: https.Server;
  private readonly limits: ListenerLimits;
  private readonly addresses: AddressLimits;
  /** Every TCP connection, handshaking or not: close() ends them all. */
  private readonly sockets = new Set<net.Socket>();
  /** Handlers still running: close() waits for them so that nothing touches the token after it closes. */
  private inFlight = 0;
  private drained: Array<() => void> = [];

  constructor(
    tlsFiles: { key: string; cert: string },
    private readonly handler: AppHandler,
    private readonly log: Logger,
    private readonly name: string,
    limits: Partial<ListenerLimits> = {},
  ) {
    const l = (this.limits = { ...DEFAULT_LIMITS, ...limits });
    this.addresses = new AddressLimits(l);
    this.server = https.createServer(
      {
        key: tlsFiles.key,
        cert: tlsFiles.cert,
        ALPNProtocols: ['http/1.1'],
        handshakeTimeout: l.handshakeTimeoutMs,
        maxHeaderSize: l.maxHeaderBytes,
        headersTimeout: l.headersTimeoutMs,
        requestTimeout: l.requestTimeoutMs,
        keepAliveTimeout: l.keepAliveTimeoutMs,
        // How often Node checks the two deadlines above: often enough that they hold to about a second.
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(l.headersTimeoutMs / 4))),
        // A missing Host gets a 400 in the service's shape below instead of Node's bare one.
        requireHostHeader: false,
        noDelay: true,
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.keepAliveTimeout = l.keepAliveTimeoutMs;
    this.server.maxConnections = l.connections;
    this.server.on('connection', (socket: net.Socket) => {
      if (!this.addresses.openConnection(socket)) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (err: Error, socket: Duplex) => this.onClientError(err, socket));
    // Node answers these two with a bare status (or none): here in the service's shape.
    this.server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) =>
      send(res, randomUUID(), errorReply(new ServiceError(417, ErrorCodes.BadParameter, `Expect: '${String(req.headers.expect).slice(0, 40)}' is not supported; only 100-continue.`)), true),
    );
    this.server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => endWith(socket, errors.methodNotAllowed('CONNECT', 'this server')));
    // A client that fails the TLS handshake only loses its own connection.
    this.server.on('tlsClientError', () => undefined);
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    while (this.inFlight > 0) await new Promise<void>((r) => this.drained.push(r));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const requestId = randomUUID();
    const connection = req.socket;
    const address = connection.remoteAddress ?? '';
    // Counted from its head, not once its body is in: a body still arriving holds its slot, so one address can make
    // the listener buffer at most its in-flight limit of bodies. Refused, its body is not read (connection closed).
    const refused = this.addresses.startRequest(connection, address);
    if (refused) return send(res, requestId, errorReply(refused), hasBody(req));
    const slot = new InFlightSlot(this.addresses, connection, address);
    // A client gone mid-body calls neither of readBody's callbacks. ('close' also follows every complete body, while
    // the handler still holds the slot: handle() frees it then.)
    req.once('close', () => req.complete || slot.release());
    readBody(
      req,
      this.limits.maxBodyBytes,
      this.limits.maxBodyPieces,
      (body) => void this.handle(req, res, requestId, body, slot),
      (why) => {
        slot.release();
        send(res, requestId, errorReply(why === 'too-large' ? errors.tooLarge(this.limits.maxBodyBytes) : tooManyPieces(this.limits.maxBodyPieces)), true);
      },
    );
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, requestId: string, body: Buffer, slot: InFlightSlot): Promise<void> {
    const host = req.headers.host;
    const noHost = host === undefined && req.httpVersionMinor === 1;
    const target = noHost ? undefined : splitTarget(req.url ?? '');
    if (!target) {
      slot.release();
      return send(res, requestId, errorReply(errors.badParameter(noHost ? 'The request has no Host header; HTTP/1.1 requires one.' : 'The request URL is not valid.')));
    }
    const ctx: RequestContext = {
      method: req.method ?? 'GET',
      path: target.path,
      query: target.query,
      headers: req.headers,
      host: host ?? '127.0.0.1',
      rawBody: body,
      requestId,
      remoteAddress: slot.address,
    };
    this.inFlight++;
    let reply: Reply;
    try {
      reply = await this.handler(ctx);
    } catch (err) {
      reply = this.failure(err, ctx);
    } finally {
      slot.release();
      if (--this.inFlight === 0) for (const r of this.drained.splice(0)) r();
    }
    try {
      send(res, requestId, reply);
    } catch (err) {
      send(res, requestId, this.failure(err, ctx));
    }
  }

  /** The reply for a handler that threw: its own ServiceError, the state disk's 503, or a logged 500. */
  private failure(err: unknown, ctx: RequestContext): Reply {
    if (err instanceof ServiceError) return errorReply(err);
    const disk = stateDiskFailure(err);
    if (disk) {
      this.log.error(`${this.name}: ${ctx.method} ${ctx.path} (request ${ctx.requestId}): ${disk}`);
      return errorReply(errors.stateStorage(disk));
    }
    this.log.error(`${this.name}: ${ctx.method} ${ctx.path} failed (request ${ctx.requestId}): ${describe(err)}`);
    return errorReply(errors.internal());
  }

  /**
   * A request Node's parser refused (malformed, head too large, deadline passed): answered in the service's shape
   * when the connection can still take it, then closed, as Node itself does.
   */
  private onClientError(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
    // A TLS failure (handshake timeout, bad record) leaves no HTTP to answer in.
    if (err.code === 'ECONNRESET' || err.code?.startsWith('ERR_TLS') || !socket.writable) {
      socket.destroy();
      return;
    }
    endWith(socket, parserRefusal(err, this.limits));
  }
}

/** One request's place in its address's and connection's in-flight counts, given back once. */
class InFlightSlot {
  private held = true;

  constructor(
    private readonly limits: AddressLimits,
    private readonly connection: object,
    readonly address: string,
  ) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.limits.endRequest(this.connection, this.address);
  }
}

/** Answers on a connection Node's server has let go of (no response object), then closes it, as Node itself does. */
function endWith(socket: Duplex, e: ServiceError): void {
  const body = JSON.stringify(e.body());
  socket.end(
    `HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status]}\r\ncontent-type: application/json; charset=utf-8\r\nx-ms-request-id: ${randomUUID()}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** Whether a request has a body (framed by Content-Length or chunked); a refusal sent before reading it closes the connection. */
function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function tooManyPieces(max: number): ServiceError {
  return new ServiceError(413, ErrorCodes.RequestTooLarge, `The request body arrived in more than ${max} pieces (chunks); send it in fewer, larger chunks.`);
}

function parserRefusal(err: Error & { code?: string; reason?: string }, l: ListenerLimits): ServiceError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ServiceError(431, ErrorCodes.BadParameter, `The request head is larger than ${l.maxHeaderBytes} bytes.`);
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return errors.tooLarge(l.maxBodyBytes);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return errors.requestTimeout(`The request did not arrive in time: its head must arrive within ${l.headersTimeoutMs / 1000} s and the whole request within ${l.requestTimeoutMs / 1000} s.`);
    default:
      return errors.badParameter(`The request is not valid HTTP/1.1 (${err.code ?? 'parse error'}${err.reason ? `: ${err.reason}` : ''}).`);
  }
}

/**
 * Writes a reply as one response (head and body in one write). Node refuses a header name or value that would
 * split the response (a line break) by throwing before anything is written; `close` ends the connection after
 * the response (a request whose body was not read).
 */
function send(res: http.ServerResponse, requestId: string, reply: Reply, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const headers: string[] = ['content-type', 'application/json; charset=utf-8', 'x-ms-request-id', requestId];
  for (const name in reply.headers) headers.push(name.toLowerCase(), reply.headers[name]);
  const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
  // 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
  if (reply.status !== 204 && reply.status !== 304) headers.push('content-length', String(Buffer.byteLength(body)));
  if (close) headers.push('connection', 'close');
  res.writeHead(reply.status, headers);
  res.end(body);
}

export function errorReply(err: ServiceError): Reply {
  return { status: err.status, body: err.body(), headers: err.headers };
}

/** Error text for the log: the message and stack, never request bodies or key material. */
function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
