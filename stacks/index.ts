/**
 * The environment stacks as a library: `import { buildApp, loadEnvironmentConfig } from 'azure-hsm-cdktf/stacks'`.
 * config-path.ts (configPathFor, chooseEnvironment) is left out: it resolves this project's config/ folder,
 * which the package does not ship; hsmctl and main.ts import it directly.
 */
export * from './app';
export * from './backend';
export * from './disaster-recovery-stack';
export * from './environment-config';
export * from './environment-stack';
export * from './hsm-stack';
