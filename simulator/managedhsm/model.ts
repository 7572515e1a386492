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
};
