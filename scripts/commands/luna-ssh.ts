import * as fs from 'fs';
import { createHash } from 'crypto';
import { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { UsageError } from '../flags';

/**
 * What the `hsmctl luna` commands share: reading secrets from named environment variables or files, and an
 * SSH session to a Luna appliance (LunaSH commands by exec, prompts answered on stdin, SFTP for files) that
 * works the same against a real appliance and the simulator. Secrets travel only as SSH passwords and
 * prompt answers: never in a command line, an output line or an error message.
 */

/** A user-facing failure: printed as `hsmctl <command>: <message>`, exit 1. */
export class LunaCommandError extends Error {}

/** A luna command's failure, with what it had already done on the appliance (so the user knows the state). */
export class LunaStepsError extends LunaCommandError {
  constructor(message: string, readonly done: string[]) {
    super(message);
  }

  /** Wraps a LunaCommandError raised mid-way with the steps done so far; anything else passes through. */
  static after(err: unknown, done: string[]): unknown {
    return err instanceof LunaCommandError && !(err instanceof LunaStepsError) ? new LunaStepsError(err.message, done) : err;
  }

  /** Prints the failure and the steps done before it; 1 for a LunaStepsError, else rethrows. */
  static report(command: string, err: unknown): number {
    if (!(err instanceof LunaStepsError)) throw err;
    console.error(`hsmctl ${command}: ${err.message}`);
    if (err.done.length) console.error(`done before the failure:\n${err.done.map((d) => `- ${d}`).join('\n')}`);
    return 1;
  }
}

/** Reads a secret named by --X-env (an environment variable's name) or --X-file (first line of a file). */
export function secretFrom(flags: Record<string, unknown>, base: string, what: string, fallback?: string): string {
  const env = flags[`${base}-env`] as string | undefined;
  const file = flags[`${base}-file`] as string | undefined;
  if (env && file) throw new UsageError(`give --${base}-env or --${base}-file, not both`);
  if (env) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) throw new UsageError(`--${base}-env takes the NAME of an environment variable, got an invalid name`);
    const v = process.env[env];
    if (!v) throw new UsageError(`--${base}-env: the environment variable ${env} (${what}) is not set or empty`);
    return v;
  }
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--${base}-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const v = text.split(/\r?\n/)[0];
    if (!v) throw new UsageError(`--${base}-file: ${file} is empty (${what} expected on its first line)`);
    return v;
  }
  if (fallback !== undefined) return fallback;
  throw new UsageError(`${what} is required: --${base}-env NAME or --${base}-file FILE`);
}

export function portFlag(value: unknown, name: string, dflt: number): number {
  if (value === undefined) return dflt;
  const s = String(value);
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new UsageError(`--${name} must be a port number (1-65535), got ${JSON.stringify(s.slice(0, 20))}`);
  return Number(s);
}

export interface LunaTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  /** Pins the appliance's SSH host key (SHA256:base64 as ssh-keygen -l prints it); unpinned keys are reported. */
  hostKeySha256?: string;
  timeoutMs?: number;
}

export class AuthFailed extends LunaCommandError {}

/** The result of one LunaSH command: its output, the `Command Result` code and the error lines, if any. */
export interface LunaResult {
  code: number;
  output: string;
  errors: string[];
}

export class LunaSession {
  /** SHA256 fingerprint of the host key the appliance presented. */
  hostKeySha256 = '';

  private constructor(
    private readonly conn: Client,
    readonly target: LunaTarget,
  ) {}

  static connect(t: LunaTarget): Promise<LunaSession> {
    const conn = new Client();
    const s = new LunaSession(conn, t);
    return new Promise((resolve, reject) => {
      let pinFailed = false;
      conn.once('ready', () => resolve(s));
      conn.once('error', (err: Error & { level?: string }) => {
        if (pinFailed) reject(new LunaCommandError(`the SSH host key of ${t.host}:${t.port} is ${s.hostKeySha256}, not the pinned ${t.hostKeySha256}`));
        else if (err.level === 'client-authentication') reject(new AuthFailed(`${t.username}@${t.host}:${t.port} refused the password`));
        else reject(new LunaCommandError(`cannot open SSH to ${t.host}:${t.port}: ${err.message}`));
      });
      conn.connect({
        host: t.host,
        port: t.port,
        username: t.username,
        password: t.password,
        readyTimeout: t.timeoutMs ?? 20000,
        tryKeyboard: false,
        hostVerifier: (key: Buffer) => {
          s.hostKeySha256 = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
          pinFailed = !!t.hostKeySha256 && t.hostKeySha256 !== s.hostKeySha256;
          return !pinFailed;
        },
      });
      // Small request and answer packets: without this each exchange may wait on a delayed ACK.
      conn.setNoDelay(true);
    });
  }

