/** The records the Managed HSM face keeps in the metadata store (never key material). */

export type Kty = 'RSA' | 'EC' | 'oct';

export interface InstanceRecord {
  name: string;
  administrators: string[];
  softDeleteRetentionDays: number;
  purgeProtection: boolean;
  /** Set by the security-domain ceremony; until then key operations are refused. */
  activated: boolean;
  /** Port the instance listened on last time; reused on restart when free so that hsmUri stays stable. */
  port?: number;
  created: number;
  /** The security domain this HSM holds (set together with activated). */
  domain?: DomainRecord;
  /** Recovery mode: the exchange key (its private half in the token) waiting for a restore blob. */
  recovery?: { certificate: string; x5tS256: string; created: number };
  sdDownload?: SdOperationRecord;
  sdUpload?: SdOperationRecord;
  /** Soft-deleted (through ARM): its data plane is closed; keys, roles and domain stay for a recover (seconds). */
  deleted?: { deletionDate: number; scheduledPurgeDate: number };
  /** A purge began: at the next start it is finished before anything else opens the token. */
  purging?: boolean;
}

/**
 * A security domain as one HSM holds it. Its root secret travels only inside security-domain files and restore
 * blobs (encrypted); here it is kept wrapped (AES-KWP) under the domain key, which lives in the token and is
 * derived from the root. Two HSMs with the same domain id hold the same domain key.
 */
export interface DomainRecord {
  id: string;
  /** base64url AES-KWP of the root secret under the token's domain key. */
  rootWrapped: string;
  created: number;
  /** How this HSM got it: a download (new domain), an upload (recovery), or the test-only activation path. */
  origin: 'download' | 'upload' | 'test';
}

export interface SdOperationRecord {
  status: 'Success' | 'InProgress' | 'Failed';
  statusDetails: string;
  updated: number;
}

/** A full backup, full restore or selective key restore job (GET .../pending). */
export interface JobRecord {
  jobId: string;
  kind: 'backup' | 'restore' | 'selectiveRestore' | 'preBackup' | 'preRestore';
  status: 'InProgress' | 'Succeeded' | 'Failed';
  statusDetails: string;
  error?: { code: string; message: string };
  startTime: number;
  endTime?: number;
  /** Backup: the folder written (container URL + folder name, no SAS). */
  azureStorageBlobContainerUri?: string;
  folder?: string;
  key?: string;
}

export interface KeyAttributes {
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
  exportable: boolean;
}

export type PublicKey = { n: string; e: string } | { crv: string; x: string; y: string };

export interface VersionRecord {
  name: string;
  version: string;
  kty: Kty;
  keyOps: string[];
  attributes: KeyAttributes;
  tags: Record<string, string>;
  /** base64url public components; absent for oct keys. */
  pub?: PublicKey;
  /** Key size in bits (RSA, oct) or the curve (EC). */
  size?: number;
  crv?: string;
  /** Exportable keys: the secure key release policy (release-policy.ts). */
  releasePolicy?: { contentType: string; data: string; immutable: boolean };
}

export interface RotationPolicyRecord {
  lifetimeActions: Array<{ trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string }; action: { type: 'Rotate' | 'Notify' } }>;
  expiryTime?: string;
  created: number;
  updated: number;
}

export interface KeyRecord {
  /** The name as first given (Key Vault names are case-insensitive; the store key is lower case). */
  name: string;
  /** Newest version last. */
  versions: string[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
  rotationPolicy?: RotationPolicyRecord;
}

export interface RoleAssignmentRecord {
  name: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
}

export const collections = {
  instances: 'instances',
  keys: (hsm: string) => `mhsm/${hsm}/keys`,
  versions: (hsm: string) => `mhsm/${hsm}/versions`,
  roleAssignments: (hsm: string) => `mhsm/${hsm}/roleAssignments`,
  roleDefinitions: (hsm: string) => `mhsm/${hsm}/roleDefinitions`,
  settings: (hsm: string) => `mhsm/${hsm}/settings`,
  jobs: (hsm: string) => `mhsm/${hsm}/jobs`,
};
