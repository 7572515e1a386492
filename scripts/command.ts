import { FlagSpecs } from './flags';

/**
 * One hsmctl command (or sub-command group member). Returns the process exit code. Every command module is
 * loaded for every invocation, so a command imports its heavy dependencies inside run().
 */
export interface Command {
  /** Words that select it, e.g. ['simulator', 'start']. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly flags: FlagSpecs;
  /** Extra lines for --help: what the command does, examples. */
  readonly details?: string;
  run(flags: Record<string, string | string[] | boolean | undefined>, positionals: string[]): Promise<number>;
}
