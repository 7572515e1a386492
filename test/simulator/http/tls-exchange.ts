import * as net from 'net';
import * as tls from 'tls';

/** A raw TLS connection to a listener on 127.0.0.1, bound to `localAddress` (another loopback address is another client). */
export function connect(port: number, ca: string, localAddress = '127.0.0.1'): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress });
    tcp.once('error', reject);
    const s = tls.connect({ socket: tcp, ca, servername: 'localhost' }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Writes raw bytes on a fresh TLS connection and collects what comes back until the server closes the connection
 * or `until` matches what has arrived. Bounded: gives up (and says so) after `giveUpMs`.
 */
export async function exchange(port: number, ca: string, bytes: string | Buffer, until?: RegExp, giveUpMs = 20_000): Promise<string> {
  const s = await connect(port, ca);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${giveUpMs} ms; got ${JSON.stringify(out.slice(0, 200))}`));
    }, giveUpMs);
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (until && until.test(out)) finish();
    });
    s.on('close', finish);
    s.on('error', () => undefined);
    s.write(bytes);
  });
}

/** Status lines of every response in a raw exchange, in order. */
export function statusLines(text: string): string[] {
  return text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
}

/** The JSON body of the first response in a raw exchange. */
export function firstJsonBody(text: string): any {
  const start = text.indexOf('\r\n\r\n') + 4;
  const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? '0');
  return JSON.parse(text.slice(start, start + length));
}
