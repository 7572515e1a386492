import * as http from 'http';
import * as https from 'https';
import { AddressInfo } from 'net';
import { randomUUID } from 'crypto';
import { ServiceError, errors } from './errors';
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

/**
 * An HTTPS listener that turns every request into a RequestContext, runs the handler and serialises its Reply
 * or its error in the service's shape. Anything unexpected becomes a logged 500 for that request only: no
 * input can take the process down.
 */
export class HttpsListener {
  private readonly server: https.Server;
  /** Handlers still running: close() waits for them so that nothing touches the token after it closes. */
  private inFlight = 0;
  private drained: Array<() => void> = [];

  constructor(
    tls: { key: string; cert: string },
    private readonly handler: AppHandler,
    private readonly log: Logger,
    private readonly name: string,
  ) {
    this.server = https.createServer({ key: tls.key, cert: tls.cert, keepAliveTimeout: 30_000 }, (req, res) => {
      this.onRequest(req, res);
    });
    // Malformed HTTP or TLS from a client: answer 400 if possible and drop that connection only.
    this.server.on('clientError', (_err, socket) => {
      const body = JSON.stringify(errors.badParameter('The request is not valid HTTP (request line, header or encoding).').body());
      if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      else socket.destroy();
    });
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
      this.server.closeAllConnections();
    });
    while (this.inFlight > 0) await new Promise<void>((r) => this.drained.push(r));
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const requestId = randomUUID();
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        refused = true;
        this.send(res, requestId, errorReply(errors.tooLarge(MAX_BODY_BYTES)), true);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (refused) return;
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'https://localhost');
      } catch {
        this.send(res, requestId, errorReply(errors.badParameter('The request URL is not valid.')));
        return;
      }
      const ctx: RequestContext = {
        method: (req.method ?? 'GET').toUpperCase(),
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        host: req.headers.host ?? '127.0.0.1',
        rawBody: Buffer.concat(chunks),
        requestId,
      };
      this.inFlight++;
      const done = () => {
        if (--this.inFlight === 0) for (const r of this.drained.splice(0)) r();
      };
      this.handler(ctx).finally(done).then(
        (reply) => this.send(res, requestId, reply),
        (err) => {
          if (err instanceof ServiceError) this.send(res, requestId, errorReply(err));
          else {
            this.log.error(`${this.name}: ${ctx.method} ${ctx.path} failed (request ${requestId}): ${describe(err)}`);
            this.send(res, requestId, errorReply(errors.internal()));
          }
        },
      );
    });
  }

  private send(res: http.ServerResponse, requestId: string, reply: Reply, close = false): void {
    if (res.headersSent) return;
    const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-ms-request-id': requestId,
      ...(close ? { connection: 'close' } : {}),
      ...reply.headers,
    });
    res.end(body);
  }
}

export function errorReply(err: ServiceError): Reply {
  return { status: err.status, body: err.body(), headers: err.headers };
}

/** Error text for the log: the message and stack, never request bodies or key material. */
function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
