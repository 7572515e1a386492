import * as fs from 'fs';
import * as path from 'path';

/** What each disk error means, in words a user acts on. */
const DISK_ERRORS: Record<string, { what: string; full: boolean }> = {
  ENOSPC: { what: 'no space left on device', full: true },
  EDQUOT: { what: 'disk quota exceeded', full: true },
  EIO: { what: 'input/output error', full: false },
  EROFS: { what: 'read-only file system', full: false },
};

/** Below this much free space a failure under the state folder is taken to be the full disk (SoftHSM2 says only CKR_FUNCTION_FAILED). */
export const NEARLY_FULL_BYTES = 256 * 1024;

/**
 * A write to the simulator's state folder that the disk refused. Its message names the folder and the cause and
 * says that nothing was changed, so a user knows to free space (or fix the disk) and retry.
 */
export class StateStorageError extends Error {
  constructor(
    readonly folder: string,
    readonly code: string,
  ) {
    super(describe(folder, code));
  }

  /** The error as a StateStorageError when it is a disk error; undefined otherwise. */
  static from(err: unknown, folder: string): StateStorageError | undefined {
    if (err instanceof StateStorageError) return err;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    return typeof code === 'string' && code in DISK_ERRORS ? new StateStorageError(folder, code) : undefined;
  }
}

function describe(folder: string, code: string): string {
  const e = DISK_ERRORS[code];
  const head = e.full ? "The simulator's state disk is full" : "The simulator's state disk failed";
  const act = e.full ? 'free space on that disk and retry' : 'check that disk and retry';
  return `${head}: writing under ${folder} failed with ${code} (${e.what}). The request was not carried out; ${act}.`;
}

/** Free bytes for an unprivileged writer on the file system holding `folder`. */
export function freeBytes(folder: string): number {
  // The folder may not exist yet (its creation is what failed): its nearest existing parent is on the same disk.
  let f = path.resolve(folder);
  while (!fs.existsSync(f) && path.dirname(f) !== f) f = path.dirname(f);
  const s = fs.statfsSync(f);
  return s.bavail * s.bsize;
}

/** State folders of the simulators running in this process (one, normally). */
const watched = new Set<string>();

/** Registers a state folder whose disk explains failures (see stateDiskFailure); returns the unregister function. */
export function watchStateDisk(folder: string): () => void {
  const f = path.resolve(folder);
  watched.add(f);
  return () => void watched.delete(f);
}

/**
 * The message for a request that failed because of the state disk, or undefined when the disk is not the
 * cause. A disk error names itself; any other failure counts as the disk's when a watched folder is nearly full,
 * because SoftHSM2 reports a full disk only as CKR_FUNCTION_FAILED.
 */
export function stateDiskFailure(err: unknown): string | undefined {
  if (err instanceof StateStorageError) return err.message;
  for (const folder of watched) {
    const disk = StateStorageError.from(err, folder);
    if (disk) return disk.message;
    let free: number;
    try {
      free = freeBytes(folder);
    } catch {
      continue;
    }
    if (free < NEARLY_FULL_BYTES) {
      return `The simulator's state disk is full: ${free} bytes free under ${folder}, and the operation failed there. The request was not carried out; free space on that disk and retry.`;
    }
  }
  return undefined;
}

/** Free space a start needs: the snapshot is rewritten from snapshot + journal at every start, plus room for the rest. */
export const START_MARGIN_BYTES = 1024 * 1024;

/**
 * Refuses to start on a disk without room for the start's own writes, naming the folder, the free space and the
 * space needed, instead of failing half-way with a bare ENOSPC.
 */
export function checkStartSpace(stateDir: string): void {
  const state = path.join(stateDir, 'state');
  let needed = START_MARGIN_BYTES;
  for (const f of ['snapshot.json', 'journal.log']) {
    try {
      needed += fs.statSync(path.join(state, f)).size;
    } catch {
      // Not there yet.
    }
  }
  const free = freeBytes(stateDir);
  if (free < needed) throw new Error(startMessage(stateDir, free, needed));
}

/** A disk error during start, retold with the folder and the space needed. */
export function startFailure(err: unknown, stateDir: string): Error | undefined {
  const disk = StateStorageError.from(err, stateDir);
  if (!disk) return undefined;
  if (!DISK_ERRORS[disk.code].full) return new Error(`the simulator cannot start: ${disk.message}`);
  return new Error(startMessage(stateDir, freeBytes(stateDir), START_MARGIN_BYTES));
}

function startMessage(stateDir: string, free: number, needed: number): string {
  return `the simulator cannot start: the disk holding its state folder ${stateDir} is full (${kib(free)} free, at least ${kib(needed)} needed: the size of state/snapshot.json and state/journal.log, which are rewritten at start, plus 1 MiB). Free space on that disk and start again.`;
}

function kib(bytes: number): string {
  return `${Math.floor(bytes / 1024)} KiB`;
}
