import { STATUS_CODES } from 'http';
import * as tls from 'tls';
import { ParseLimits, ParsedRequest, parseRequest } from './request-parser';

/** What a connection writes back: the listener has already turned every outcome, errors included, into one. */
export interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface ConnectionHooks {
  limits: ParseLimits;
  /** Close a connection that has been idle (no request in progress) this long. */
  idleTimeoutMs: number;
  /** Turns every outcome into a response; a rejection is answered 500 and ends the connection. */
  handle(request: ParsedRequest): Promise<Response>;
  /** The response to a request that could not be framed; the connection closes after it. */
  refuse(status: number, message: string): Response;
}

/**
 * One keep-alive HTTP/1.1 connection: frames requests as bytes arrive, handles them one at a time in arrival
 * order (pipelined requests wait their turn), writes each response in a single write, and closes on
 * "Connection: close", on a framing error, or after the idle timeout. Replaces Node's http module here because
 * its per-request stream machinery cost more CPU than the rest of a sign request's service work together.
 */
export class Http1Connection {
  private pending: Buffer = EMPTY;
  private busy = false;
  private ended = false;
  private continueSent = false;

  constructor(
    private readonly socket: tls.TLSSocket,
    private readonly hooks: ConnectionHooks,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(hooks.idleTimeoutMs, () => {
      if (!this.busy) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.busy) this.next();
    // A client that keeps sending while its request is handled is held back rather than buffered without end.
    else if (this.pending.length > this.hooks.limits.maxHeaderBytes + this.hooks.limits.maxBodyBytes) this.socket.pause();
  }

  private next(): void {
    if (this.busy || this.ended || this.pending.length === 0) return;
    const r = parseRequest(this.pending, this.hooks.limits);
    if (r.kind === 'incomplete') {
      if (r.expectsContinue && !this.continueSent) {
        this.continueSent = true;
        this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      }
      return;
    }
    if (r.kind === 'error') {
      this.write(this.hooks.refuse(r.status, r.message), false, true);
      return;
    }
    this.pending = r.consumed === this.pending.length ? EMPTY : this.pending.subarray(r.consumed);
    this.continueSent = false;
    this.busy = true;
    const request = r.request;
    this.hooks.handle(request).then(
      (response) => this.finish(response, request.method === 'HEAD', request.close),
      () => this.finish(this.hooks.refuse(500, 'The simulator failed to process the request; see its log.'), false, true),
    );
  }

  private finish(response: Response, head: boolean, close: boolean): void {
    this.write(response, head, close);
    this.busy = false;
    this.socket.resume();
    this.next();
  }

  private write(response: Response, head: boolean, close: boolean): void {
    if (this.ended || this.socket.destroyed) return;
    this.socket.write(serialize(response, head, close));
    if (close) {
      this.ended = true;
      this.socket.end();
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** Status line, headers and body as one string, so a response leaves in one TLS record and one syscall. */
export function serialize(response: Response, head: boolean, close: boolean): string {
  const { status, headers, body } = response;
  let out = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\nDate: ${httpDate()}\r\n${close ? 'Connection: close\r\n' : 'Connection: keep-alive\r\nKeep-Alive: timeout=30\r\n'}`;
  for (const name in headers) out += `${name}: ${headers[name]}\r\n`;
  // 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
  if (status === 204 || status === 304) return `${out}\r\n`;
  out += `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return head ? out : out + body;
}

let dateSecond = -1;
let dateText = '';

/** The Date header, formatted once per second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
