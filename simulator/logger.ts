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

/**
 * Marks a guarded stream on the stream itself: a test runner may load this module many times in one process, each
 * time with a fresh `process` object (jest gives every test file its own), but the streams are the process's own.
 */
const GUARDED = '__azureHsmSimulatorStdioGuarded';

/**
 * Logging never takes the process down: a write to a closed stdout or stderr (the reader went away: EPIPE, or a
 * terminal that closed: EIO) would otherwise be an unhandled 'error' event. Such writes are dropped instead.
 */
export function guardStdio(): void {
  for (const stream of [process.stdout, process.stderr] as unknown as Array<NodeJS.WriteStream & Record<string, boolean>>) {
    if (stream[GUARDED]) continue;
    stream[GUARDED] = true;
    stream.on('error', () => undefined);
  }
}
