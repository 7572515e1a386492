import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { LunaApplianceHandle, LunaApplianceOptions, startLunaAppliance } from '../../../simulator/luna';
import { makeClientCert, pkcs11Tool, tempDir, writeBundle } from './helpers';

/**
 * NTLS before a connection has shown a trusted certificate: a handshake that never finishes is cut at the
 * handshake deadline; one address cannot hold more than its share of unfinished handshakes (clients from other
 * addresses still get in); the port holds a bounded number of connections. The flood is raw TCP that never sends
 * a ClientHello, from other loopback addresses (127.0.0.2 and up) than the real client's (127.0.0.1).
 */
describe('Luna NTLS: connection limits', () => {
  let dir: string;
  let h: LunaApplianceHandle | undefined;
  let bundle: string;
  let client: { certPem: string; keyPem: string };
  const log: string[] = [];
  const start = async (ntlsLimits: LunaApplianceOptions['ntlsLimits']) => {
    await h?.close();
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4', ntlsLimits, logger: { info: (m) => log.push(m), error: (m) => log.push(m) } });
    return h;
  };
  /** A TCP connection from `from` that sends nothing; resolves once connected. */
  const silent = (port: number, from: string) =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress: from });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        s.on('error', () => undefined);
        resolve(s);
      });
    });
  const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

  beforeAll(async () => {
    dir = tempDir('luna-ntls-limits-');
    const a = (await start({})).appliance;
    await a.initHsm('LunaHSM', 'mystrongpassword', 'domain1');
    await a.createPartition('p1');
    client = await makeClientCert(dir, '10.0.1.5');
    await a.writeFile('10.0.1.5.pem', Buffer.from(client.certPem));
    await a.registerClient('cm1', { ip: '10.0.1.5' });
    await a.assignPartition('cm1', 'p1');
  });

  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('cuts a connection that does not finish its TLS handshake by the deadline', async () => {
    const { ntlsPort } = await start({ handshakeTimeoutMs: 3000 });
    const s = await silent(ntlsPort, '127.0.0.2');
    await closed(s);
    expect(s.destroyed).toBe(true);
  });

  test('refuses more unfinished handshakes from one address than its share; a client from another address gets in', async () => {
    const handle = await start({ maxHandshakesPerAddress: 4 });
    bundle = writeBundle(path.join(dir, 'b1'), handle, { name: 'cm1', ...client }, 'p1');
    const flood: net.Socket[] = [];
    for (let i = 0; i < 4; i++) flood.push(await silent(handle.ntlsPort, '127.0.0.2'));
    const fifth = await silent(handle.ntlsPort, '127.0.0.2');
    await closed(fifth);
    expect(log.some((l) => l.includes('refused a connection from 127.0.0.2: 4 handshakes from it under way'))).toBe(true);
    expect(flood.filter((s) => s.destroyed)).toEqual([]);
    const r = await pkcs11Tool(bundle, ['-L']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/token label\s+:\s+p1\b/);
    for (const s of flood) s.destroy();
  });

  test('closes connections past the port\'s maximum as they arrive', async () => {
    const handle = await start({ maxConnections: 3 });
    const held: net.Socket[] = [];
    for (let i = 0; i < 3; i++) held.push(await silent(handle.ntlsPort, `127.0.0.${3 + i}`));
    const fourth = await silent(handle.ntlsPort, '127.0.0.6');
    await closed(fourth);
    expect(held.filter((s) => s.destroyed)).toEqual([]);
    for (const s of held) s.destroy();
  });
});
