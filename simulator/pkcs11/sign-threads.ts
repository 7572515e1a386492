import * as os from 'os';
import * as path from 'path';
import * as pkcs11js from 'pkcs11js';
import { MessageChannel, MessagePort, receiveMessageOnPort, Worker } from 'worker_threads';

/** One signing thread per core, at least 2 and at most 8. */
export function signThreadCount(cores = os.availableParallelism()): number {
  return Math.min(8, Math.max(2, cores));
}

/**
 * Signing threads: the hot operation of an HSM gets its own threads instead of libuv's pool. Each sign is one
 * hand-off that runs C_SignInit and C_Sign together (on the pool, C_SignInit ran on the event loop first), and
 * the threads run at a lower priority so that the event loop feeding them, and clients on the same cores, are
 * not kept waiting behind a 1 ms RSA sign. One thread per core, at most 8: each is a Node worker of a few MB.
 */
export class SignThreads {
  private readonly threads: SignThread[];
  /** Signs waiting for a thread: each thread holds at most DEPTH, so a free thread never waits for the event loop. */
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(modulePath: string, count = signThreadCount(), nice = 10) {
    this.threads = Array.from({ length: count }, () => new SignThread(modulePath, nice, () => this.dispatch()));
  }

  /** C_SignInit + C_Sign with the private key `key` on the token in `slot`, on one of the signing threads. */
  sign(slot: Buffer, key: Buffer, mech: pkcs11js.Mechanism, data: Buffer, maxOut: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new Error('the PKCS#11 module is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, slot, key, mech, data, maxOut, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    const failure = this.threads.every((t) => t.failure) ? this.threads[0].failure : undefined;
    if (failure) for (const j of this.queue.splice(0)) j.reject(failure);
    while (this.queue.length > 0) {
      let best: SignThread | undefined;
      for (const t of this.threads) if (t.inFlight < DEPTH && (!best || t.inFlight < best.inFlight)) best = t;
      if (!best) return;
      best.send(this.queue.shift()!);
    }
  }

  /**
   * Stops every thread and waits until none touches the library any more; the caller then may C_Finalize.
   * Synchronous, like the rest of closing a module. Signs a thread had taken are answered; queued ones are refused.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error('the PKCS#11 module is closed'));
    for (const t of this.threads) t.stop();
  }
}

/** Signs sent to a thread before its previous one has come back: enough to keep it busy across one hand-off. */
export const DEPTH = 2;

interface Job {
  id: number;
  slot: Buffer;
  key: Buffer;
  mech: pkcs11js.Mechanism;
  data: Buffer;
  maxOut: number;
  resolve: (signature: Buffer) => void;
  reject: (err: Error) => void;
}

interface Reply {
  id: number;
  signature?: Uint8Array;
  error?: { message: string; code: number; pkcs11: boolean };
}

class SignThread {
  private readonly worker: Worker;
  /** Answers come on their own port, so that stop() can still collect the ones sent while it waits. */
  private readonly replies: MessagePort;
  private readonly pending = new Map<number, Job>();
  private failed: Error | undefined;

  constructor(
    modulePath: string,
    nice: number,
    private readonly onFree: () => void,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.worker = new Worker(path.join(__dirname, 'sign-thread.js'), { workerData: { modulePath, nice, replies: port2 }, transferList: [port2] });
    this.replies = port1;
    this.replies.on('message', (r: Reply) => this.answer(r));
    // Neither an idle thread nor its port may keep the process alive; the port does while a sign is out (see send).
    // (Adding a 'message' listener refs a port, so the unref comes after it.)
    this.worker.unref();
    this.replies.unref();
    this.worker.on('error', (err) => this.fail(new Error(`a PKCS#11 signing thread failed: ${err.message}`)));
    this.worker.on('exit', () => this.fail(new Error('a PKCS#11 signing thread stopped')));
  }

  get failure(): Error | undefined {
    return this.failed;
  }

  get inFlight(): number {
    // A failed thread takes no work: it reports as full.
    return this.failed ? Infinity : this.pending.size;
  }

  send(job: Job): void {
    if (this.pending.size === 0) this.replies.ref();
    this.pending.set(job.id, job);
    this.worker.postMessage({ id: job.id, slot: job.slot, key: job.key, mech: job.mech, data: job.data, maxOut: job.maxOut });
  }

  private answer(r: Reply): void {
    const job = this.pending.get(r.id);
    if (!job) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) this.replies.unref();
    if (r.error) job.reject(r.error.pkcs11 ? new pkcs11js.Pkcs11Error(r.error.message, r.error.code) : new Error(r.error.message));
    else job.resolve(Buffer.from(r.signature!.buffer, r.signature!.byteOffset, r.signature!.byteLength));
    this.onFree();
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const j of this.pending.values()) j.reject(err);
    this.pending.clear();
    this.replies.unref();
    this.onFree();
  }

  /** Signs already sent finish first (the thread takes messages in order) and are answered; a sign is milliseconds. */
  stop(): void {
    if (this.failed) return;
    const stopped = new Int32Array(new SharedArrayBuffer(4));
    this.worker.postMessage({ stop: true, stopped });
    Atomics.wait(stopped, 0, 0, 30_000);
    for (let m = receiveMessageOnPort(this.replies); m; m = receiveMessageOnPort(this.replies)) this.answer(m.message as Reply);
    this.fail(new Error('the PKCS#11 module is closed'));
    this.replies.close();
  }
}
