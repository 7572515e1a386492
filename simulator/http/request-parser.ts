/**
 * HTTP/1.1 request framing (RFC 9112) for the simulator's listeners: request line, header fields, and a body
 * framed by Content-Length or chunked transfer coding. A pure function of the bytes received so far, so a
 * connection can call it again as more arrive and tests can feed it anything.
 */

export interface ParsedRequest {
  method: string;
  /** The request-target as sent (origin-form "/path?query", or absolute-form). */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minorVersion: number;
  /** Lower-case names; the first occurrence of a repeated field wins (the simulator reads only singletons). */
  headers: Record<string, string>;
  body: Buffer;
  /** The client asked for the connection to end after this response. */
  close: boolean;
}

export type ParseResult =
  | { kind: 'incomplete'; /** The head is complete and the client waits for "100 Continue" before sending the body. */ expectsContinue: boolean }
  | { kind: 'request'; request: ParsedRequest; consumed: number }
  | { kind: 'error'; status: number; message: string };

export interface ParseLimits {
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s\x00-\x1f\x7f]+) HTTP\/1\.([01])$/;
/** Field values: visible characters, spaces, tabs and obs-text; no other control characters. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const incomplete = (expectsContinue = false): ParseResult => ({ kind: 'incomplete', expectsContinue });
const fail = (status: number, message: string): ParseResult => ({ kind: 'error', status, message });

export function parseRequest(buf: Buffer, limits: ParseLimits): ParseResult {
  // A client may send empty lines before a request (RFC 9112 section 2.2); they are skipped.
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  const headEnd = buf.indexOf('\r\n\r\n', start);
  if (headEnd < 0) {
    return buf.length - start > limits.maxHeaderBytes ? fail(431, `The request head is larger than ${limits.maxHeaderBytes} bytes.`) : incomplete();
  }
  if (headEnd - start > limits.maxHeaderBytes) return fail(431, `The request head is larger than ${limits.maxHeaderBytes} bytes.`);
  const lines = buf.toString('latin1', start, headEnd).split('\r\n');
  const line = REQUEST_LINE.exec(lines[0]);
  if (!line) return fail(400, 'The request line is not "METHOD target HTTP/1.1".');
  // No prototype: a field named "constructor" or "__proto__" is just a field.
  const headers: Record<string, string> = Object.create(null);
  let contentLength: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    const colon = l.indexOf(':');
    if (colon <= 0) return fail(400, `Header line ${i} is not "name: value".`);
    const name = l.slice(0, colon);
    if (!TOKEN.test(name)) return fail(400, `Header line ${i} has an invalid field name.`);
    const value = l.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) return fail(400, `Header '${name.slice(0, 40)}' contains control characters.`);
    const key = name.toLowerCase();
    if (key === 'content-length') {
      if (contentLength !== undefined && contentLength !== value) return fail(400, 'The request has conflicting Content-Length headers.');
      contentLength = value;
    }
    if (headers[key] === undefined) headers[key] = value;
  }
  const minorVersion = Number(line[3]);
  const connection = (headers.connection ?? '').toLowerCase();
  const close = minorVersion === 0 ? !/\bkeep-alive\b/.test(connection) : /\bclose\b/.test(connection);
  const bodyStart = headEnd + 4;

  const expect = headers.expect?.toLowerCase();
  if (expect !== undefined && expect !== '100-continue') return fail(417, `Expect: '${expect.slice(0, 40)}' is not supported; only 100-continue.`);
  const transferEncoding = headers['transfer-encoding']?.toLowerCase();
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) return fail(400, 'The request has both Transfer-Encoding and Content-Length.');
    if (transferEncoding !== 'chunked') return fail(501, `Transfer-Encoding '${transferEncoding.slice(0, 40)}' is not supported; only chunked.`);
    const chunked = readChunked(buf, bodyStart, limits.maxBodyBytes);
    if (chunked.kind === 'request') return { kind: 'request', request: parsedRequest(line[1], line[2], minorVersion, headers, chunked.body, close), consumed: chunked.end };
    if (chunked.kind === 'incomplete') return incomplete(expect !== undefined && buf.length === bodyStart);
    return chunked;
  }
  if (contentLength === undefined) return { kind: 'request', request: parsedRequest(line[1], line[2], minorVersion, headers, Buffer.alloc(0), close), consumed: bodyStart };
  if (!/^\d{1,15}$/.test(contentLength)) return fail(400, `Content-Length '${contentLength.slice(0, 20)}' is not a number of bytes.`);
  const length = Number(contentLength);
  if (length > limits.maxBodyBytes) return fail(413, `The request body is larger than the limit of ${limits.maxBodyBytes} bytes.`);
  if (buf.length < bodyStart + length) return incomplete(expect !== undefined && buf.length === bodyStart && length > 0);
  return { kind: 'request', request: parsedRequest(line[1], line[2], minorVersion, headers, buf.subarray(bodyStart, bodyStart + length), close), consumed: bodyStart + length };
}

/**
 * Each request object is built whole, never spread: a spread plus one more field takes V8's slow path and gives
 * every request its own hidden class, which made every later read of it an inline-cache miss.
 */
function parsedRequest(method: string, target: string, minorVersion: number, headers: Record<string, string>, body: Buffer, close: boolean): ParsedRequest {
  return { method, target, minorVersion, headers, body, close };
}

type ChunkedResult = { kind: 'request'; body: Buffer; end: number } | { kind: 'incomplete' } | { kind: 'error'; status: number; message: string };

/** Decodes a chunked body starting at `pos`: size lines (hex, extensions ignored), data, then trailers up to an empty line. */
function readChunked(buf: Buffer, pos: number, maxBodyBytes: number): ChunkedResult {
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return buf.length - pos > 1024 ? { kind: 'error', status: 400, message: 'A chunk size line is too long.' } : { kind: 'incomplete' };
    const sizeText = buf.toString('latin1', pos, eol).split(';')[0].trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return { kind: 'error', status: 400, message: 'A chunk size is not hexadecimal.' };
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // Trailer fields follow the last chunk; they are read and dropped.
      const end = buf.indexOf('\r\n\r\n', eol);
      if (end < 0) return buf.length - eol > 16 * 1024 ? { kind: 'error', status: 400, message: 'The chunked trailer is too long.' } : { kind: 'incomplete' };
      return { kind: 'request', body: Buffer.concat(parts), end: end + 4 };
    }
    total += size;
    if (total > maxBodyBytes) return { kind: 'error', status: 413, message: `The request body is larger than the limit of ${maxBodyBytes} bytes.` };
    const dataEnd = eol + 2 + size;
    if (buf.length < dataEnd + 2) return { kind: 'incomplete' };
    if (buf[dataEnd] !== 0x0d || buf[dataEnd + 1] !== 0x0a) return { kind: 'error', status: 400, message: 'A chunk is not followed by CRLF.' };
    parts.push(buf.subarray(eol + 2, dataEnd));
    pos = dataEnd + 2;
  }
}
