import { Journal } from './store/journal';

/** Where the offset lives in the journal: advancing the clock survives a restart, as elapsed time would. */
const META = 'meta';
const OFFSET_ID = 'clockOffsetMs';

/** The longest single advance: a hundred years is far past any retention (90 days) or key lifetime. */
export const MAX_ADVANCE_SECONDS = 100 * 365 * 86400;

interface Timer {
  due: number;
  fn: () => unknown;
  handle: NodeJS.Timeout;
}

/**
 * The simulator's own clock: wall time plus an offset that only the test-only management API moves forward
 * (Lowkey Vault's "time shift"), so that retention periods, key expiry and provisioning steps are rehearsed in a
 * test instead of waited for. Every time-dependent rule of the simulator reads now() from here; what clients check
 * against their own clock (TLS certificates, token lifetimes) stays on wall time. Timers scheduled here fire when
 * their wall-clock delay elapses or as soon as an advance carries the clock past their due time.
 */
export class SimulatorClock {
  private readonly timers = new Set<Timer>();
  private readonly listeners: Array<(now: number) => Promise<void> | void> = [];
  /** The advance in progress (or the last one): the next waits for it. */
  private advancing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly store: Journal | undefined,
    private offsetMs: number,
  ) {}

  /** The clock of a state folder: its offset is read from (and kept in) the journal. */
  static open(store: Journal): SimulatorClock {
    const offset = store.get<number>(META, OFFSET_ID);
    return new SimulatorClock(store, typeof offset === 'number' && Number.isFinite(offset) && offset >= 0 ? offset : 0);
  }

  /** A clock on wall time that nothing persists (unit tests of one service). */
  static wall(): SimulatorClock {
    return new SimulatorClock(undefined, 0);
  }

  /** Milliseconds since the epoch, simulator time. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Seconds since the epoch (the unit of Key Vault's attributes). */
  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  /** How far ahead of wall time the clock runs, in ms. */
  get offset(): number {
    return this.offsetMs;
  }

  /**
   * Moves the clock forward (never back: decisions already taken on the old time would otherwise be undone),
   * fires the timers now due, then runs the advance listeners (the sweeps that purge what has expired) and
   * resolves when all of them have finished. Advances run one after the other: each adds to the offset the one
   * before it committed (two computed from the same offset would lose one, and could move the clock back).
   */
  async advance(seconds: number): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_ADVANCE_SECONDS) {
      throw new RangeError(`the clock moves forward by a whole number of seconds from 1 to ${MAX_ADVANCE_SECONDS}; got ${String(seconds).slice(0, 40)}`);
    }
    const run = this.advancing.then(() => this.advanceNow(seconds));
    this.advancing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async advanceNow(seconds: number): Promise<void> {
    const next = this.offsetMs + seconds * 1000;
    if (this.store) await this.store.commit([{ c: META, id: OFFSET_ID, v: next }]);
    this.offsetMs = next;
    const now = this.now();
    const due = [...this.timers].filter((t) => t.due <= now).sort((a, b) => a.due - b.due);
    for (const t of due) this.timers.delete(t);
    for (const t of due) clearTimeout(t.handle);
    // Each timer owns its errors (the ARM machine logs its own); one failing must not stop the others.
    await Promise.allSettled(due.map((t) => Promise.resolve().then(t.fn)));
    for (const l of this.listeners) await l(now);
  }

  /** Runs fn after delayMs of simulator time; returns a cancel function. */
  schedule(delayMs: number, fn: () => unknown): () => void {
    if (this.closed) return () => undefined;
    const timer: Timer = {
      due: this.now() + delayMs,
      fn,
      handle: setTimeout(() => {
        if (!this.timers.delete(timer)) return;
        void Promise.resolve().then(fn);
      }, delayMs),
    };
    // The listeners that own the work keep the process alive; a pending step alone must not.
    timer.handle.unref();
    this.timers.add(timer);
    return () => {
      this.timers.delete(timer);
      clearTimeout(timer.handle);
    };
  }

  /** Called after every advance, with the new time: sweeps of what has expired. */
  onAdvance(fn: (now: number) => Promise<void> | void): void {
    this.listeners.push(fn);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t.handle);
    this.timers.clear();
  }
}
