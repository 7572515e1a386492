/**
 * Managed HSM local RBAC as the service defines it: the data actions, and the built-in role definitions exactly as
 * GET /providers/Microsoft.Authorization/roleDefinitions returns them (the Azure SDK for JavaScript's recorded
 * responses of 2022, the REST specification's DataAction enum, and the built-in roles page for the Restore role).
 */

const P = 'Microsoft.KeyVault/managedHsm';

/** The data actions, named as the service names them. */
export const DataActions = {
  keysRead: `${P}/keys/read/action`,
  keysWrite: `${P}/keys/write/action`,
  keysCreate: `${P}/keys/create`,
  keysDelete: `${P}/keys/delete`,
  keysRotate: `${P}/keys/rotate/action`,
  keysImport: `${P}/keys/import/action`,
  keysRelease: `${P}/keys/release/action`,
  keysExport: `${P}/keys/export/action`,
  keysBackup: `${P}/keys/backup/action`,
  keysRestore: `${P}/keys/restore/action`,
  keysEncrypt: `${P}/keys/encrypt/action`,
  keysDecrypt: `${P}/keys/decrypt/action`,
  keysWrap: `${P}/keys/wrap/action`,
  keysUnwrap: `${P}/keys/unwrap/action`,
  keysSign: `${P}/keys/sign/action`,
  keysVerify: `${P}/keys/verify/action`,
  keysDerive: `${P}/keys/derive/action`,
  deletedRead: `${P}/keys/deletedKeys/read/action`,
  deletedRecover: `${P}/keys/deletedKeys/recover/action`,
  deletedPurge: `${P}/keys/deletedKeys/delete`,
  rng: `${P}/rng/action`,
  roleAssignmentsRead: `${P}/roleAssignments/read/action`,
  roleAssignmentsWrite: `${P}/roleAssignments/write/action`,
  roleAssignmentsDelete: `${P}/roleAssignments/delete/action`,
  roleDefinitionsRead: `${P}/roleDefinitions/read/action`,
  roleDefinitionsWrite: `${P}/roleDefinitions/write/action`,
  roleDefinitionsDelete: `${P}/roleDefinitions/delete/action`,
  sdDownload: `${P}/securitydomain/download/action`,
  sdDownloadRead: `${P}/securitydomain/download/read`,
  sdUpload: `${P}/securitydomain/upload/action`,
  sdUploadRead: `${P}/securitydomain/upload/read`,
  sdTransferKeyRead: `${P}/securitydomain/transferkey/read`,
  backupStart: `${P}/backup/start/action`,
  backupStatus: `${P}/backup/status/action`,
  restoreStart: `${P}/restore/start/action`,
  restoreStatus: `${P}/restore/status/action`,
  settingsRead: `${P}/settings/read/action`,
  settingsWrite: `${P}/settings/write/action`,
} as const;

/** Every data action a role definition may name (custom roles are refused anything else). */
export const KNOWN_DATA_ACTIONS: ReadonlySet<string> = new Set(Object.values(DataActions));

export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export type RoleType = 'AKVBuiltInRole' | 'CustomRole';

export interface RoleDefinition {
  /** The role's GUID (its name in the API). */
  id: string;
  roleName: string;
  description: string;
  roleType: RoleType;
  permissions: Permission[];
  assignableScopes: string[];
}

const A = DataActions;
const ROLE_ADMIN = [A.roleAssignmentsDelete, A.roleAssignmentsRead, A.roleAssignmentsWrite, A.roleDefinitionsRead, A.roleDefinitionsWrite, A.roleDefinitionsDelete];

function builtIn(id: string, roleName: string, dataActions: string[], actions: string[] = []): RoleDefinition {
  return { id, roleName, description: '', roleType: 'AKVBuiltInRole', permissions: [{ actions, notActions: [], dataActions, notDataActions: [] }], assignableScopes: ['/'] };
}

/**
 * The built-in roles in the service's order. Administrator manages the HSM but holds no key permission; Crypto
 * Officer manages roles and deleted keys (recover, purge) and may export, but cannot create or use keys; Crypto User
 * does everything with live keys but cannot recover, purge or export.
 */
