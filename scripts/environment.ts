import * as fs from 'fs';
import * as path from 'path';
import type { EnvironmentConfig } from '../stacks/environment-config';
import { FlagSpecs, ParsedFlags, UsageError } from './flags';
import { CeremonyError } from './failure';

/** The flags of every command that reads an environment config; the rule is chooseEnvironment's. */
export const ENVIRONMENT_FLAGS: FlagSpecs = {
  env: { type: 'string', value: 'NAME', description: 'environment: config/NAME.json (else $HSM_ENV, else example)' },
  config: { type: 'string', value: 'FILE', description: 'an environment config file (else $HSM_CONFIG); not with --env' },
};

export interface LoadedEnvironment {
  readonly config: EnvironmentConfig;
  readonly file: string;
  /** "environment prod from config/prod.json (--env prod)": printed first, so nobody acts on the wrong one. */
  readonly line: string;
}

/**
 * Chooses and loads the environment as `cdktf synth` does (stacks/config-path.ts), and says which on `log`.
 * A choice that cannot be honoured is a usage error (exit 2); a config that does not validate fails (exit 1).
 */
export function loadEnvironment(flags: ParsedFlags, log: (line: string) => void): LoadedEnvironment {
  const { EnvironmentChoiceError, chooseEnvironment } = require('../stacks/config-path') as typeof import('../stacks/config-path');
  const { ConfigError, loadEnvironmentConfig } = require('../stacks/environment-config') as typeof import('../stacks/environment-config');
  let choice: import('../stacks/config-path').EnvironmentChoice;
  try {
    choice = chooseEnvironment({ env: flags.env as string | undefined, config: flags.config as string | undefined });
  } catch (err) {
    if (err instanceof EnvironmentChoiceError) throw new UsageError(err.message);
    throw err;
  }
  if (choice.notice) log(`note: ${choice.notice}`);
  if (!fs.existsSync(choice.file)) {
    const known = fs.readdirSync(path.join(__dirname, '..', 'config')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    throw new UsageError(`${choice.chosenBy}: there is no ${choice.file}; environments in config/: ${known.join(', ') || 'none'}`);
  }
  let config: EnvironmentConfig;
  try {
    config = loadEnvironmentConfig(choice.file);
  } catch (err) {
    if (err instanceof ConfigError) throw new CeremonyError(err.message);
    throw err;
  }
  const line = `environment ${config.name} from ${choice.file} (${choice.chosenBy})`;
  log(line);
  return { config, file: choice.file, line };
}
