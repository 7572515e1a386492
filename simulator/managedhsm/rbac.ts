import { randomUUID } from 'crypto';
import { Journal } from '../store/journal';
import { errors } from '../http/errors';
import { RoleAssignmentRecord, collections } from './model';

const P = 'Microsoft.KeyVault/managedHsm';

/** The data actions the simulator checks, named as the service names them. */
export const DataActions = {
  keysRead: `${P}/keys/read/action`,
  keysWrite: `${P}/keys/write/action`,
  keysCreate: `${P}/keys/create`,
  keysImport: `${P}/keys/import/action`,
  keysDelete: `${P}/keys/delete`,
  keysBackup: `${P}/keys/backup/action`,
  keysRestore: `${P}/keys/restore/action`,
  keysEncrypt: `${P}/keys/encrypt/action`,
  keysDecrypt: `${P}/keys/decrypt/action`,
  keysWrap: `${P}/keys/wrap/action`,
  keysUnwrap: `${P}/keys/unwrap/action`,
  keysSign: `${P}/keys/sign/action`,
  keysVerify: `${P}/keys/verify/action`,
  keysRelease: `${P}/keys/release/action`,
  keysExport: `${P}/keys/export/action`,
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
} as const;

const A = DataActions;
const KEY_MANAGEMENT = [A.keysRead, A.keysWrite, A.keysCreate, A.keysImport, A.keysDelete, A.keysBackup, A.keysRestore, A.deletedRead, A.deletedRecover];
const KEY_CRYPTO = [A.keysEncrypt, A.keysDecrypt, A.keysWrap, A.keysUnwrap, A.keysSign, A.keysVerify];

export interface RoleDefinition {
  id: string;
  roleName: string;
  description: string;
  dataActions: string[];
}

/**
 * The built-in roles of Managed HSM local RBAC. As on the service, Administrator manages the HSM (security
 * domain, role assignments, full backup) but holds no key permissions: an administrator grants itself
 * Crypto User or Crypto Officer to work with keys. Only Crypto Officer may purge.
 */
export const BUILT_IN_ROLES: RoleDefinition[] = [
  {
    id: 'a290e904-7015-4bba-90c8-60543313cdb4',
    roleName: 'Managed HSM Administrator',
    description: 'Manages the HSM: security domain, role assignments, full backup and restore.',
    dataActions: [A.sdDownload, A.sdDownloadRead, A.sdUpload, A.sdUploadRead, A.sdTransferKeyRead, A.roleAssignmentsRead, A.roleAssignmentsWrite, A.roleAssignmentsDelete, A.roleDefinitionsRead, A.roleDefinitionsWrite, A.roleDefinitionsDelete, A.backupStart, A.backupStatus, A.restoreStart, A.restoreStatus],
  },
  {
    id: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
    roleName: 'Managed HSM Crypto Officer',
    description: 'Manages keys and their role assignments, purges deleted keys; no cryptographic operations.',
    dataActions: [...KEY_MANAGEMENT, A.deletedPurge, A.roleAssignmentsRead, A.roleAssignmentsWrite, A.roleAssignmentsDelete, A.roleDefinitionsRead],
  },
  {
    id: '21dbd100-6940-42c2-9190-5d6cb909625b',
    roleName: 'Managed HSM Crypto User',
    description: 'Manages keys and performs cryptographic operations; cannot purge.',
    dataActions: [...KEY_MANAGEMENT, ...KEY_CRYPTO, A.keysRelease, A.rng],
  },
  {
    id: '4bd23610-cdcf-4971-bdee-bdc562cc28e4',
    roleName: 'Managed HSM Policy Administrator',
    description: 'Manages role assignments.',
    dataActions: [A.roleAssignmentsRead, A.roleAssignmentsWrite, A.roleAssignmentsDelete, A.roleDefinitionsRead],
  },
  {
    id: '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3',
    roleName: 'Managed HSM Crypto Auditor',
    description: 'Reads key metadata and role assignments.',
    dataActions: [A.keysRead, A.deletedRead, A.roleAssignmentsRead, A.roleDefinitionsRead, A.sdDownloadRead, A.sdUploadRead, A.backupStatus, A.restoreStatus],
  },
  {
    id: '33413926-3206-4cdd-b39a-83574fe37a17',
    roleName: 'Managed HSM Crypto Service Encryption User',
    description: 'Reads keys and wraps/unwraps with them (service encryption at rest).',
    dataActions: [A.keysRead, A.keysWrap, A.keysUnwrap],
  },
  {
    id: '21dbd100-6940-42c2-9190-5d6cb909625c',
    roleName: 'Managed HSM Crypto Service Release User',
    description: 'Reads and releases keys.',
    dataActions: [A.keysRead, A.keysRelease],
  },
  {
    id: '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8',
    roleName: 'Managed HSM Backup',
    description: 'Runs full backups.',
    dataActions: [A.backupStart, A.backupStatus, A.keysBackup],
  },
  {
    id: '6efe6056-5259-49d2-8b3d-d3d73544b20b',
    roleName: 'Managed HSM Restore',
    description: 'Runs full restores.',
    dataActions: [A.restoreStart, A.restoreStatus, A.keysRestore],
  },
];

