/**
 * LunaSH's failures. Every command ends with a `Command Result : N (text)` line: 0 (Success), or a non-zero
 * code with its reason. Shell-level failures (bad syntax, unknown command, a refused precondition) use the
 * appliance's generic 65535 (Luna Shell execution); HSM-level ones carry the PKCS#11 return value name.
 */
export class LunaError extends Error {
  constructor(
    message: string,
    readonly code = 65535,
    readonly reason = 'Luna Shell execution',
  ) {
    super(message);
  }
}

/** The one place that spells the result line, for commands and tests alike. */
export function resultLine(code: number, reason: string): string {
  return `Command Result : ${code} (${reason})`;
}

export const SUCCESS_LINE = resultLine(0, 'Success');

/** Errors that the HSM itself returns (code and name as PKCS#11 spells them). */
export const hsmErrors = {
  pinIncorrect: () => new LunaError("Error: 'hsm login' failed. (CKR_PIN_INCORRECT)", 0xa0, 'CKR_PIN_INCORRECT'),
  notInitialized: () =>
    new LunaError("Error: The HSM is not initialized (it is zeroized). Run 'hsm init' first.", 0xe1, 'CKR_TOKEN_NOT_RECOGNIZED'),
  notLoggedIn: (cmd: string) =>
    new LunaError(`Error: 'hsm login' must be done before '${cmd}' can be run.`, 0x101, 'CKR_USER_NOT_LOGGED_IN'),
};

/**
 * Makes user input safe to echo in an error: control characters and escapes become visible, long values
 * are cut. Input never reaches a shell, a path or a log unvalidated; this only protects the terminal.
 */
export function shown(value: string, max = 48): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}
