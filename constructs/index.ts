/** The constructs as a library: `import { ManagedHsm } from 'azure-hsm-cdktf/constructs'`. */
export * from './ciphertrust-manager';
export * from './compute-vm-network';
export * from './dedicated-hsm-ha-pair';
export * from './dedicated-hsm';
export * from './delete-lock';
export * from './hsm-network';
export * from './luna-client-host';
export * from './managed-hsm-key';
export * from './managed-hsm-roles';
export * from './managed-hsm';
export * from './moved-from';
export * from './provider-features';
export * from './resource-timeouts';
export * from './validation';
