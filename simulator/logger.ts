/** Where the simulator reports: stderr by default, silent in tests. Callers never pass secrets here. */
export interface Logger {
  info(msg: string): void;
  error(msg: string): void;
}

export const consoleLogger: Logger = {
  info: (m) => console.error(`[simulator] ${m}`),
  error: (m) => console.error(`[simulator] ERROR ${m}`),
};

export const silentLogger: Logger = { info: () => undefined, error: () => undefined };
