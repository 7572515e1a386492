import { UsageError } from '../flags';

/** A Managed HSM key name as the service takes it. */
const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The one NAME argument of a key command, checked. */
export function keyName(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`give one key name: hsmctl ${command} NAME${positionals.length > 1 ? ` (got ${positionals.length} words)` : ''}`);
  const n = positionals[0];
  if (!KEY_NAME.test(n)) throw new UsageError(`key name must be 1-127 letters, digits and hyphens; got ${JSON.stringify(n.slice(0, 40))}`);
  return n;
}
