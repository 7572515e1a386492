import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess, fork } from 'child_process';
import { ensurePrivateDir } from '../../files/private-files';
import { Logger } from '../logger';
import type { ChildReply, ChildRequest } from './luna-child';
import { compiledEntry } from '../compiled';

/** What the ARM plane asks of the Luna appliance behind a Dedicated HSM resource. */
export interface ApplianceSpec {
  /** Stable id of the appliance (its state folder name); kept in the resource record. */
  id: string;
  /** The resource's private IP: the appliance's address in server.pem and `network show`. */
  ip: string;
  /** The resource name, used as the appliance's host name. */
  hostname: string;
  /** Ports wanted (the ones used before a restart); another free port is taken when one is busy. */
  sshPort?: number;
  ntlsPort?: number;
}

export interface ApplianceLauncher {
  /** Starts (or, after a simulator restart, restarts) the appliance; resolves once it listens. */
  start(spec: ApplianceSpec): Promise<{ sshPort: number; ntlsPort: number }>;
  /** Stops it; with destroy its state (HSM, partitions, keys) is erased, as when the device goes back to the pool. */
  stop(id: string, opts: { destroy: boolean }): Promise<void>;
  /** Whether the HSM is zeroized (a fresh appliance is). Throws when the appliance is not running. */
  isZeroized(id: string): Promise<boolean>;
  /** Stops every appliance, keeping their state. */
  close(): Promise<void>;
}

/** The launcher used when no Luna appliance can be started: provisioning fails with this reason. */
export class UnavailableLauncher implements ApplianceLauncher {
  constructor(private readonly reason: string) {}

  async start(): Promise<{ sshPort: number; ntlsPort: number }> {
    throw new Error(`Luna appliance not available: ${this.reason}`);
  }

  async stop(): Promise<void> {
    // Nothing was started.
  }

  async isZeroized(): Promise<boolean> {
    throw new Error(`Luna appliance not available: ${this.reason}`);
  }

  async close(): Promise<void> {
    // Nothing was started.
  }
}

const START_TIMEOUT_MS = 60_000;
const CALL_TIMEOUT_MS = 15_000;

/**
 * Runs each appliance (simulator/luna's startLunaAppliance) in a child process of its own: SoftHSM2 serves one
 * token folder per process (pkcs11/module.ts) and the simulator's process already holds the Managed HSMs' one.
 * State lives in <baseDir>/<id> (0700). A child whose parent goes away stops by itself.
 */
export class LunaProcessLauncher implements ApplianceLauncher {
  private readonly children = new Map<string, ApplianceChild>();
  private readonly starting = new Map<string, Promise<{ sshPort: number; ntlsPort: number }>>();

  constructor(
    private readonly baseDir: string,
    private readonly log: Logger,
  ) {}

  stateDir(id: string): string {
    if (!/^[a-z0-9-]{1,64}$/.test(id)) throw new Error(`bad appliance id ${JSON.stringify(id)}`);
    return path.join(this.baseDir, id);
  }

  /** One child per appliance: a start while another is under way waits for that one. */
  start(spec: ApplianceSpec): Promise<{ sshPort: number; ntlsPort: number }> {
    const running = this.children.get(spec.id);
    if (running?.ports) return Promise.resolve(running.ports);
    let p = this.starting.get(spec.id);
    if (!p) {
      p = this.spawn(spec).finally(() => this.starting.delete(spec.id));
      this.starting.set(spec.id, p);
    }
    return p;
  }

  private async spawn(spec: ApplianceSpec): Promise<{ sshPort: number; ntlsPort: number }> {
    ensurePrivateDir(this.baseDir);
    const child = new ApplianceChild(spec.id, this.log);
    this.children.set(spec.id, child);
    try {
      return await child.start({ type: 'start', stateDir: this.stateDir(spec.id), ip: spec.ip, hostname: spec.hostname, sshPort: spec.sshPort, ntlsPort: spec.ntlsPort });
    } catch (err) {
      this.children.delete(spec.id);
      await child.stop();
      throw err;
    }
  }

  async stop(id: string, opts: { destroy: boolean }): Promise<void> {
    const child = this.children.get(id);
    this.children.delete(id);
    if (child) await child.stop();
    if (opts.destroy) fs.rmSync(this.stateDir(id), { recursive: true, force: true });
  }

  async isZeroized(id: string): Promise<boolean> {
    const child = this.children.get(id);
    if (!child?.ports) throw new Error(`the appliance ${id} is not running`);
    return child.isZeroized();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.starting.values()]);
    const all = [...this.children.values()];
    this.children.clear();
    await Promise.all(all.map((c) => c.stop()));
  }
}

class ApplianceChild {
  private proc?: ChildProcess;
  ports?: { sshPort: number; ntlsPort: number };
  private nextCall = 1;
  private readonly calls = new Map<number, { resolve: (v: boolean) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private stderr = '';
  private exited?: Promise<void>;

  constructor(
    private readonly id: string,
    private readonly log: Logger,
  ) {}

  async start(req: Extract<ChildRequest, { type: 'start' }>): Promise<{ sshPort: number; ntlsPort: number }> {
    // Precompiled and cached across runs: the child loads no TypeScript transform (simulator/compiled.ts).
    const proc = fork(await compiledEntry(path.join(__dirname, 'luna-child.ts')), [], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.proc = proc;
    this.exited = new Promise((r) => proc.once('exit', () => r()));
    // A send on a closed channel or a failed spawn: the 'exit' handler below reports it.
    proc.on('error', (err) => this.log.error(`luna ${this.id}: ${err.message}`));
    proc.stderr?.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString('utf8')).slice(-2000);
    });
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`the Luna appliance did not start: ${why}`));
      };
      const timer = setTimeout(() => fail(`no answer within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      proc.on('message', (m: ChildReply) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          this.ports = { sshPort: m.sshPort, ntlsPort: m.ntlsPort };
          resolve(this.ports);
        } else if (m.type === 'failed') fail(m.message);
        else if (m.type === 'log') (m.level === 'error' ? this.log.error : this.log.info)(`luna ${this.id}: ${m.message}`);
        else if (m.type === 'reply') {
          const c = this.calls.get(m.call);
          if (!c) return;
          this.calls.delete(m.call);
          clearTimeout(c.timer);
          if (m.error !== undefined) c.reject(new Error(m.error));
          else c.resolve(m.value);
        }
      });
      proc.once('exit', (code, signal) => {
        const why = `the appliance process ended (${signal ?? `exit ${code}`})${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        if (!this.ports) fail(why);
        else if (!this.stopping) this.log.error(`luna ${this.id}: ${why}`);
        this.ports = undefined;
        for (const c of this.calls.values()) {
          clearTimeout(c.timer);
          c.reject(new Error(why));
        }
        this.calls.clear();
      });
      proc.send(req);
    });
  }

  isZeroized(): Promise<boolean> {
    const call = this.nextCall++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(call);
        reject(new Error('the appliance did not answer'));
      }, CALL_TIMEOUT_MS);
      this.calls.set(call, { resolve, reject, timer });
      this.proc!.send({ type: 'isZeroized', call } satisfies ChildRequest);
    });
  }

  private stopping = false;

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    this.stopping = true;
    if (proc.connected) proc.send({ type: 'stop' } satisfies ChildRequest);
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killer);
  }
}
