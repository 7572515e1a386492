import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as https from 'https';
import * as tls from 'tls';
import { parseRequest } from '../../simulator/http/request-parser';
import { HttpsListener, MAX_BODY_BYTES, MAX_HEADER_BYTES, RequestContext } from '../../simulator/http/server';
import { ensureTls } from '../../simulator/tls/ca';
import { silentLogger } from '../../simulator/logger';
import { errors } from '../../simulator/http/errors';

const limits = { maxHeaderBytes: 1024, maxBodyBytes: 64 };
const parse = (s: string | Buffer) => parseRequest(Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'), limits);

describe('HTTP/1.1 request framing', () => {
  test('a request with a Content-Length body, headers lower-cased, the rest left for the next request', () => {
    const r = parse('POST /keys/k/sign?api-version=7.4 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\nX-Thing:  a b \r\n\r\n{}GET / HTTP/1.1\r\n');
    expect(r.kind).toBe('request');
    if (r.kind !== 'request') return;
    expect(r.request).toMatchObject({ method: 'POST', target: '/keys/k/sign?api-version=7.4', minorVersion: 1, close: false, headers: { host: 'h:1', 'content-length': '2', 'x-thing': 'a b' } });
    expect(r.request.body.toString()).toBe('{}');
    expect(r.consumed).toBe(Buffer.byteLength('POST /keys/k/sign?api-version=7.4 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\nX-Thing:  a b \r\n\r\n{}'));
  });

  test('header names that are also Object.prototype keys are plain fields', () => {
    const r = parse('GET / HTTP/1.1\r\nconstructor: a\r\n__proto__: b\r\ntoString: c\r\n\r\n');
    expect(r.kind).toBe('request');
    if (r.kind === 'request') {
      expect(Object.entries(r.request.headers)).toEqual([
        ['constructor', 'a'],
        ['__proto__', 'b'],
        ['tostring', 'c'],
      ]);
    }
  });

  test('incomplete until the head and the whole body have arrived', () => {
    expect(parse('GET / HTTP/1.1\r\nHost: x\r\n').kind).toBe('incomplete');
    expect(parse('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc').kind).toBe('incomplete');
  });

  test('chunked bodies are decoded, extensions and trailers dropped', () => {
    const request = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n';
    const r = parse(`${request}NEXT`);
    expect(r.kind).toBe('request');
    if (r.kind !== 'request') return;
    expect(r.request.body.toString()).toBe('abcde');
    expect(r.consumed).toBe(request.length);
    expect(parse('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab').kind).toBe('incomplete');
  });

  test('connection persistence follows the version and the Connection header', () => {
    const close = (s: string) => {
      const r = parse(s);
      return r.kind === 'request' ? r.request.close : undefined;
    };
    expect(close('GET / HTTP/1.1\r\n\r\n')).toBe(false);
    expect(close('GET / HTTP/1.1\r\nConnection: close\r\n\r\n')).toBe(true);
    expect(close('GET / HTTP/1.0\r\n\r\n')).toBe(true);
    expect(close('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')).toBe(false);
  });

  test('Expect: 100-continue is reported while the body has not started', () => {
    expect(parse('POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n')).toEqual({ kind: 'incomplete', expectsContinue: true });
    expect(parse('POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nab')).toEqual({ kind: 'incomplete', expectsContinue: false });
  });

  test.each([
    ['a bad request line', 'GARBAGE\r\n\r\n', 400, /request line/],
    ['HTTP/2 in the request line', 'GET / HTTP/2.0\r\n\r\n', 400, /request line/],
    ['a space in the target', 'GET /a b HTTP/1.1\r\n\r\n', 400, /request line/],
    ['a header without a colon', 'GET / HTTP/1.1\r\nNoColon\r\n\r\n', 400, /name: value/],
    ['a folded header line', 'GET / HTTP/1.1\r\nA: b\r\n c: d\r\n\r\n', 400, /field name/],
    ['a control character in a value', 'GET / HTTP/1.1\r\nA: b\x01c\r\n\r\n', 400, /control characters/],
    ['a non-numeric Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n', 400, /Content-Length/],
    ['a negative Content-Length', 'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 400, /Content-Length/],
    ['conflicting Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400, /conflicting/],
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 400, /both/],
    ['an unknown transfer coding', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n', 501, /only chunked/],
    ['a bad chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, /hexadecimal/],
    ['a chunk without its CRLF', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n', 400, /CRLF/],
    ['an unknown expectation', 'GET / HTTP/1.1\r\nExpect: magic\r\n\r\n', 417, /100-continue/],
    ['a body over the limit', `POST / HTTP/1.1\r\nContent-Length: ${limits.maxBodyBytes + 1}\r\n\r\n`, 413, /limit of 64 bytes/],
    ['chunks over the limit', `POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n${'a'.repeat(65)}\r\n0\r\n\r\n`, 413, /limit/],
    ['a head over the limit', `GET / HTTP/1.1\r\nA: ${'x'.repeat(2000)}`, 431, /head is larger/],
  ])('refuses %s with a status and a reason', (_what, text, status, reason) => {
    const r = parse(text);
    expect(r).toMatchObject({ kind: 'error', status });
    if (r.kind === 'error') expect(r.message).toMatch(reason);
  });
});

describe('HTTPS listener connections', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'http-conn-'));
  const material = ensureTls(dir);
  let listener: HttpsListener;
  let port: number;
  const seen: RequestContext[] = [];

  beforeAll(async () => {
    listener = new HttpsListener(
      material,
      async (ctx) => {
        seen.push(ctx);
        if (ctx.path === '/slow') await new Promise((r) => setTimeout(r, 50));
        if (ctx.path === '/fail') throw new Error('handler bug');
        if (ctx.path === '/denied') throw errors.forbidden('no', 'Nope');
        if (ctx.path === '/split') return { status: 200, headers: { 'x-bad': 'a\r\nInjected: yes' } };
        if (ctx.path === '/empty') return { status: 204 };
        return { status: 200, body: { path: ctx.path, query: ctx.query.get('q'), body: ctx.rawBody.toString(), host: ctx.host } };
      },
      silentLogger,
      'test',
    );
    port = await listener.listen(0);
  });
  afterAll(async () => {
    await listener.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Writes raw bytes on a fresh TLS connection and collects everything until the server closes it or `until` matches. */
  function exchange(bytes: string | string[], until?: RegExp, gapMs = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: material.caCert, servername: 'localhost' }, async () => {
        for (const b of Array.isArray(bytes) ? bytes : [bytes]) {
          s.write(b);
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        }
      });
      let out = '';
      const timer = setTimeout(() => {
        s.destroy();
        resolve(out);
      }, 3000);
      s.on('data', (d) => {
        out += d.toString('latin1');
        if (until && until.test(out)) {
          clearTimeout(timer);
          s.destroy();
          resolve(out);
        }
      });
      s.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
      s.on('error', reject);
    });
  }

  const responses = (text: string) => text.match(/HTTP\/1\.1 \d{3}/g) ?? [];

  test("Node's own https client gets JSON with Content-Length, Date and a request id, over one kept-alive socket", async () => {
    const agent = new https.Agent({ ca: material.caCert, keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    for (let i = 0; i < 3; i++) {
      const r = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, path: `/x?q=${i}`, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          sockets.add(res.socket);
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end(`{"i":${i}}`);
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ path: '/x', query: String(i), body: `{"i":${i}}`, host: `127.0.0.1:${port}` });
      expect(r.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(r.body)), connection: 'keep-alive' });
      expect(r.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(String(r.headers.date))).toBeGreaterThan(0);
    }
    expect(sockets.size).toBe(1);
    agent.destroy();
  });

  test('pipelined requests are answered in order, each whole', async () => {
    const out = await exchange('GET /slow?q=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /fast?q=2 HTTP/1.1\r\nHost: a\r\n\r\nGET /x?q=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(responses(out)).toHaveLength(3);
    const bodies = [...out.matchAll(/\{"path":"([^"]+)","query":"(\d)"/g)].map((m) => `${m[1]}${m[2]}`);
    expect(bodies).toEqual(['/slow1', '/fast2', '/x3']);
    expect(out).toMatch(/Connection: close\r\n/);
  });

  test('a request split across many small writes is put back together', async () => {
    const req = 'POST /x?q=7 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world';
    const out = await exchange(req.match(/.{1,5}/gs)!, undefined, 2);
    expect(out).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(out).toContain('"body":"hello world"');
  });

  test('chunked request bodies and Expect: 100-continue work as curl and .NET send them', async () => {
    const out = await exchange(['POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'], undefined, 30);
    expect(out).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    expect(out).toContain('"body":"hello"');
  });

  test('HEAD gets the headers without the body; 204 has neither body nor Content-Length', async () => {
    const head = await exchange('HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(head).toMatch(/Content-Length: \d+\r\n\r\n$/);
    const empty = await exchange('GET /empty HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(empty).toMatch(/^HTTP\/1\.1 204 No Content/);
    expect(empty).not.toMatch(/Content-Length/i);
  });

  test.each([
    ['malformed HTTP', 'BLAH\r\n\r\n', 400, 'BadParameter'],
    ['a body over the limit', `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`, 413, 'RequestEntityTooLarge'],
    ['a head over the limit', `GET /x HTTP/1.1\r\nX: ${'y'.repeat(MAX_HEADER_BYTES + 10)}\r\n\r\n`, 431, 'BadParameter'],
  ])('%s: an error in the service shape, then the connection closes', async (_what, bytes, status, code) => {
    const out = await exchange(bytes);
    expect(out).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(out).toMatch(/Connection: close/);
    expect(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code } });
  });

  test('a handler that throws gets a 500 in the service shape and the connection stays usable; a service error keeps its status', async () => {
    const out = await exchange('GET /fail HTTP/1.1\r\nHost: a\r\n\r\nGET /denied HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(responses(out)).toEqual(['HTTP/1.1 500', 'HTTP/1.1 403', 'HTTP/1.1 200']);
    expect(out).toContain('"code":"InternalError"');
  });

  test('a header value with a line break never reaches the wire', async () => {
    const out = await exchange('GET /split HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 500 /);
    expect(out).not.toMatch(/Injected/);
  });

  test('close() ends idle keep-alive connections and waits for handlers still running', async () => {
    const l = new HttpsListener(material, async () => {
      await new Promise((r) => setTimeout(r, 100));
      return { status: 200, body: {} };
    }, silentLogger, 'closing');
    const p = await l.listen(0);
    const s = tls.connect({ host: '127.0.0.1', port: p, ca: material.caCert, servername: 'localhost' });
    await new Promise((r) => s.once('secureConnect', r));
    s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await new Promise((r) => setTimeout(r, 20));
    const closed = new Promise((r) => s.once('close', r));
    const t = Date.now();
    await l.close();
    expect(Date.now() - t).toBeGreaterThanOrEqual(60);
    await closed;
  });
});
