import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as https from 'https';
import { HttpsListener, MAX_BODY_BYTES, MAX_HEADER_BYTES, RequestContext } from '../../../simulator/http/server';
import { ensureTls } from '../../../simulator/tls/ca';
import { silentLogger } from '../../../simulator/logger';
import { errors } from '../../../simulator/http/errors';
import { connect, exchange, firstJsonBody, statusLines } from './tls-exchange';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'http-listener-'));
const material = ensureTls(dir);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A handler that waits until the test lets it go, and says when it has started. */
function gate() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const entered = new Promise<void>((r) => (started = r));
  return { release, released, entered, started };
}

describe('HTTPS listener on Node\u2019s HTTP server', () => {
  let listener: HttpsListener;
  let port: number;
  const seen: RequestContext[] = [];

  beforeAll(async () => {
    listener = new HttpsListener(
      material,
      async (ctx) => {
        seen.push(ctx);
        if (ctx.path === '/fail') throw new Error('handler bug');
        if (ctx.path === '/denied') throw errors.forbidden('no', 'Nope');
        if (ctx.path === '/split') return { status: 200, headers: { 'x-bad': 'a\r\nInjected: yes' } };
        if (ctx.path === '/empty') return { status: 204 };
        return { status: 200, body: { path: ctx.path, query: ctx.query.get('q'), body: ctx.rawBody.toString(), host: ctx.host, from: ctx.remoteAddress } };
      },
      silentLogger,
      'test',
    );
    port = await listener.listen(0);
  });
  afterAll(() => listener.close());

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
      expect(JSON.parse(r.body)).toEqual({ path: '/x', query: String(i), body: `{"i":${i}}`, host: `127.0.0.1:${port}`, from: '127.0.0.1' });
      expect(r.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(r.body)), connection: 'keep-alive' });
      expect(r.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(String(r.headers.date))).toBeGreaterThan(0);
    }
    expect(sockets.size).toBe(1);
    agent.destroy();
  });

  test('pipelined requests are answered in order, each whole', async () => {
    const out = await exchange(port, material.caCert, 'GET /a?q=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /b?q=2 HTTP/1.1\r\nHost: a\r\n\r\nGET /c?q=3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(statusLines(out)).toHaveLength(3);
    expect([...out.matchAll(/\{"path":"([^"]+)","query":"(\d)"/g)].map((m) => `${m[1]}${m[2]}`)).toEqual(['/a1', '/b2', '/c3']);
  });

  test('chunked request bodies and Expect: 100-continue work as curl and .NET send them', async () => {
    const out = await exchange(port, material.caCert, 'POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    expect(out).toContain('"body":"hello"');
  });

  test('HEAD gets the headers without the body; 204 has neither body nor Content-Length', async () => {
    const head = await exchange(port, material.caCert, 'HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head).toMatch(/content-length: \d+\r\n/i);
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    const empty = await exchange(port, material.caCert, 'GET /empty HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(empty).toMatch(/^HTTP\/1\.1 204 No Content/);
    expect(empty).not.toMatch(/content-length/i);
  });

  test.each([
    ['malformed HTTP', 'BLAH\r\n\r\n', 400, 'BadParameter', /not valid HTTP\/1\.1 \(HPE_/],
    ['a request smuggling attempt (Content-Length and Transfer-Encoding)', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'BadParameter', /not valid HTTP/],
    ['conflicting Content-Lengths', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400, 'BadParameter', /not valid HTTP/],
    ['a body over the limit', `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`, 413, 'RequestEntityTooLarge', /limit of 262144 bytes/],
    ['a head over the limit', `GET /x HTTP/1.1\r\nX: ${'y'.repeat(MAX_HEADER_BYTES + 10)}\r\n\r\n`, 431, 'BadParameter', /head is larger than 16384 bytes/],
    ['an HTTP/1.1 request without Host', 'GET /x HTTP/1.1\r\n\r\n', 400, 'BadParameter', /no Host header/],
    ['a target that is no URL', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'BadParameter', /URL is not valid/],
    ['an expectation other than 100-continue', 'POST /x HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 2\r\n\r\n{}', 417, 'BadParameter', /only 100-continue/],
    ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'MethodNotAllowed', /'CONNECT' is not supported/],
  ])('refuses %s with an error in the service shape', async (_what, bytes, status, code, message) => {
    const out = await exchange(port, material.caCert, bytes, /\}$/);
    expect(statusLines(out)[0]).toBe(`HTTP/1.1 ${status}`);
    expect(firstJsonBody(out)).toEqual({ error: { code, message: expect.stringMatching(message) } });
  });

  test('a handler that throws gets a 500 in the service shape and the connection stays usable; a service error keeps its status', async () => {
    const out = await exchange(port, material.caCert, 'GET /fail HTTP/1.1\r\nHost: a\r\n\r\nGET /denied HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(statusLines(out)).toEqual(['HTTP/1.1 500', 'HTTP/1.1 403', 'HTTP/1.1 200']);
    expect(out).toContain('"code":"InternalError"');
  });

  test('a header value with a line break never reaches the wire', async () => {
    const out = await exchange(port, material.caCert, 'GET /split HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 500 /);
    expect(out).not.toMatch(/Injected/);
  });
});

describe('HTTPS listener deadlines and limits', () => {
  test('a chunked body of 300,000 one-byte chunks is refused once it passes 1024 pieces, and the listener goes on serving', async () => {
    // How little server time this costs, and how quick signs on other connections stay meanwhile, is measured by
    // bench/http-abuse.ts (tests assert no timings).
    const l = new HttpsListener(material, async (ctx) => ({ status: 200, body: { n: ctx.rawBody.length } }), silentLogger, 'flood');
    const port = await l.listen(0);
    try {
      const flood = Buffer.concat([Buffer.from('POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'), Buffer.from('1\r\nx\r\n'.repeat(300_000)), Buffer.from('0\r\n\r\n')]);
      const out = await exchange(port, material.caCert, flood);
      const other = await exchange(port, material.caCert, 'POST /other HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      expect(statusLines(out)).toEqual(['HTTP/1.1 413']);
      expect(out).toMatch(/\r\nconnection: close\r\n/i);
      expect(firstJsonBody(out).error).toEqual({ code: 'RequestEntityTooLarge', message: 'The request body arrived in more than 1024 pieces (chunks); send it in fewer, larger chunks.' });
      expect(firstJsonBody(other)).toEqual({ n: 2 });
    } finally {
      await l.close();
    }
  });

  test('a request head trickled one line a second is cut off at the headers deadline with a 408', async () => {
    const headersTimeoutMs = 3000;
    const l = new HttpsListener(material, async () => ({ status: 200, body: {} }), silentLogger, 'trickle', { headersTimeoutMs });
    const port = await l.listen(0);
    try {
      const s = await connect(port, material.caCert);
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString('latin1')));
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      s.on('error', () => undefined);
      const started = Date.now();
      s.write('GET /x HTTP/1.1\r\n');
      let lines = 0;
      // At most 30 lines (30 s): the deadline must end the connection long before.
      while (!s.destroyed && lines < 30) {
        await Promise.race([new Promise((r) => setTimeout(r, 1000)), closed]);
        if (s.destroyed || !s.writable) break;
        s.write(`X-Line-${lines++}: a\r\n`);
      }
      // Still open after 30 lines: the deadline did not work; end it here so the assertions below say so.
      if (!s.destroyed) s.destroy();
      await closed;
      const elapsed = Date.now() - started;
      expect(lines).toBeLessThan(30);
      expect(elapsed).toBeGreaterThanOrEqual(headersTimeoutMs - 100);
      expect(statusLines(out)).toEqual(['HTTP/1.1 408']);
      expect(firstJsonBody(out).error).toEqual({ code: 'RequestTimeout', message: expect.stringMatching(/head must arrive within 3 s/) });
    } finally {
      await l.close();
    }
  });

  test('refuses connections over the per-address limit while another address still connects', async () => {
    const l = new HttpsListener(material, async (ctx) => ({ status: 200, body: { from: ctx.remoteAddress } }), silentLogger, 'conns', { connectionsPerAddress: 3 });
    const port = await l.listen(0);
    try {
      const held = await Promise.all([1, 2, 3].map(() => connect(port, material.caCert)));
      await expect(connect(port, material.caCert)).rejects.toThrow(/ECONNRESET|socket disconnected|socket hang up/);
      const other = await connect(port, material.caCert, '127.0.0.2');
      other.destroy();
      // A slot freed is a slot usable again.
      const closed = new Promise((r) => held[0].once('close', r));
      held[0].destroy();
      await closed;
      let again: Awaited<ReturnType<typeof connect>> | undefined;
      for (let i = 0; i < 50 && !again; i++) again = await connect(port, material.caCert).catch(() => undefined);
      expect(again).toBeDefined();
      again?.destroy();
      for (const s of held) s.destroy();
    } finally {
      await l.close();
    }
  });

  test('refuses requests over the per-address and per-connection in-flight limits with 429 Throttled and Retry-After', async () => {
    const g = gate();
    let running = 0;
    const l = new HttpsListener(
      material,
      async (ctx) => {
        if (ctx.path === '/hold') {
          if (++running === 2) g.started();
          await g.released;
        }
        return { status: 200, body: { from: ctx.remoteAddress } };
      },
      silentLogger,
      'inflight',
      { inFlightPerAddress: 2, inFlightPerConnection: 1 },
    );
    const port = await l.listen(0);
    try {
      const hold = () => exchange(port, material.caCert, 'GET /hold HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      const held = [hold(), hold()];
      await g.entered;
      const third = await exchange(port, material.caCert, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      expect(statusLines(third)).toEqual(['HTTP/1.1 429']);
      expect(third).toMatch(/retry-after: 1\r\n/i);
      expect(firstJsonBody(third).error).toEqual({ code: 'Throttled', message: expect.stringMatching(/more than 2 requests in flight from 127\.0\.0\.1/) });
      // Another address is not held back by this one.
      const s = await connect(port, material.caCert, '127.0.0.2');
      const fromOther = await new Promise<string>((resolve) => {
        let out = '';
        s.on('data', (d: Buffer) => {
          out += d.toString('latin1');
          if (/\}$/.test(out)) resolve(out);
        });
        s.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
      });
      expect(firstJsonBody(fromOther)).toEqual({ from: '127.0.0.2' });
      // Pipelined on one connection beyond its limit: the second waits for nothing and is throttled.
      let pipelined = '';
      const both = new Promise<void>((resolve) =>
        s.on('data', (d: Buffer) => {
          pipelined += d.toString('latin1');
          if (statusLines(pipelined).length === 2 && /\}$/.test(pipelined)) resolve();
        }),
      );
      s.write('GET /hold HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n');
      g.release();
      await both;
      expect(statusLines(pipelined)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 429']);
      expect(pipelined).toMatch(/more than 1 requests in flight on one connection/);
      s.destroy();
      expect((await Promise.all(held)).map((o) => statusLines(o)[0])).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    } finally {
      g.release();
      await l.close();
    }
  });

  test('a request holds its in-flight slot from its head: bodies still arriving count against their address', async () => {
    const handled: string[] = [];
    const l = new HttpsListener(
      material,
      async (ctx) => {
        handled.push(ctx.path);
        return { status: 200, body: {} };
      },
      silentLogger,
      'bodies',
      { inFlightPerAddress: 2 },
    );
    const port = await l.listen(0);
    try {
      // Two uploads that never finish; Expect: 100-continue says when the server has taken each head.
      const uploads = await Promise.all(
        [1, 2].map(async () => {
          const s = await connect(port, material.caCert);
          s.on('error', () => undefined);
          await new Promise<void>((resolve) => {
            s.on('data', (d: Buffer) => /^HTTP\/1\.1 100 /.test(d.toString('latin1')) && resolve());
            s.write('POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n');
          });
          s.write('x'.repeat(1000));
          return s;
        }),
      );
      const third = await exchange(port, material.caCert, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
      expect(statusLines(third)).toEqual(['HTTP/1.1 429']);
      expect(firstJsonBody(third).error).toEqual({ code: 'Throttled', message: expect.stringMatching(/more than 2 requests in flight from 127\.0\.0\.1/) });
      // An upload its client abandons frees its slot (noticed when the server sees the connection close).
      uploads[0].destroy();
      let again = '';
      for (let i = 0; i < 50 && statusLines(again)[0] !== 'HTTP/1.1 200'; i++) again = await exchange(port, material.caCert, 'POST /y HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
      expect(statusLines(again)).toEqual(['HTTP/1.1 200']);
      expect(handled).toEqual(['/y']);
      // Nothing is left counted by abandoned uploads, pipelined or not: both slots serve at once again.
      const pipelined = await connect(port, material.caCert);
      pipelined.on('error', () => undefined);
      pipelined.write('POST /p1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}POST /p2 HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{');
      await new Promise((r) => pipelined.once('data', r));
      pipelined.destroy();
      uploads[1].destroy();
      const both = () => Promise.all([1, 2].map(() => exchange(port, material.caCert, 'GET /z HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')));
      let pair = await both();
      for (let i = 0; i < 50 && !pair.every((o) => statusLines(o)[0] === 'HTTP/1.1 200'); i++) pair = await both();
      expect(pair.map((o) => statusLines(o)[0])).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    } finally {
      await l.close();
    }
  });

  test('close() ends idle keep-alive connections and waits for handlers still running', async () => {
    const g = gate();
    const l = new HttpsListener(
      material,
      async () => {
        g.started();
        await g.released;
        return { status: 200, body: {} };
      },
      silentLogger,
      'closing',
    );
    const port = await l.listen(0);
    const busy = await connect(port, material.caCert);
    const idle = await connect(port, material.caCert);
    const busyClosed = new Promise((r) => busy.once('close', r));
    const idleClosed = new Promise((r) => idle.once('close', r));
    busy.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await g.entered;
    let closeDone = false;
    const closing = l.close().then(() => (closeDone = true));
    await Promise.all([busyClosed, idleClosed]);
    // Both connections are gone, but the handler still runs: close() has not finished.
    expect(closeDone).toBe(false);
    g.release();
    await closing;
    expect(closeDone).toBe(true);
  });
});
