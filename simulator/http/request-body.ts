import * as http from 'http';

const EMPTY = Buffer.alloc(0);

export type BodyRefusal = 'too-large' | 'too-many-pieces';

/**
 * Reads a request body of at most `maxBytes` bytes in at most `maxPieces` pieces, framed by Node's parser
 * (Content-Length or chunked). Calls `done` with the body, or `refuse` as soon as the body is known to break a
 * limit: at once when Content-Length is over the cap, else when the bytes or pieces received cross it; nothing
 * past a limit is kept, and reading stops. A request whose client goes away mid-body calls neither.
 */
export function readBody(req: http.IncomingMessage, maxBytes: number, maxPieces: number, done: (body: Buffer) => void, refuse: (why: BodyRefusal) => void): void {
  const declared = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined) {
    // Node's parser has checked Content-Length (digits only, no conflicting repeats).
    if (declared === undefined || declared === '0') return done(EMPTY);
    if (Number(declared) > maxBytes) return refuse('too-large');
  }
  new BodyReader(req, maxBytes, maxPieces, done, refuse);
}

/**
 * The listeners of one body. Methods bound once rather than closures: tsx compiles with keepNames, which gives
 * every named closure made per request an Object.defineProperty.
 */
class BodyReader {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly onData = this.data.bind(this);
  private readonly onEnd = this.end.bind(this);

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly maxBytes: number,
    private readonly maxPieces: number,
    private readonly done: (body: Buffer) => void,
    private readonly refuse: (why: BodyRefusal) => void,
  ) {
    req.on('data', this.onData);
    req.on('end', this.onEnd);
  }

  private data(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size <= this.maxBytes && this.chunks.length < this.maxPieces) {
      this.chunks.push(chunk);
      return;
    }
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.chunks.length = 0;
    // The connection closes after the refusal, so nothing more of it needs reading. Pausing the request alone does
    // not stop that (a paused stream still reads up to its high-water mark: 16 KiB of one-byte chunks); the
    // socket's _paused flag is the one Node's HTTP server itself sets to stop reading a socket, and its readStart()
    // honours it. Without it a one-byte-chunk flood was read for 130 KB instead of 49 KB (bench/http-abuse.ts).
    this.req.pause();
    this.req.socket.pause();
    (this.req.socket as unknown as { _paused: boolean })._paused = true;
    this.refuse(this.size > this.maxBytes ? 'too-large' : 'too-many-pieces');
  }

  private end(): void {
    this.done(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size));
  }
}
