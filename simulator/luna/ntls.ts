import * as tls from 'tls';
import { createHash, createPublicKey, randomBytes } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { Appliance, ClientState } from './appliance';
import { fingerprintOfDer } from './certs';
import { Logger } from '../logger';
// RSA-OAEP with SHA-1: the wrap BYOK uses for its ephemeral AES key (the same mechanism the Managed HSM unwraps with).
import { OAEP_SHA1 } from '../managedhsm/algorithms';

/**
 * NTLS, the appliance's client link (port 1792 on a real Luna), simulated as JSON lines over mutual TLS.
 *
 * Trust, as on the appliance: the server presents server.pem; the client presents the certificate it
 * registered with `client register` (matched by its SHA-256 fingerprint; TLS proves the key). A client whose
 * certificate is not registered gets one error line and the link closes. A registered client reaches only
 * the partitions assigned to it; `client revokePartition` / `client delete` / `partition delete` / zeroizing
 * end its links at once (one `{"event":"closed",...}` line, then the socket closes).
 *
 * Requests, one JSON object per line, answered in order (`id` is echoed):
 *   {"id":1,"op":"hello"}                                  -> {"client":"cm1","partitions":[{"name","serial","label"}]}
 *   {"id":2,"op":"open","partition":"P"}                   -> {"session":"s1","partition":"P","serial":"...","label":"P"}
 *   {"id":3,"op":"generate","session":"s1","type":"EC","curve":"P-256","label":"k1"}
 *                                 (type RSA takes "bits" 2048..4096; type AES takes "bits" 128/192/256)
 *                                                          -> {"id":"<hex>","label":"k1","type":"EC","publicKeyPem":"..."}
 *   {"id":4,"op":"list","session":"s1"}                    -> {"objects":[{"id","label","class","keyType"}]}
 *   {"id":5,"op":"sign","session":"s1","key":"<hex>","algorithm":"ES256"|"ES384"|"RS256","data":"<base64>"}
 *                                                          -> {"signature":"<base64>"} (ECDSA as r||s)
 *   {"id":6,"op":"wrap","session":"s1","wrappingKey":"<hex AES key>","key":"<hex>"}  (or "data":"<base64>")
 *                                                          -> {"wrapped":"<base64>"} (AES key wrap with padding, RFC 5649)
 *   {"id":7,"op":"wrap","session":"s1","wrappingPublicKeyPem":"<RSA SPKI PEM>","key":"<hex>"}
 *                                                          -> {"wrapped":"<base64>"} (RSA-OAEP with SHA-1, as BYOK's
 *                                                             CKM_RSA_AES_KEY_WRAP wraps its ephemeral AES key)
 *   {"id":8,"op":"unwrap","session":"s1","wrappingKey":"<hex AES key>","data":"<base64 wrapped>"}
 *                                                          -> {"data":"<base64>"} (the reverse of wrap with "data":
 *                                                             a firewall's master key comes back to it)
 *   {"id":9,"op":"destroy","session":"s1","key":"<hex>"}   -> {} (an ephemeral key, once used)
 *   {"id":10,"op":"close","session":"s1"}                  -> {}
 * Answers: {"id":N,"ok":true,"result":{...}} or {"id":N,"ok":false,"error":{"code","message"}}, codes
 * NTLS_CLIENT_NOT_REGISTERED, NTLS_ACCESS_REVOKED, CKR_TOKEN_NOT_PRESENT (partition not assigned or
 * absent), CKR_SESSION_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID, CKR_ARGUMENTS_BAD, CKR_MECHANISM_INVALID,
 * CKR_FUNCTION_FAILED.
 */
export const NTLS_MAX_LINE = 1024 * 1024;

export class NtlsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Link {
  socket: tls.TLSSocket;
  client: string;
  fingerprint: string;
  sessions: Map<string, string>;
  nextSession: number;
  cut: boolean;
}

const CURVES: Record<string, { crv: string; size: number }> = { 'P-256': { crv: 'P-256', size: 32 }, 'P-384': { crv: 'P-384', size: 48 } };

export class NtlsServer {
  private readonly server: tls.Server;
  private readonly links = new Set<Link>();
  /** Every TCP connection, handshaken or not, so that close() never waits on a straggler. */
  private readonly sockets = new Set<import('net').Socket>();
  private readonly onAccessChanged = () => this.recheck();

