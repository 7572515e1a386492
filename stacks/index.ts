/** The environment stacks as a library: `import { buildApp, loadEnvironmentConfig } from 'azure-hsm-cdktf/stacks'`. */
export * from './app';
export * from './backend';
export * from './config-path';
export * from './disaster-recovery-stack';
export * from './environment-config';
export * from './environment-stack';
export * from './hsm-stack';
