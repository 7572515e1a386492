import * as http from 'http';
import * as tls from 'tls';
import { AddressInfo } from 'net';
import { randomUUID } from 'crypto';
import { ErrorCodes, ServiceError, errors } from './errors';
import { ConnectionHooks, Http1Connection, Response } from './connection';
import { ParsedRequest } from './request-parser';
import { Logger } from '../logger';

/** Bodies above this are refused with 413 before they are buffered whole. */
export const MAX_BODY_BYTES = 256 * 1024;

export interface RequestContext {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  /** host:port as the client addressed us: key ids (kid) are built from it. */
  readonly host: string;
  readonly rawBody: Buffer;
  readonly requestId: string;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type AppHandler = (ctx: RequestContext) => Promise<Reply>;

/** Request heads above this are refused with 431, as Node's own limit does. */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * An HTTPS listener that turns every request into a RequestContext, runs the handler and serialises its Reply
 * or its error in the service's shape. Anything unexpected becomes a logged 500 for that request only: no
 * input can take the process down. HTTP/1.1 framing is Http1Connection's.
 */
export class HttpsListener {
  private readonly server: tls.Server;
  private readonly sockets = new Set<tls.TLSSocket>();
  /** Handlers still running: close() waits for them so that nothing touches the token after it closes. */
  private inFlight = 0;
  private drained: Array<() => void> = [];

  constructor(
    tlsFiles: { key: string; cert: string },
    private readonly handler: AppHandler,
    private readonly log: Logger,
    private readonly name: string,
  ) {
    const hooks: ConnectionHooks = {
      limits: { maxHeaderBytes: MAX_HEADER_BYTES, maxBodyBytes: MAX_BODY_BYTES },
      idleTimeoutMs: 30_000,
      handle: (request) => this.handle(request),
      refuse: (status, message) => toResponse(randomUUID(), errorReply(refusal(status, message))),
    };
    this.server = tls.createServer({ key: tlsFiles.key, cert: tlsFiles.cert, ALPNProtocols: ['http/1.1'] }, (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      new Http1Connection(socket, hooks);
    });
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
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    while (this.inFlight > 0) await new Promise<void>((r) => this.drained.push(r));
  }

  private async handle(request: ParsedRequest): Promise<Response> {
    const requestId = randomUUID();
    const target = splitTarget(request.target);
    if (!target) return toResponse(requestId, errorReply(errors.badParameter('The request URL is not valid.')));
    const ctx: RequestContext = {
      method: request.method.toUpperCase(),
      path: target.path,
      query: target.query,
      headers: request.headers,
      host: request.headers.host ?? '127.0.0.1',
      rawBody: request.body,
      requestId,
    };
    this.inFlight++;
    try {
      return toResponse(requestId, await this.handler(ctx));
    } catch (err) {
      if (err instanceof ServiceError) return toResponse(requestId, errorReply(err));
      this.log.error(`${this.name}: ${ctx.method} ${ctx.path} failed (request ${requestId}): ${describe(err)}`);
      return toResponse(requestId, errorReply(errors.internal()));
    } finally {
      if (--this.inFlight === 0) for (const r of this.drained.splice(0)) r();
    }
  }
}

/**
 * Path: no dot segments, no percent-escapes, no leading "//" (a host to URL parsing), nothing it would rewrite.
 * Query: form-encoded characters only. Such targets (every request the Azure SDK sends) skip the URL parser,
 * ~5% of the event loop's work for a sign; URLSearchParams reads the query exactly as URL's searchParams does.
 */
const PLAIN_TARGET = /^(\/(?:[A-Za-z0-9_~-][A-Za-z0-9_~\/-]*)?)(?:\?([A-Za-z0-9_~.=&%+\-]*))?$/;

/** Path and query of a request-target as WHATWG URL parsing gives them; undefined when it is no URL. */
export function splitTarget(target: string): { path: string; query: URLSearchParams } | undefined {
  const plain = PLAIN_TARGET.exec(target);
  if (plain) return { path: plain[1], query: new URLSearchParams(plain[2] ?? '') };
  try {
    const url = new URL(target, 'https://localhost');
    return { path: url.pathname, query: url.searchParams };
  } catch {
    return undefined;
  }
}

/** The service-shaped error for a request that could not be framed (or, 500, whose handler failed outright). */
function refusal(status: number, message: string): ServiceError {
  if (status === 413) return errors.tooLarge(MAX_BODY_BYTES);
  if (status === 500) return errors.internal();
  return new ServiceError(status, ErrorCodes.BadParameter, message);
}

/** The wire form of a Reply. A header value with a line break would split the response, so it is an error. */
function toResponse(requestId: string, reply: Reply): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': requestId };
  for (const name in reply.headers) {
    const value = reply.headers[name];
    if (/[\r\n]/.test(value) || /[\r\n:]/.test(name)) throw new Error(`response header ${name.slice(0, 40)} contains a line break`);
    headers[name.toLowerCase()] = value;
  }
  return { status: reply.status, headers, body: reply.body === undefined ? '' : JSON.stringify(reply.body) };
}

export function errorReply(err: ServiceError): Reply {
  return { status: err.status, body: err.body(), headers: err.headers };
}

/** Error text for the log: the message and stack, never request bodies or key material. */
function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
