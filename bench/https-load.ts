import * as tls from 'tls';

export interface LoadResponse {
  status: number;
  body: Buffer;
}

/**
 * One keep-alive HTTP/1.1 connection over TLS for load generation, in the manner of wrk: the request bytes
 * are built once by the caller, each response is read whole (status line, headers, Content-Length body) and
 * handed back. It spends a fraction of the CPU of Node's https module per request, which matters when the
 * load generator shares the 2 cores with the server it measures.
 */
export class LoadConnection {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting?: { resolve: (r: LoadResponse) => void; reject: (e: Error) => void };

  private constructor(private readonly socket: tls.TLSSocket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('the server closed the connection')));
  }

  static open(url: URL, ca: Buffer): Promise<LoadConnection> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost' }, () => resolve(new LoadConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends one request (as built by requestBytes) and resolves with its response. One at a time per connection. */
  send(request: Buffer): Promise<LoadResponse> {
    if (this.waiting) return Promise.reject(new Error('a request is already in flight on this connection'));
    if (this.socket.destroyed) return Promise.reject(new Error('the connection is closed'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const headEnd = this.buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) return this.fail(new Error(`response without Content-Length: ${head.slice(0, 80)}`));
    const end = headEnd + 4 + Number(length[1]);
    if (this.buffered.length < end) return;
    const response = { status: Number(head.slice(9, 12)), body: this.buffered.subarray(headEnd + 4, end) };
    this.buffered = this.buffered.subarray(end);
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve(response);
  }

  private fail(err: Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }
}

/** The bytes of one HTTP/1.1 request, with a JSON body when one is given. */
export function requestBytes(method: string, url: URL, headers: Record<string, string>, body?: string): Buffer {
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body ?? ''}`);
}
