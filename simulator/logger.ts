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

let guarded = false;

/**
 * Logging never takes the process down: a write to a closed stdout or stderr (the reader went away: EPIPE, or a
 * terminal that closed: EIO) would otherwise be an unhandled 'error' event. Such writes are dropped instead.
 */
export function guardStdio(): void {
  if (guarded) return;
  guarded = true;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
}
