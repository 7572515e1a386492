import { HsmRequestError } from './clients/mhsm-admin';
import { ParsedFlags } from './flags';

/** A failure of a command that already says what happened and what to do (exit 1); printed as it is. */
export class CeremonyError extends Error {}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * One line (or a few) for a failed command: what the service or the network answered, and, for the answers an
 * operator can fix, how. Never the request, a token or a secret: only status codes, service codes and messages.
 */
export function describeFailure(err: unknown, needs: { role: string; scope: string } | undefined, flags: ParsedFlags): string {
  const e = err as { statusCode?: number; status?: number; code?: string; message?: string; name?: string; cause?: unknown };
  const message = firstLine(e?.message ?? String(err));
  if (err instanceof CeremonyError) return `error: ${err.message}`;
  if (isCredentialFailure(err)) {
    return `no usable Azure credential: ${message}\nSign in with az login, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or use a managed identity).`;
  }
  const status = statusOf(err);
  if (status === 403) return `the HSM refused: 403 ${e.code ?? 'Forbidden'}: ${message}\n${roleAdvice(needs, flags)}`;
  if (status === 401) {
    return [
      `the HSM did not accept the credential: 401 ${e.code ?? 'Unauthorized'}: ${message}`,
      'Sign in for the HSM\'s tenant (az login --tenant <tenant>, or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET for a service principal).',
    ].join('\n');
  }
  if (typeof status === 'number' && status >= 400) return `the HSM refused: ${status} ${e.code ?? ''}: ${message}`.replace(/ +:/, ':');
  const network = networkCode(err);
  if (network) return `cannot reach the endpoint (${network}): ${message}. Check the URL, the network path (private endpoint, DNS) and that the service is running.`;
  return `failed: ${message}`;
}

/** How a call failed, for reports that go on after a failure (hsmctl status): the service said no, or nothing answered. */
export function classifyFailure(err: unknown): { kind: 'unreachable' | 'denied' | 'refused' | 'credential' | 'other'; text: string } {
  const e = err as { code?: string; message?: string };
  const status = statusOf(err);
  const message = firstLine(e?.message ?? String(err));
  if (isCredentialFailure(err)) return { kind: 'credential', text: `no usable Azure credential: ${message}` };
  if (status === 401 || status === 403) return { kind: 'denied', text: `${status} ${e.code ?? ''}`.trim() };
  if (typeof status === 'number' && status >= 400) return { kind: 'refused', text: `${status} ${e.code ?? ''}: ${message}`.replace(/ +:/, ':') };
  const network = networkCode(err);
  if (network) return { kind: 'unreachable', text: `${network}: ${message}` };
  return { kind: 'other', text: message };
}

/**
 * No token could be had. Checked before the network: DefaultAzureCredential's aggregate error carries every
 * credential's own failure, the managed identity endpoint's EHOSTUNREACH among them, which is not the HSM's network.
 * A credential whose token endpoint does not answer (the simulator's identity face) is a network failure.
 */
function isCredentialFailure(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError') return true;
  return name === 'AuthenticationError' && networkCode(err) === undefined;
}

function statusOf(err: unknown): number | undefined {
  return err instanceof HsmRequestError ? err.status : (err as { statusCode?: number })?.statusCode;
}

/** What a 403 means for this command: the role it needs and the command an administrator runs to grant it. */
function roleAdvice(needs: { role: string; scope: string } | undefined, flags: ParsedFlags): string {
  if (!needs) return 'The caller lacks a role for this operation: an administrator of the HSM grants one with `hsmctl roles assign`.';
  const target = targetFlags(flags);
  const who = typeof flags.principal === 'string' ? flags.principal : '<your object id>';
  return [
    `The caller needs the role "${needs.role}" at scope ${needs.scope} (or above). An administrator of the HSM grants it with:`,
    `  hsmctl roles assign --role "${needs.role}" --assignee ${who} --scope ${needs.scope} ${target}`.trimEnd(),
    ...(who === '<your object id>' ? ['(your object id: az ad signed-in-user show --query id -o tsv, or the service principal\'s object id)'] : []),
  ].join('\n');
}

/** The flags that chose the HSM, so the advice is a command the operator can paste. */
function targetFlags(flags: ParsedFlags): string {
  return ['from-outputs', 'simulator', 'hsm', 'ca']
    .filter((f) => typeof flags[f] === 'string')
    .map((f) => `--${f} ${quote(flags[f] as string)}`)
    .join(' ');
}

function quote(s: string): string {
  return /^[\w./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function networkCode(err: unknown): string | undefined {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return e.code;
    const m = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)\b/.exec(String((e as { message?: string }).message ?? ''));
    if (m) return m[1];
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 500);
}
