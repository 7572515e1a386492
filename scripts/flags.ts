/**
 * Strict command-line flag parsing shared by every hsmctl command: an unknown flag, a missing value or a
 * repeated single-valued flag is a UsageError that names the flag and lists what is allowed.
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

export function parseFlags(argv: readonly string[], specs: FlagSpecs): { flags: ParsedFlags; positionals: string[] } {
  const flags: ParsedFlags = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs[name];
    if (!spec) {
      const allowed = Object.keys(specs).map((n) => `--${n}`).join(', ') || 'none';
      throw new UsageError(`unknown flag --${name}; allowed: ${allowed}`);
    }
    if (spec.type === 'boolean') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const values: string[] = [];
    if (eq !== -1) values.push(arg.slice(eq + 1));
    else {
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
        values.push(argv[++i]);
        if (spec.type === 'string') break;
      }
    }
    if (values.length === 0 || values.some((v) => v === '')) {
      throw new UsageError(`--${name} needs a value${spec.value ? ` (${spec.value})` : ''}`);
    }
    if (spec.type === 'string') {
      if (flags[name] !== undefined) throw new UsageError(`--${name} given more than once`);
      flags[name] = values[0];
    } else {
      flags[name] = [...((flags[name] as string[] | undefined) ?? []), ...values];
    }
  }
  return { flags, positionals };
}

export function formatFlagHelp(specs: FlagSpecs): string {
  return Object.entries(specs)
    .map(([name, s]) => `  --${name}${s.value ? ` ${s.value}` : ''}`.padEnd(30) + s.description)
    .join('\n');
}
