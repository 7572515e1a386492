/**
 * The flags of hsmctl commands, declared as data; scripts/cli.ts hands them to commander, which parses them.
 * A UsageError (a flag missing, a value out of range) exits 2 with the command's name and its --help.
 */
export class UsageError extends Error {}

export interface FlagSpec {
  /** 'string' takes one value; 'list' takes one or more values (until the next flag); 'boolean' takes none. */
  readonly type: 'string' | 'list' | 'boolean';
  readonly description: string;
  /** Shown in --help as the value's name, e.g. DIR. */
  readonly value?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | string[] | boolean | undefined>;
