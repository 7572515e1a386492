/**
 * The CDK for Terraform app: `cdktf synth` runs this. The environment comes from HSM_ENV (default
 * "example", read from config/<env>.json) or HSM_CONFIG (a config file's path).
 */
import { buildApp } from './stacks/app';
import { configPathFor } from './stacks/config-path';
import { loadEnvironmentConfig } from './stacks/environment-config';

const file = process.env.HSM_CONFIG ?? configPathFor(process.env.HSM_ENV ?? 'example');
buildApp(loadEnvironmentConfig(file)).app.synth();
