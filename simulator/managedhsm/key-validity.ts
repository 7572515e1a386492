import { errors } from '../http/errors';
import { VersionRecord } from './model';

/**
 * Refuses an operation on a key version that is disabled, not valid yet or expired at `now` (seconds, the
 * simulator's clock, so that an advance ages keys for every operation alike): 403 Forbidden with the innererror
 * KeyDisabled, KeyNotYetValid or KeyExpired.
 */
export function requireKeyValid(v: VersionRecord, op: string, now: number): void {
  const a = v.attributes;
  if (!a.enabled) throw errors.forbidden(`Operation ${op} is not allowed on a disabled key.`, 'KeyDisabled');
  if (a.nbf !== undefined && now < a.nbf) throw errors.forbidden(`Operation ${op} is not allowed: the key is not valid before ${new Date(a.nbf * 1000).toISOString()}.`, 'KeyNotYetValid');
  if (a.exp !== undefined && now >= a.exp) throw errors.forbidden(`Operation ${op} is not allowed: the key expired at ${new Date(a.exp * 1000).toISOString()}.`, 'KeyExpired');
}