  /** Runs one LunaSH command; answers go to its prompts (stdin), in order. */
  exec(command: string, answers: string[] = []): Promise<LunaResult> {
    return new Promise((resolve, reject) => {
      this.conn.exec(command, (err, ch) => {
        if (err) return reject(new LunaCommandError(`SSH exec failed: ${err.message}`));
        let out = '';
        ch.on('data', (d: Buffer) => (out += d.toString('utf8')));
        ch.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
        ch.on('close', () => {
          const m = /Command Result : (\d+) \(([^)]*)\)/.exec(out);
          const code = m ? Number(m[1]) : -1;
          const errors = out.split(/\r?\n/).filter((l) => /^(Error|Command Aborted|Syntax)/.test(l.trim()) || (code === -1 && l.trim()));
          resolve({ code, output: out, errors });
        });
        ch.end(answers.length ? `${answers.join('\n')}\n` : undefined);
      });
    });
  }

  /** Runs a command that must succeed; the error says which command (its name only) and why. */
  async lunash(command: string, answers: string[] = []): Promise<string> {
    const r = await this.exec(command, answers);
    if (r.code !== 0) {
      const name = command.split(' ').slice(0, 2).join(' ');
      throw new LunaCommandError(`'${name}' failed on the appliance: ${r.errors.join(' ').trim() || `Command Result ${r.code}`}`);
    }
    return r.output;
  }

  /**
   * The forced password change of a first login, in a shell (no terminal): waits for each prompt of the
   * appliance's dialogue and answers it. Returns false when the appliance asked for no change.
   */
  firstLogin(current: string, next: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.conn.shell(false, (err, ch: ClientChannel) => {
        if (err) return reject(new LunaCommandError(`SSH shell failed: ${err.message}`));
        let out = '';
        const answered = new Set<string>();
        const steps: Array<[RegExp, string]> = [
          [/Current password: $/, current],
          [/New password: $/, next],
          [/Retype new password: $/, next],
        ];
        let result: boolean | undefined;
        const timer = setTimeout(() => finish(new LunaCommandError('the appliance did not finish the password change dialogue')), this.target.timeoutMs ?? 20000);
        const finish = (r: boolean | Error) => {
          clearTimeout(timer);
          if (result !== undefined) return;
          result = r instanceof Error ? false : r;
          ch.end('exit\n');
          if (r instanceof Error) reject(r);
          else resolve(r);
        };
        ch.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          for (const [re, answer] of steps) {
            if (!answered.has(re.source) && re.test(out)) {
              answered.add(re.source);
              ch.write(`${answer}\n`);
            }
          }
          if (/tokens updated successfully/.test(out)) finish(true);
          else if (/Authentication token manipulation error/.test(out)) {
            const why = /BAD PASSWORD: (.*)/.exec(out)?.[1] ?? (/do not match/.test(out) ? 'the entries did not match' : 'refused');
            finish(new LunaCommandError(`the appliance refused the new password: ${why.trim()}`));
          } else if (/lunash:>\s*$/.test(out) && answered.size === 0) finish(false);
        });
        ch.on('close', () => finish(new LunaCommandError('the appliance closed the session during the password change')));
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    return new Promise((resolve, reject) => this.conn.sftp((err, s) => (err ? reject(new LunaCommandError(`SFTP failed: ${err.message}`)) : resolve(s))));
  }

  /** `scp tenantadmin@hsm:NAME .` */
  async get(name: string): Promise<Buffer> {
    const sftp = await this.sftp();
    try {
      return await new Promise<Buffer>((resolve, reject) =>
        sftp.readFile(name, (err, data) => (err ? reject(new LunaCommandError(`cannot fetch ${name} from the appliance: ${err.message}`)) : resolve(data))),
      );
    } finally {
      sftp.end();
    }
  }

  /** `scp FILE tenantadmin@hsm:NAME` */
  async put(name: string, data: Buffer): Promise<void> {
    const sftp = await this.sftp();
    try {
      await new Promise<void>((resolve, reject) =>
        sftp.writeFile(name, data, (err) => (err ? reject(new LunaCommandError(`cannot copy ${name} to the appliance: ${err.message}`)) : resolve())),
      );
    } finally {
      sftp.end();
    }
  }

  close(): void {
    this.conn.end();
  }
}

