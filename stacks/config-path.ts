import { join, resolve } from 'path';

/** config/<env>.json of the project, whatever the current directory. */
export function configPathFor(env: string): string {
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(env)) {
    throw new EnvironmentChoiceError(`invalid environment name: received ${JSON.stringify(env)}; allowed: 1-20 lowercase letters, digits and hyphens, starting with a letter`);
  }
  return join(resolve(__dirname, '..', 'config'), `${env}.json`);
}

/** A choice of environment that cannot be honoured: a usage error (exit 2), nothing was read. */
export class EnvironmentChoiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentChoiceError';
  }
}

export interface EnvironmentChoice {
  /** The config file that will be read. */
  readonly file: string;
  /** How it was chosen, for messages: "--env prod", "HSM_CONFIG=/x.json", "the default (example)". */
  readonly chosenBy: string;
  /** A note for stderr when a flag overrode a different environment variable; never silent. */
  readonly notice?: string;
}

/**
 * The one rule for picking an environment, shared by `cdktf synth` (main.ts) and every hsmctl command that
 * reads a config:
 *   1. the flags: --config FILE or --env NAME (both at once is an error);
 *   2. the variables: HSM_CONFIG=FILE or HSM_ENV=NAME (both at once is an error);
 *   3. the default: config/example.json.
 * A flag wins over a variable; when the variable named another environment, `notice` says so.
 */
export function chooseEnvironment(flags: { env?: string; config?: string }, environ: NodeJS.ProcessEnv = process.env): EnvironmentChoice {
  if (flags.env !== undefined && flags.config !== undefined) {
    throw new EnvironmentChoiceError(`--env ${flags.env} and --config ${flags.config} both given; allowed: one of them`);
  }
  const varEnv = nonEmpty(environ.HSM_ENV);
  const varConfig = nonEmpty(environ.HSM_CONFIG);
  const fromVars = (): EnvironmentChoice | undefined => {
    if (varEnv !== undefined && varConfig !== undefined) {
      throw new EnvironmentChoiceError(`HSM_ENV=${varEnv} and HSM_CONFIG=${varConfig} are both set; allowed: one of them (unset the other)`);
    }
    if (varConfig !== undefined) return { file: absolute(varConfig), chosenBy: `HSM_CONFIG=${varConfig}` };
    if (varEnv !== undefined) return { file: configPathFor(varEnv), chosenBy: `HSM_ENV=${varEnv}` };
    return undefined;
  };
  const flagChoice: EnvironmentChoice | undefined =
    flags.config !== undefined ? { file: absolute(flags.config), chosenBy: `--config ${flags.config}` }
    : flags.env !== undefined ? { file: configPathFor(flags.env), chosenBy: `--env ${flags.env}` }
    : undefined;
  if (!flagChoice) return fromVars() ?? { file: configPathFor('example'), chosenBy: 'the default (example)' };
  const variable = varConfig !== undefined ? `HSM_CONFIG=${varConfig}` : varEnv !== undefined ? `HSM_ENV=${varEnv}` : undefined;
  if (variable === undefined) return flagChoice;
  let other: string | undefined;
  try {
    other = fromVars()?.file;
  } catch {
    // Both variables are set: the flag decides, and the notice names both.
    return { ...flagChoice, notice: `${flagChoice.chosenBy} overrides HSM_CONFIG=${varConfig} and HSM_ENV=${varEnv}` };
  }
  return other === flagChoice.file ? flagChoice : { ...flagChoice, notice: `${flagChoice.chosenBy} overrides ${variable}` };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function absolute(file: string): string {
  return resolve(file);
}
