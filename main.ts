/**
 * The CDK for Terraform app: `cdktf synth` runs this. The environment comes from HSM_ENV (default
 * "example") and its config from config/<env>.json.
 */
import { loadEnvironmentConfig } from './stacks/environment-config';
import { buildApp } from './stacks/app';
import { configPathFor } from './stacks/config-path';

const env = process.env.HSM_ENV ?? 'example';
buildApp(loadEnvironmentConfig(configPathFor(env))).app.synth();