/** Logs in with the current password, or with the factory one followed by the forced change. */
export async function loginWithChange(
  t: Omit<LunaTarget, 'password'>,
  password: string,
  initialPassword: string,
): Promise<{ session: LunaSession; changed: boolean }> {
  try {
    return { session: await LunaSession.connect({ ...t, password }), changed: false };
  } catch (err) {
    if (!(err instanceof AuthFailed)) throw err;
  }
  let first: LunaSession;
  try {
    first = await LunaSession.connect({ ...t, password: initialPassword });
  } catch (err) {
    if (err instanceof AuthFailed) {
      throw new LunaCommandError(`${t.username}@${t.host}:${t.port} refused both the given password and the initial one`);
    }
    throw err;
  }
  try {
    const changed = await first.firstLogin(initialPassword, password);
    if (!changed) throw new LunaCommandError('the initial password was accepted but the appliance asked for no change: give its current password');
  } finally {
    first.close();
  }
  return { session: await LunaSession.connect({ ...t, password }), changed: true };
}

/** Fields of `hsm show`. */
export function parseHsmShow(out: string): { label?: string; serial?: string; zeroized: boolean; fips: boolean } {
  const label = /HSM Label:\s+(.*)/.exec(out)?.[1].trim();
  return {
    label: label && label !== 'no label' ? label : undefined,
    serial: /Serial #:\s+(\S+)/.exec(out)?.[1],
    zeroized: /HSM IS ZEROIZED/.test(out),
    fips: /The HSM is in FIPS 140-2 approved operation mode/.test(out),
  };
}

/** Rows of `partition list`: serial and name. */
export function parsePartitionList(out: string): Array<{ serial: string; name: string }> {
  return out
    .split(/\r?\n/)
    .map((l) => /^(\d{7,})\s+(\S+)\s+\d+/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ serial: m[1], name: m[2] }));
}

/** The flags that say which appliance a luna command drives. */
export const LUNA_TARGET_FLAGS = {
  hsm: { type: 'string', value: 'HOST|NAME', description: "the appliance's address; with --from-outputs, a Dedicated HSM's name or IP among them" },
  'from-outputs': { type: 'string', value: 'FILE|DIR', description: 'take the appliance from the Terraform outputs of a deployment (dedicated_hsm_ids and _private_ips)' },
  simulator: { type: 'string', value: 'DIR', description: "a running simulator: the appliance's local SSH and NTLS ports from DIR/endpoints.json" },
  'ssh-port': { type: 'string', value: 'PORT', description: 'SSH port; default 22 (or the simulator\'s)' },
} as const;

/**
 * Where a luna command connects: --hsm HOST as given; or a Dedicated HSM from the Terraform outputs (by
 * name or IP with --hsm, or the only one); with --simulator, that HSM's appliance on 127.0.0.1 at the ports
 * the simulator lists. Explicit --ssh-port / --ntls-port win.
 */
export function resolveLunaTarget(flags: Record<string, unknown>): { host: string; sshPort: number; ntlsPort: number; name?: string } {
  const { readOutputs, dedicatedHsmsOf } = require('../clients/outputs') as typeof import('../clients/outputs');
  const { readEndpoints } = require('../clients/target') as typeof import('../clients/target');
  const hsm = flags.hsm as string | undefined;
  const outputs = flags['from-outputs'] as string | undefined;
  const dir = flags.simulator as string | undefined;
  let host = hsm;
  let name: string | undefined;
  if (outputs) {
    const all = dedicatedHsmsOf(readOutputs(outputs));
    const chosen = hsm ? all.filter((d) => d.name.toLowerCase() === hsm.toLowerCase() || d.privateIp === hsm) : all;
    if (chosen.length !== 1) {
      const have = all.map((d) => `${d.name} (${d.privateIp})`).join(', ') || 'none';
      throw new UsageError(hsm ? `--hsm ${hsm.slice(0, 64)}: no such Dedicated HSM in the outputs (have: ${have})` : `the outputs hold ${all.length} Dedicated HSMs; pick one with --hsm NAME|IP (have: ${have})`);
    }
    host = chosen[0].privateIp;
    name = chosen[0].name;
  }
  if (!host && !dir) throw new UsageError('--hsm HOST (or --from-outputs FILE|DIR) is required');
  let sshDefault = 22;
  let ntlsDefault = 1792;
  if (dir) {
    const e = readEndpoints(dir);
    const a = (e.dedicatedHsms ?? []).find((d) => (name && d.name.toLowerCase() === name.toLowerCase()) || d.privateIpAddress === host || d.name === host);
    if (!a?.sshPort || !a.ntlsPort) throw new UsageError(`--simulator ${dir}: no running Luna appliance for ${name ?? host ?? '(none given)'}`);
    host = '127.0.0.1';
    name = a.name;
    sshDefault = a.sshPort;
    ntlsDefault = a.ntlsPort;
  }
  return { host: host!, sshPort: portFlag(flags['ssh-port'], 'ssh-port', sshDefault), ntlsPort: portFlag(flags['ntls-port'], 'ntls-port', ntlsDefault), name };
}
