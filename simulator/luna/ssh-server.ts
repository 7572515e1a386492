import * as net from 'net';
import { timingSafeEqual } from 'crypto';
import { AuthContext, Connection, Server, ServerChannel, Session, utils as sshUtils } from 'ssh2';
import { ADMIN_USER, Appliance } from './appliance';
import { LunaError } from './errors';
import { LineInput } from './line-input';
import { MAX_LINE, SOFTWARE_VERSION, ShellIo, ShellSession, runLine, tokenize } from './lunash';
import { runScp, serveSftp } from './transfer';
import { Logger } from '../logger';
import { LUNA_SSH_POLICY, SshPolicy } from './ssh-policy';
import type { Replicator } from './replication';

const BANNER = `Luna Network HSM Command Line Shell v${SOFTWARE_VERSION}. Copyright (c) 2018 SafeNet. All rights reserved.`;

/** A TCP connection until it logs in: kept in arrival order, dropped at the login deadline. */
interface Pending {
  socket: net.Socket;
  address: string;
  timer: NodeJS.Timeout;
}

/**
 * The appliance's SSH face: tenantadmin with a password (the factory one until the forced change at first
 * login) or a public key added with `my public-key add`; a LunaSH shell (with or without a terminal), one
 * command per exec request (prompts are answered from stdin), SFTP and legacy scp for server.pem and
 * uploaded certificates. Any number of connections run at once, each with its own `hsm login` state.
 */
export class LunaSshServer {
  private readonly server: Server;
  /** TCP in front of ssh2: connections are counted and timed from the first byte, before any SSH exchange. */
  private readonly tcp: net.Server;
  private readonly connections = new Set<Connection>();
  /** Connections not logged in yet, oldest first, by remote address:port. */
  private readonly pending = new Map<string, Pending>();
  private authenticated = 0;

