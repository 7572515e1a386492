/** Where the simulator reports: stderr by default, silent in tests. Callers never pass secrets here. */
export interface Logger {
  info(msg: string): void;
  error(msg: string): void;
}

export const consoleLogger: Logger = {
  info: (m) => write(`[simulator] ${m}\n`),
  error: (m) => write(`[simulator] ERROR ${m}\n`),
};

export const silentLogger: Logger = { info: () => undefined, error: () => undefined };

function write(line: string): void {
  guardStdio();
  if (process.stderr.writable) process.stderr.write(line);
}

/** Marks the process as guarded: a process-wide mark, since a test runner may load this module many times in one process. */
const GUARDED = Symbol.for('azure-hsm-simulator.stdio-guarded');

/**
 * Logging never takes the process down: a write to a closed stdout or stderr (the reader went away: EPIPE, or a
 * terminal that closed: EIO) would otherwise be an unhandled 'error' event. Such writes are dropped instead.
 */
export function guardStdio(): void {
  const marked = process as unknown as Record<symbol, boolean>;
  if (marked[GUARDED]) return;
  marked[GUARDED] = true;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
}