export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  builtIn('7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8', 'Managed HSM Backup User', [A.backupStart, A.backupStatus, A.keysBackup]),
  // Not in the recorded lists; data actions from the built-in roles page. The name is a guess by analogy with
  // "Managed HSM Backup User" (the page calls it "Managed HSM Restore"); see simulator/README.md.
  builtIn('6efe6056-5259-49d2-8b3d-d3d73544b20b', 'Managed HSM Restore User', [A.restoreStart, A.restoreStatus, A.keysRestore]),
  builtIn('33413926-3206-4cdd-b39a-83574fe37a17', 'Managed HSM Crypto Service Encryption User', [A.keysRead, A.keysWrap, A.keysUnwrap]),
  builtIn('21dbd100-6940-42c2-9190-5d6cb909625c', 'Managed HSM Crypto Service Release User', [A.keysRelease]),
  builtIn('2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', 'Managed HSM Crypto Auditor', [A.roleAssignmentsRead, A.roleDefinitionsRead, A.keysRead, A.deletedRead]),
  builtIn('4bd23610-cdcf-4971-bdee-bdc562cc28e4', 'Managed HSM Policy Administrator', [A.roleDefinitionsRead, A.roleDefinitionsWrite, A.roleDefinitionsDelete, A.roleAssignmentsRead, A.roleAssignmentsWrite, A.roleAssignmentsDelete]),
  // Control-plane actions only (ARM's key management through the resource provider): no data action at all.
  builtIn('770fd66c-6266-4643-9d4e-b616870898d5', 'Managed HSM ARM User', [], [`${P}/keys/createIfNotExists`, A.keysRead]),
  builtIn('21dbd100-6940-42c2-9190-5d6cb909625b', 'Managed HSM Crypto User', [
    A.roleDefinitionsRead, A.roleAssignmentsRead, A.keysRead, A.keysWrite, A.keysDelete, A.keysCreate, A.keysRotate, A.keysImport, A.keysRelease,
    A.keysBackup, A.keysRestore, A.keysEncrypt, A.keysDecrypt, A.keysWrap, A.keysUnwrap, A.keysSign, A.keysVerify, A.keysDerive, A.rng,
  ]),
  builtIn('515eb02d-2335-4d2d-92f2-b1cbdf9c3778', 'Managed HSM Crypto Officer', [...ROLE_ADMIN, A.deletedRead, A.deletedPurge, A.deletedRecover, A.keysExport]),
  builtIn('a290e904-7015-4bba-90c8-60543313cdb4', 'Managed HSM Administrator', [
    ...ROLE_ADMIN, A.sdDownload, A.sdDownloadRead, A.sdUpload, A.sdUploadRead, A.sdTransferKeyRead,
    A.backupStart, A.restoreStart, A.backupStatus, A.restoreStatus, A.settingsRead, A.settingsWrite,
  ]),
];

export const ADMINISTRATOR_ROLE = 'a290e904-7015-4bba-90c8-60543313cdb4';
export const ROLE_DEFINITION_PREFIX = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/';

export function builtInRole(guid: string): RoleDefinition | undefined {
  const g = guid.toLowerCase();
  return BUILT_IN_ROLES.find((r) => r.id === g);
}

/** The GUID of a role definition id given in full ("Microsoft.KeyVault/providers/.../roleDefinitions/<guid>", with or without a leading "/") or bare. */
export function roleGuid(idOrGuid: string): string {
  const s = idOrGuid.replace(/^\/+/, '');
  return (s.toLowerCase().startsWith(ROLE_DEFINITION_PREFIX.toLowerCase()) ? s.slice(ROLE_DEFINITION_PREFIX.length) : s).toLowerCase();
}

/**
 * Whether a role grants a data action: some permission lists it among its dataActions and does not take it back in
 * its notDataActions (notDataActions subtract from their own permission only; they deny nothing granted elsewhere).
 */
export function grants(role: RoleDefinition, action: string): boolean {
  return role.permissions.some((p) => p.dataActions.includes(action) && !p.notDataActions.includes(action));
}

/** Scopes, from "/" down: "/" covers "/keys", which covers "/keys/{name}" (key names are case-insensitive). */
export function scopesCovering(scope: string): string[] {
  if (scope === '/') return ['/'];
  if (scope === '/keys') return ['/', '/keys'];
  return ['/', '/keys', scope.toLowerCase()];
}

/** Normalises a scope: "/", "/keys" or "/keys/{name}" (case-insensitive, key names lower-cased); undefined otherwise. */
export function normaliseScope(scope: string): string | undefined {
  const s = scope.replace(/^\/+/, '/').replace(/\/+$/, '') || '/';
  if (s === '/' || s === '') return '/';
  if (/^\/?keys$/i.test(s)) return '/keys';
  const m = /^\/?keys\/([A-Za-z0-9-]{1,127})$/i.exec(s);
  return m ? `/keys/${m[1].toLowerCase()}` : undefined;
}
