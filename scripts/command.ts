import { FlagSpecs, ParsedFlags } from './flags';

/** A positional argument of a command, e.g. the key NAME of `hsmctl keys show NAME`. */
export interface ArgSpec {
  /** Shown in help, e.g. NAME or DIR|FILE. */
  readonly name: string;
  readonly description: string;
  /** @default false (required) */
  readonly optional?: boolean;
}

/**
 * What an hsmctl command is: its flags, its positional arguments and what it does. Its words and one-line
 * summary live in the index of scripts/cli.ts, which loads the module only when the command is chosen, so
 * `--help` and every other command stay fast whatever this one imports.
 * run() returns the exit code (0 ok, 1 failed); a UsageError it throws exits 2, any other error exits 1 with
 * one line naming the command.
 */
export interface Command {
  readonly flags: FlagSpecs;
  /** Positional arguments in order; a command without them takes none. */
  readonly args?: readonly ArgSpec[];
  /** Extra lines for --help: what the command does, examples. */
  readonly details?: string;
  /** The Managed HSM role the command needs, named in the answer to a 403. */
  readonly needs?: { readonly role: string; readonly scope: string };
  run(flags: ParsedFlags, positionals: string[]): Promise<number>;
}

export interface CommandEntry {
  /** Words that select it, e.g. ['simulator', 'start']. */
  readonly path: readonly string[];
  readonly summary: string;
  load(): Command;
}