  constructor(
    private readonly appliance: Appliance,
    identity: { certPem: string; keyPem: string },
    private readonly logger: Logger,
  ) {
    this.server = tls.createServer({
      cert: identity.certPem,
      key: identity.keyPem,
      requestCert: true,
      // Client certificates are self-signed (vtl createcert); trust is the registered fingerprint, checked below.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    });
    this.server.on('secureConnection', (s) => this.accept(s));
    this.server.on('tlsClientError', () => undefined);
    this.server.on('connection', (sock: import('net').Socket) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    appliance.on('access-changed', this.onAccessChanged);
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as { port: number }).port));
    });
  }

  private send(link: { socket: tls.TLSSocket }, obj: unknown): void {
    if (!link.socket.destroyed) link.socket.write(`${JSON.stringify(obj)}\n`);
  }

  private accept(socket: tls.TLSSocket): void {
    socket.on('error', () => undefined);
    const peer = socket.getPeerCertificate();
    const fingerprint = peer && peer.raw ? fingerprintOfDer(peer.raw) : '';
    const client = fingerprint ? this.appliance.clientByFingerprint(fingerprint) : undefined;
    if (!client) {
      this.send({ socket }, { id: null, ok: false, error: { code: 'NTLS_CLIENT_NOT_REGISTERED', message: 'this client certificate is not registered on the appliance' } });
      socket.end();
      return;
    }
    const link: Link = { socket, client: client.name, fingerprint, sessions: new Map(), nextSession: 1, cut: false };
    this.links.add(link);
    socket.on('close', () => this.links.delete(link));
    let buf = '';
    let chain = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > NTLS_MAX_LINE && !buf.includes('\n')) {
        this.send(link, { id: null, ok: false, error: { code: 'CKR_ARGUMENTS_BAD', message: `request longer than ${NTLS_MAX_LINE} bytes` } });
        socket.destroy();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) chain = chain.then(() => this.handle(link, line));
      }
    });
  }

  /** The client's current registration, if it still stands for this link's certificate. */
  private current(link: Link): ClientState | undefined {
    const c = this.appliance.client(link.client);
    return c && c.fingerprint === link.fingerprint ? c : undefined;
  }

  private allowed(link: Link, partition: string): boolean {
    const c = this.current(link);
    return !!c && c.partitions.includes(partition) && !!this.appliance.partition(partition);
  }

  /** Ends every link whose client is gone or that holds a session on a partition it may no longer use. */
  recheck(): void {
    for (const link of this.links) {
      if (link.cut) continue;
      const gone = !this.current(link);
      const lost = [...link.sessions.values()].filter((p) => !this.allowed(link, p));
      if (gone || lost.length) this.cut(link, gone ? 'the client registration was deleted' : `access to partition ${lost[0]} was revoked`);
    }
  }

  private cut(link: Link, why: string): void {
    link.cut = true;
    link.sessions.clear();
    this.send(link, { event: 'closed', error: { code: 'NTLS_ACCESS_REVOKED', message: why } });
    link.socket.end();
    setTimeout(() => link.socket.destroy(), 200).unref();
  }

  private async handle(link: Link, line: string): Promise<void> {
    if (link.cut) return;
    let id: unknown = null;
    try {
      let req: Record<string, unknown>;
      try {
        req = JSON.parse(line);
      } catch {
        throw new NtlsError('CKR_ARGUMENTS_BAD', 'each request is one JSON object on one line');
      }
      if (!req || typeof req !== 'object' || Array.isArray(req)) throw new NtlsError('CKR_ARGUMENTS_BAD', 'each request is one JSON object on one line');
      id = typeof req.id === 'number' || typeof req.id === 'string' ? req.id : null;
      const result = await this.dispatch(link, req);
      if (!link.cut) this.send(link, { id, ok: true, result });
    } catch (err) {
      if (link.cut) return;
      if (err instanceof NtlsError) this.send(link, { id, ok: false, error: { code: err.code, message: err.message } });
      else {
        this.logger.error(`luna ntls: ${link.client}: operation failed: ${(err as Error).message}`);
        this.send(link, { id, ok: false, error: { code: 'CKR_FUNCTION_FAILED', message: 'the operation failed in the HSM' } });
      }
    }
  }

  private partitionOf(link: Link, req: Record<string, unknown>): string {
    const s = str(req, 'session');
    const p = link.sessions.get(s);
    if (!p) throw new NtlsError('CKR_SESSION_HANDLE_INVALID', `no open session ${s.slice(0, 32)}`);
    if (!this.allowed(link, p)) throw new NtlsError('CKR_TOKEN_NOT_PRESENT', `partition ${p} is not assigned to this client`);
    return p;
  }

  private async dispatch(link: Link, req: Record<string, unknown>): Promise<unknown> {
    const c = this.current(link);
    if (!c) throw new NtlsError('NTLS_ACCESS_REVOKED', 'the client registration was deleted');
    const op = req.op;
    switch (op) {
      case 'hello':
        return {
          client: c.name,
          partitions: c.partitions
            .map((p) => this.appliance.partition(p))
            .filter((p) => !!p)
            .map((p) => ({ name: p!.name, serial: p!.serial, label: p!.name })),
        };
      case 'open': {
        const name = str(req, 'partition');
        if (!this.allowed(link, name)) throw new NtlsError('CKR_TOKEN_NOT_PRESENT', `partition ${name.slice(0, 32)} is not assigned to this client`);
        if (link.sessions.size >= 64) throw new NtlsError('CKR_FUNCTION_FAILED', 'too many open sessions on this link');
        const session = `s${link.nextSession++}`;
        link.sessions.set(session, name);
        const p = this.appliance.partition(name)!;
        return { session, partition: name, serial: p.serial, label: name };
      }
      case 'close':
        this.partitionOf(link, req);
        link.sessions.delete(str(req, 'session'));
        return {};
      case 'list': {
        const p = this.partitionOf(link, req);
        return { objects: await this.appliance.tokens.objects(p) };
      }
      case 'generate':
        return this.generate(this.partitionOf(link, req), req);
      case 'sign':
        return this.sign(this.partitionOf(link, req), req);
      case 'wrap':
        return this.wrap(this.partitionOf(link, req), req);
      case 'unwrap':
        return this.unwrap(this.partitionOf(link, req), req);
      case 'destroy':
        return this.destroy(this.partitionOf(link, req), req);
      default:
        throw new NtlsError('CKR_FUNCTION_NOT_SUPPORTED', `unknown op ${JSON.stringify(String(op).slice(0, 32))}; ops: hello, open, close, list, generate, sign, wrap, unwrap, destroy`);
    }
  }

  private async generate(partition: string, req: Record<string, unknown>): Promise<unknown> {
    const label = str(req, 'label');
    if (!/^[\x20-\x7e]{1,64}$/.test(label)) throw new NtlsError('CKR_ARGUMENTS_BAD', 'label: 1 to 64 printable characters');
    const type = str(req, 'type');
    const id = randomBytes(8).toString('hex');
    return this.appliance.tokens.use(partition, async (token) => {
      if (type === 'EC') {
        const curve = typeof req.curve === 'string' ? req.curve : 'P-256';
        const spec = CURVES[curve];
        if (!spec) throw new NtlsError('CKR_ARGUMENTS_BAD', 'curve: P-256 or P-384');
        const point = await token.generateEc(id, label, curve, { sign: true });
        const n = spec.size;
        const jwk = { kty: 'EC', crv: spec.crv, x: point.subarray(1, 1 + n).toString('base64url'), y: point.subarray(1 + n).toString('base64url') };
        return { id, label, type, publicKeyPem: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) };
      }
      if (type === 'RSA') {
        const bits = typeof req.bits === 'number' ? req.bits : 2048;
        if (![2048, 3072, 4096].includes(bits)) throw new NtlsError('CKR_ARGUMENTS_BAD', 'bits: 2048, 3072 or 4096');
        const { n, e } = await token.generateRsa(id, label, bits, Buffer.from([1, 0, 1]), { sign: true, decrypt: true });
        const jwk = { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') };
        return { id, label, type, publicKeyPem: createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) };
      }
      if (type === 'AES') {
        const bits = typeof req.bits === 'number' ? req.bits : 256;
        if (![128, 192, 256].includes(bits)) throw new NtlsError('CKR_ARGUMENTS_BAD', 'bits: 128, 192 or 256');
        await token.generateAes(id, label, bits, { encrypt: true, decrypt: true, wrap: true, unwrap: true });
        return { id, label, type };
      }
      throw new NtlsError('CKR_ARGUMENTS_BAD', 'type: EC, RSA or AES');
    });
  }

  private async sign(partition: string, req: Record<string, unknown>): Promise<unknown> {
    const key = hexId(req, 'key');
    const data = b64(req, 'data', 64 * 1024);
    const alg = str(req, 'algorithm');
    return this.appliance.tokens.use(partition, async (token) => {
      if (!token.has(key)) throw new NtlsError('CKR_KEY_HANDLE_INVALID', `no key ${key} in this partition`);
      let signature: Buffer;
      if (alg === 'ES256' || alg === 'ES384') {
        const digest = createHash(alg === 'ES256' ? 'sha256' : 'sha384').update(data).digest();
        signature = await token.sign(key, { mechanism: pkcs11js.CKM_ECDSA }, digest, 132);
      } else if (alg === 'RS256') {
        signature = await token.sign(key, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, data, 512);
      } else throw new NtlsError('CKR_MECHANISM_INVALID', 'algorithm: ES256, ES384 or RS256');
      return { signature: signature.toString('base64') };
    });
  }

  private async wrap(partition: string, req: Record<string, unknown>): Promise<unknown> {
    if (typeof req.wrappingPublicKeyPem === 'string') return this.wrapForPublicKey(partition, req);
    const wrapping = hexId(req, 'wrappingKey');
    const mech = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
    return this.appliance.tokens.use(partition, async (token) => {
      if (!token.has(wrapping)) throw new NtlsError('CKR_KEY_HANDLE_INVALID', `no key ${wrapping} in this partition`);
      if (typeof req.key === 'string') {
        const key = hexId(req, 'key');
        if (!token.has(key)) throw new NtlsError('CKR_KEY_HANDLE_INVALID', `no key ${key} in this partition`);
        return { wrapped: (await token.wrapKey(wrapping, mech, key)).toString('base64') };
      }
      return { wrapped: (await token.wrapBytes(wrapping, mech, b64(req, 'data', 8192))).toString('base64') };
    });
  }

  private async wrapForPublicKey(partition: string, req: Record<string, unknown>): Promise<unknown> {
    const key = hexId(req, 'key');
    let jwk: { kty?: string; n?: string; e?: string };
    try {
      jwk = createPublicKey(String(req.wrappingPublicKeyPem).slice(0, 8192)).export({ format: 'jwk' }) as typeof jwk;
    } catch {
      throw new NtlsError('CKR_ARGUMENTS_BAD', 'wrappingPublicKeyPem: an RSA public key in PEM');
    }
    if (jwk.kty !== 'RSA') throw new NtlsError('CKR_ARGUMENTS_BAD', 'wrappingPublicKeyPem: an RSA public key in PEM');
    const pub = { n: Buffer.from(jwk.n!, 'base64url'), e: Buffer.from(jwk.e!, 'base64url') };
    if (pub.n.length < 256) throw new NtlsError('CKR_ARGUMENTS_BAD', 'wrappingPublicKeyPem: RSA of 2048 bits or more');
    return this.appliance.tokens.use(partition, async (token) => {
      if (!token.has(key)) throw new NtlsError('CKR_KEY_HANDLE_INVALID', `no key ${key} in this partition`);
      return { wrapped: (await token.wrapForPublicKey(pub, OAEP_SHA1, key)).toString('base64') };
    });
  }

  private async unwrap(partition: string, req: Record<string, unknown>): Promise<unknown> {
    const wrapping = hexId(req, 'wrappingKey');
    const data = b64(req, 'data', 8192);
    return this.appliance.tokens.use(partition, async (token) => {
      if (!token.has(wrapping)) throw new NtlsError('CKR_KEY_HANDLE_INVALID', `no key ${wrapping} in this partition`);
      try {
        return { data: (await token.unwrapBytes(wrapping, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, data)).toString('base64') };
      } catch {
        throw new NtlsError('CKR_WRAPPED_KEY_INVALID', 'the data was not wrapped by this key');
      }
    });
  }

  private async destroy(partition: string, req: Record<string, unknown>): Promise<unknown> {
    const key = hexId(req, 'key');
    return this.appliance.tokens.use(partition, async (token) => {
      if (!token.has(key)) throw new NtlsError('CKR_KEY_HANDLE_INVALID', `no key ${key} in this partition`);
      await token.destroy(key);
      return {};
    });
  }

  /** Ends every link and stops listening. */
  async close(): Promise<void> {
    this.appliance.off('access-changed', this.onAccessChanged);
    for (const l of this.links) l.socket.destroy();
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function str(req: Record<string, unknown>, name: string): string {
  const v = req[name];
  if (typeof v !== 'string' || v === '') throw new NtlsError('CKR_ARGUMENTS_BAD', `${name}: a non-empty string is required`);
  return v;
}

function hexId(req: Record<string, unknown>, name: string): string {
  const v = str(req, name);
  if (!/^[0-9a-f]{2,64}$/.test(v)) throw new NtlsError('CKR_ARGUMENTS_BAD', `${name}: a key id (hex) from generate or list`);
  return v;
}

function b64(req: Record<string, unknown>, name: string, max: number): Buffer {
  const v = str(req, name);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new NtlsError('CKR_ARGUMENTS_BAD', `${name}: base64`);
  const b = Buffer.from(v, 'base64');
  if (b.length === 0 || b.length > max) throw new NtlsError('CKR_ARGUMENTS_BAD', `${name}: 1 to ${max} bytes`);
  return b;
}
