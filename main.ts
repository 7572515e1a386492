/**
 * The CDK for Terraform app: `cdktf synth` runs this. The environment is chosen as every hsmctl command
 * chooses it (stacks/config-path.ts): HSM_CONFIG=FILE or HSM_ENV=NAME, else config/example.json.
 * A bad choice or config is printed once, without a stack trace, and the synth exits 1.
 */
import { buildApp } from './stacks/app';
import { EnvironmentChoiceError, chooseEnvironment } from './stacks/config-path';
import { ConfigError, loadEnvironmentConfig } from './stacks/environment-config';

try {
  const choice = chooseEnvironment({});
  buildApp(loadEnvironmentConfig(choice.file)).app.synth();
} catch (err) {
  if (!(err instanceof ConfigError || err instanceof EnvironmentChoiceError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
}