export const ROLE_DEFINITION_PREFIX = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/';
export const ADMINISTRATOR_ROLE = BUILT_IN_ROLES[0].id;

/** Role definition by full id ("Microsoft.KeyVault/providers/.../roleDefinitions/<guid>") or bare guid. */
export function findRole(idOrGuid: string): RoleDefinition | undefined {
  const guid = idOrGuid.toLowerCase().startsWith(ROLE_DEFINITION_PREFIX.toLowerCase()) ? idOrGuid.slice(ROLE_DEFINITION_PREFIX.length) : idOrGuid;
  return BUILT_IN_ROLES.find((r) => r.id === guid.toLowerCase());
}

/** Normalises a scope: "/", "/keys" or "/keys/{name}" (case-insensitive). */
export function normaliseScope(scope: string): string | undefined {
  const s = scope === '' ? '/' : scope.replace(/\/+$/, '') || '/';
  if (s === '/') return '/';
  if (/^\/keys$/i.test(s)) return '/keys';
  const m = /^\/keys\/([A-Za-z0-9-]{1,127})$/i.exec(s);
  return m ? `/keys/${m[1].toLowerCase()}` : undefined;
}

/**
 * Local RBAC of one instance: role assignments in the metadata store, and the check that a principal holds a
 * data action at a scope or any scope above it ("/" covers "/keys" covers "/keys/{name}").
 */
export class Rbac {
  constructor(private readonly store: Journal, private readonly hsm: string, private readonly administrators: () => string[]) {}

  private get c(): string {
    return collections.roleAssignments(this.hsm);
  }

  assignments(): RoleAssignmentRecord[] {
    return this.store.list<RoleAssignmentRecord>(this.c);
  }

  get(name: string): RoleAssignmentRecord | undefined {
    return this.store.get<RoleAssignmentRecord>(this.c, name.toLowerCase());
  }

  async put(a: RoleAssignmentRecord): Promise<RoleAssignmentRecord> {
    const rec = { ...a, name: a.name.toLowerCase(), principalId: a.principalId.toLowerCase() };
    await this.store.commit([{ c: this.c, id: rec.name, v: rec }]);
    return rec;
  }

  async delete(name: string): Promise<void> {
    await this.store.commit([{ c: this.c, id: name.toLowerCase() }]);
  }

  /** Administrators named at creation hold Administrator at "/" (the service creates those assignments). */
  async ensureAdministrators(): Promise<void> {
    for (const oid of this.administrators()) {
      const has = this.assignments().some((a) => a.principalId === oid.toLowerCase() && a.scope === '/' && findRole(a.roleDefinitionId)?.id === ADMINISTRATOR_ROLE);
      if (!has) await this.put({ name: randomUUID(), scope: '/', roleDefinitionId: ROLE_DEFINITION_PREFIX + ADMINISTRATOR_ROLE, principalId: oid });
    }
  }

  allows(principal: string, action: string, scope: string): boolean {
    const covering = scopesCovering(scope);
    const p = principal.toLowerCase();
    return this.assignments().some((a) => a.principalId === p && covering.includes(a.scope) && !!findRole(a.roleDefinitionId)?.dataActions.includes(action));
  }

  require(principal: string, action: string, scope: string, operation: string): void {
    if (!this.allows(principal, action, scope)) {
      throw errors.forbiddenByRbac(`Operation "${operation}" is not allowed: caller ${principal} has no role assignment with the data action ${action} at scope ${scope} or above.`);
    }
  }
}

function scopesCovering(scope: string): string[] {
  if (scope === '/') return ['/'];
  if (scope === '/keys') return ['/', '/keys'];
  return ['/', '/keys', scope.toLowerCase()];
}
