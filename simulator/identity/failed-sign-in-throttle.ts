export interface ThrottleLimits {
  /** Failed client secrets for one application within the window that lock it. */
  failuresPerClient: number;
  /** Failed sign-ins (bad secret or unknown application) from one address within the window that lock it. */
  failuresPerAddress: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
  /** How long a lock lasts: Entra ID answers a throttled client-credentials request with Retry-After: 60. */
  lockMs: number;
}

export const DEFAULT_THROTTLE: Readonly<ThrottleLimits> = {
  failuresPerClient: 10,
  failuresPerAddress: 50,
  windowMs: 5 * 60_000,
  lockMs: 60_000,
};

interface Counter {
  failures: number;
  since: number;
  lockedUntil: number;
}

/** Counters kept at most: past this the ones with nothing left to say are dropped, then the oldest. */
const MAX_COUNTERS = 10_000;

/**
 * Throttles repeated failed sign-ins at the token endpoint, per application (client id) and per source address.
 * A locked application is refused for the lock's duration whatever it sends, the right secret included: a lock
 * that let the right secret through would tell a guesser when it had guessed. A locked address has its failures
 * answered 429 but lets the right secret of an application that is not itself locked through (the token endpoint
 * decides): every client of the simulator is on loopback, so a lock on the address alone would lock every client
 * out because of one, while the guesses it sends still count against their application. A success clears the
 * application's count; valid requests of anyone not locked cost one map lookup and are never delayed.
 */
export class FailedSignInThrottle {
  private readonly clients = new Map<string, Counter>();
  private readonly addresses = new Map<string, Counter>();

  constructor(
    private readonly limits: ThrottleLimits = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the application may sign in again; 0 when it is not locked. */
  clientLockedFor(clientId: string): number {
    return this.secondsLeft(this.clients.get(clientId));
  }

  /** Seconds until the address's lock ends; 0 when it is not locked. */
  addressLockedFor(address: string): number {
    return this.secondsLeft(this.addresses.get(address));
  }

  private secondsLeft(c: Counter | undefined): number {
    const left = (c?.lockedUntil ?? 0) - this.now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Counts a failed sign-in: against the application when it exists, and always against the address. */
  failed(clientId: string | undefined, address: string): void {
    if (clientId !== undefined) count(this.clients, clientId, this.limits.failuresPerClient, this.limits, this.now());
    count(this.addresses, address, this.limits.failuresPerAddress, this.limits, this.now());
  }

  succeeded(clientId: string): void {
    this.clients.delete(clientId);
  }
}

function count(m: Map<string, Counter>, key: string, threshold: number, l: ThrottleLimits, now: number): void {
  let c = m.get(key);
  if (!c || (now - c.since > l.windowMs && c.lockedUntil <= now)) {
    if (m.size >= MAX_COUNTERS) prune(m, l, now);
    c = { failures: 0, since: now, lockedUntil: 0 };
    m.set(key, c);
  }
  c.failures++;
  if (c.failures >= threshold) {
    // The lock starts a fresh count: once it ends, the next `threshold` failures lock again.
    c.lockedUntil = now + l.lockMs;
    c.failures = 0;
    c.since = now;
  }
}

function prune(m: Map<string, Counter>, l: ThrottleLimits, now: number): void {
  for (const [k, c] of m) if (now - c.since > l.windowMs && c.lockedUntil <= now) m.delete(k);
  for (const k of m.keys()) {
    if (m.size < MAX_COUNTERS) break;
    m.delete(k);
  }
}
