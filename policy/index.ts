/** The policy engine as a library: `import { HsmPolicy, acknowledgePolicy } from 'azure-hsm-cdktf/policy'`. */
export * from './acknowledgement';
export * from './check-report';
export * from './destructive-changes';
export * from './engine';
export * from './hsm-policy';
export * from './plan-document';
export * from './policy-document';
export * from './rules';
export * from './run-checks';
export * from './sarif';