  constructor(
    private readonly appliance: Appliance,
    hostKey: string,
    private readonly serverCertPem: string,
    private readonly logger: Logger,
    private readonly policy: SshPolicy = LUNA_SSH_POLICY,
    private readonly now: () => number = Date.now,
    private readonly replicator?: Replicator,
  ) {
    this.server = new Server({ hostKeys: [hostKey], ident: 'OpenSSH_8.0' }, (conn, info) => this.onConnection(conn, `${info.ip}:${info.port}`));
    this.server.on('error', (err: Error) => this.logger.error(`luna ssh: ${err.message}`));
    this.tcp = net.createServer((socket) => this.onSocket(socket));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(port, host, () => resolve((this.tcp.address() as net.AddressInfo).port));
    });
  }

  /** Connections waiting to log in (for tests and status). */
  get unauthenticatedCount(): number {
    return this.pending.size;
  }

  private onSocket(socket: net.Socket): void {
    socket.on('error', () => undefined);
    // SSH is request and answer in small packets: Nagle's wait for an ACK would add tens of ms to each.
    socket.setNoDelay(true);
    const address = socket.remoteAddress ?? '';
    const key = `${address}:${socket.remotePort}`;
    const waiting = this.pendingByAddress();
    if ((waiting.get(address)?.length ?? 0) >= this.policy.maxUnauthenticatedPerAddress) {
      // That address has its share waiting: the newcomer goes, and no one else's connection does.
      this.logger.info(`luna ssh: ${this.policy.maxUnauthenticatedPerAddress} connections from ${address} waiting to log in; refused another`);
      socket.destroy();
      return;
    }
    if (this.pending.size >= this.policy.maxUnauthenticated) {
      // Full: the address holding the most gives way (its oldest connection), never one with fewer.
      const [oldestKey, oldest] = [...waiting.values()].reduce((a, b) => (b.length > a.length ? b : a))[0];
      this.drop(oldestKey, oldest);
      this.logger.info(`luna ssh: ${this.policy.maxUnauthenticated} connections waiting to log in; dropped the oldest of ${oldest.address}`);
    }
    const timer = setTimeout(() => {
      const p = this.pending.get(key);
      if (p) this.drop(key, p);
    }, this.policy.loginGraceMs);
    timer.unref();
    this.pending.set(key, { socket, address, timer });
    socket.once('close', () => {
      const p = this.pending.get(key);
      if (p?.socket === socket) {
        clearTimeout(p.timer);
        this.pending.delete(key);
      }
    });
    this.server.injectSocket(socket);
  }

  /** Connections waiting to log in, by address, each list oldest first. */
  private pendingByAddress(): Map<string, Array<[string, Pending]>> {
    const out = new Map<string, Array<[string, Pending]>>();
    for (const entry of this.pending) {
      const list = out.get(entry[1].address);
      if (list) list.push(entry);
      else out.set(entry[1].address, [entry]);
    }
    return out;
  }

  private drop(key: string, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(key);
    p.socket.destroy();
  }

  private onConnection(conn: Connection, key: string): void {
    this.connections.add(conn);
    conn.on('close', () => this.connections.delete(conn));
    conn.on('error', () => undefined);
    let byPassword = false;
    let failures = 0;
    conn.on('authentication', (ctx) => {
      this.authenticate(ctx).then(
        (ok) => {
          if (ok) {
            byPassword = ctx.method === 'password';
            ctx.accept();
          } else {
            if (ctx.method !== 'none' && ++failures >= this.policy.maxAuthTriesPerConnection) conn.end();
            else ctx.reject(['password', 'publickey']);
          }
        },
        () => ctx.reject(['password', 'publickey']),
      );
    });
    // `hsm login` lasts for the connection: its shell and exec channels share it.
    const loginState: ShellSession = { hsmLoggedIn: false };
    conn.on('ready', () => {
      const p = this.pending.get(key);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(key);
      }
      if (this.authenticated >= this.policy.maxAuthenticated) {
        conn.end();
        return;
      }
      this.authenticated++;
      conn.once('close', () => this.authenticated--);
      let channels = 0;
      conn.on('session', (acceptSession) => {
        const session = acceptSession();
        channels++;
        session.once('close', () => channels--);
        if (channels > this.policy.maxChannelsPerConnection) conn.end();
        else this.onSession(session, () => byPassword, loginState);
      });
    });
  }

  private async authenticate(ctx: AuthContext): Promise<boolean> {
    if (ctx.username !== ADMIN_USER) return false;
    // A locked account refuses every method, the right password included, until the lockout ends.
    if (ctx.method !== 'none' && this.appliance.adminLockedUntil(this.now()) !== undefined) return false;
    if (ctx.method === 'password') {
      const ok = await this.appliance.verifyAdminPassword(ctx.password);
      if (ok) await this.appliance.clearAdminLoginFailures();
      else {
        await this.appliance.recordAdminLoginFailure(this.now(), this.policy);
        if (this.appliance.adminLockedUntil(this.now()) !== undefined) this.logger.info(`luna ssh: ${ADMIN_USER} locked for ${this.policy.lockoutMs / 1000} s after ${this.policy.maxFailedAttempts} failed logins`);
      }
      return ok;
    }
    if (ctx.method !== 'publickey') return false;
    for (const k of this.appliance.admin().publicKeys) {
      const parsed = sshUtils.parseKey(k.key);
      if (parsed instanceof Error || Array.isArray(parsed)) continue;
      const pub = parsed.getPublicSSH();
      if (parsed.type !== ctx.key.algo || pub.length !== ctx.key.data.length || !timingSafeEqual(pub, ctx.key.data)) continue;
      // Without a signature the client only asks whether this key would do.
      if (!ctx.signature || !ctx.blob) return true;
      return parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
    }
    return false;
  }

  private onSession(session: Session, byPassword: () => boolean, loginState: ShellSession): void {
    let pty = false;
    session.on('pty', (accept) => {
      pty = true;
      accept?.();
    });
    session.on('window-change', (accept) => accept?.());
    session.on('env', (accept) => accept?.());
    session.on('shell', (accept) => {
      const channel = accept();
      this.shell(channel, pty, byPassword(), loginState).catch((err) => {
        this.logger.error(`luna ssh: shell failed: ${(err as Error).message}`);
        channel.close();
      });
    });
    session.on('exec', (accept, _reject, info) => {
      const channel = accept();
      this.exec(channel, info.command, loginState).then(
        (status) => {
          channel.exit(status);
          channel.end();
        },
        (err) => {
          this.logger.error(`luna ssh: exec failed: ${(err as Error).message}`);
          channel.exit(1);
          channel.end();
        },
      );
    });
    session.on('sftp', (accept) => serveSftp(accept(), this.appliance, this.serverCertPem));
    session.on('subsystem', (_accept, reject) => reject());
  }

  private io(channel: ServerChannel, input: LineInput, pty: boolean): ShellIo {
    const write = (text: string) => {
      if (!channel.writable) return;
      channel.write(pty ? text.replace(/\r?\n/g, '\r\n') : text);
    };
    return {
      write,
      ask: async (prompt, secret) => {
        write(prompt);
        input.secret = secret;
        try {
          const e = await input.next();
          if (secret && pty) write('\n');
          if (e === null) return null;
          if ('tooLong' in e) return null;
          return e.line;
        } finally {
          input.secret = false;
        }
      },
    };
  }

  private input(channel: ServerChannel, pty: boolean): LineInput {
    const input = new LineInput(pty, (s) => channel.writable && channel.write(s));
    channel.on('data', (d: Buffer) => input.feed(d));
    channel.on('end', () => input.end());
    channel.on('close', () => input.end());
    return input;
  }

  private async shell(channel: ServerChannel, pty: boolean, byPassword: boolean, session: ShellSession): Promise<void> {
    const input = this.input(channel, pty);
    const io = this.io(channel, input, pty);
    io.write(`Last login: ${new Date().toUTCString()}\n${BANNER}\n\n`);
    if (this.appliance.admin().mustChange && byPassword) {
      if (!(await this.forcedChange(io))) {
        channel.exit(1);
        channel.end();
        return;
      }
    }
    const prompt = `[${this.appliance.hostname}] lunash:>`;
    for (;;) {
      io.write(prompt);
      const e = await input.next();
      if (e === null) break;
      if ('tooLong' in e) {
        await runLine('x'.repeat(MAX_LINE + 1), this.appliance, session, io, this.replicator);
        continue;
      }
      const { exit } = await runLine(e.line, this.appliance, session, io, this.replicator);
      if (exit) break;
    }
    io.write('\n');
    channel.exit(0);
    channel.end();
  }

  /** PAM's expired-password dialogue, as the appliance runs it at the first login. */
  private async forcedChange(io: ShellIo): Promise<boolean> {
    io.write('You are required to change your password immediately (administrator enforced)\nChanging password for user tenantadmin.\n');
    const current = await io.ask('Current password: ', true);
    const next = await io.ask('New password: ', true);
    const again = await io.ask('Retype new password: ', true);
    if (current === null || next === null || again === null) {
      io.write('passwd: Authentication token manipulation error\n');
      return false;
    }
    if (next !== again) {
      io.write('Sorry, passwords do not match.\npasswd: Authentication token manipulation error\n');
      return false;
    }
    try {
      await this.appliance.changeAdminPassword(current, next);
    } catch (err) {
      const why = err instanceof LunaError ? err.message.replace(/^Error: /, '') : 'failure';
      io.write(`BAD PASSWORD: ${why}\npasswd: Authentication token manipulation error\n`);
      return false;
    }
    io.write('passwd: all authentication tokens updated successfully.\n\n');
    return true;
  }

  private async exec(channel: ServerChannel, command: string, session: ShellSession): Promise<number> {
    if (this.appliance.admin().mustChange) {
      channel.write('You are required to change your password immediately (administrator enforced)\nPassword change required but no TTY available.\n');
      return 1;
    }
    let words: string[] = [];
    try {
      words = command.length <= MAX_LINE ? tokenize(command) : [];
    } catch {
      // runLine reports the syntax error below.
    }
    if (words[0] === 'scp') return runScp(words.slice(1), channel, this.appliance, this.serverCertPem);
    const input = this.input(channel, false);
    const { code } = await runLine(command, this.appliance, session, this.io(channel, input, false), this.replicator);
    return code === 0 ? 0 : 1;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.end();
    for (const [key, p] of this.pending) this.drop(key, p);
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}
