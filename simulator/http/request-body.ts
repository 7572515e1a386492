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
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxBytes && chunks.length < maxPieces) {
      chunks.push(chunk);
      return;
    }
    const why = size > maxBytes ? 'too-large' : 'too-many-pieces';
    req.off('data', onData);
    req.off('end', onEnd);
    chunks.length = 0;
    // The connection closes after the refusal: what the client still sends need not be parsed.
    req.socket.pause();
    refuse(why);
  };
  const onEnd = () => done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  req.on('data', onData);
  req.on('end', onEnd);
}
