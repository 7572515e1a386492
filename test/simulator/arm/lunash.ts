import * as net from 'net';
import { Client, ClientChannel } from 'ssh2';

/**
 * A minimal expect-style LunaSH session over SSH (the ssh2 client), enough for the ARM tests to initialise and
 * zeroize the appliance behind a Dedicated HSM as an administrator would.
 */
export class LunaShell {
  private buf = '';

  private constructor(
    private readonly conn: Client,
    private readonly ch: ClientChannel,
  ) {
    ch.on('data', (d: Buffer) => (this.buf += d.toString('utf8')));
  }

  static async open(port: number, password: string): Promise<LunaShell> {
    const conn = new Client();
    await new Promise<void>((resolve, reject) => {
      conn.once('ready', () => resolve());
      conn.once('error', reject);
      conn.connect({ host: '127.0.0.1', port, username: 'tenantadmin', password, readyTimeout: 20_000 });
    });
    const ch = await new Promise<ClientChannel>((resolve, reject) => conn.shell({ term: 'vt100' }, (err, c) => (err ? reject(err) : resolve(c))));
    return new LunaShell(conn, ch);
  }

  /** Waits until the output holds text; returns what came before it and drops it from the buffer. */
  async expect(text: string, timeoutMs = 20_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf(text);
      if (i >= 0) {
        const before = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + text.length);
        return before;
      }
      if (Date.now() > end) throw new Error(`LunaSH: '${text}' did not come; got: ${this.buf.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  send(line: string): void {
    this.ch.write(`${line}\r`);
  }

  /** Runs a command at the prompt; returns its output (up to the next prompt). */
  async run(command: string): Promise<string> {
    this.send(command);
    return this.expect('lunash:>');
  }

  close(): void {
    this.ch.end();
    this.conn.end();
  }
}

/** First login (forced password change), then `hsm init`: the HSM is no longer zeroized. */
export async function initialiseHsm(sshPort: number, adminPassword: string, soPassword: string): Promise<void> {
  const sh = await LunaShell.open(sshPort, 'PASSWORD');
  try {
    await sh.expect('Current password: ');
    sh.send('PASSWORD');
    await sh.expect('New password: ');
    sh.send(adminPassword);
    await sh.expect('Retype new password: ');
    sh.send(adminPassword);
    await sh.expect('lunash:>');
    const out = await sh.run(`hsm init -label arm-test -password ${soPassword} -domain Domain#2024 -force`);
    if (!out.includes("'hsm init' successful.")) throw new Error(`hsm init failed: ${out}`);
  } finally {
    sh.close();
  }
}

/** hsm login, then policy 12 to 0 (FIPS mode), which zeroizes the HSM. */
export async function zeroizeHsm(sshPort: number, adminPassword: string, soPassword: string): Promise<void> {
  const sh = await LunaShell.open(sshPort, adminPassword);
  try {
    await sh.expect('lunash:>');
    const login = await sh.run(`hsm login -password ${soPassword}`);
    if (!login.includes("'hsm login' successful.")) throw new Error(`hsm login failed: ${login}`);
    const out = await sh.run('hsm changePolicy -policy 12 -value 0 -force');
    if (!out.includes('zeroized')) throw new Error(`changePolicy did not zeroize: ${out}`);
  } finally {
    sh.close();
  }
}

/** Reads the SSH identification line the server sends first ("SSH-2.0-..."). */
export function sshBanner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(5000, () => s.destroy(new Error('no SSH banner')));
    s.on('data', (d) => {
      got += d.toString('latin1');
      const nl = got.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(got.slice(0, nl).trim());
      }
    });
    s.on('error', reject);
  });
}
