import { constants, publicEncrypt, randomUUID, KeyObject } from 'crypto';
import { JsonWebKey, KeyClient } from '@azure/keyvault-keys';
import { Principal } from './harness';

/**
 * The data-plane operations of the RBAC matrix and the data action the service checks for each (the REST
 * specification's DataAction enum and the built-in roles page name them). Each runs as one caller against its own
 * key, through the real KeyClient where the SDK has the call and plain REST otherwise, and reports the HTTP status.
 * The list is shared so that other checks (e.g. "each operation leaves one audit record") can run over the same
 * calls: rbac-matrix.test.ts keeps one MatrixResult per call (principal, role, scope, operation, status).
 */

const P = 'Microsoft.KeyVault/managedHsm/';

export type OpScope = '/' | '/keys' | 'key';

/**
 * What one caller works with: its own key (an imported RSA-2048 key when its role may use keys for cryptography, an
 * EC key otherwise: importing RSA into SoftHSM2 is the costliest step of the matrix), fixtures, and its clients.
 */
export interface Caller {
  readonly principal: Principal;
  readonly key: string;
  /** The imported version: crypto operations address it, so versions added by create/rotate/import do not matter. */
  readonly version: string;
  readonly publicKey: KeyObject;
  readonly kc: KeyClient;
  /** A role assignment and a custom role, made for this caller by the administrator, for it to read or delete. */
  readonly fixtureAssignment: string;
  readonly fixtureRole: string;
  /** The administrator's single-key backup of the caller's key, taken before the matrix ran. */
  readonly backup: Uint8Array;
  /** A key to import as a new version of the caller's key. */
  readonly importJwk: JsonWebKey;
  rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

export interface Operation {
  /** Unique, readable: shows in the mismatch report. */
  readonly name: string;
  readonly action: string;
  readonly scope: OpScope;
  /** 1: run first; 2: run after phase 1, in this order (these delete what others use). Each caller runs its operations one at a time; callers run in parallel. */
  readonly phase: 1 | 2;
  /** The statuses that mean "authorized and done" (an authorized request may still fail validation on purpose). */
  readonly allowed: number[];
  run(c: Caller): Promise<number>;
}

/** The status of an SDK call: 200 when it resolves, the RestError's status when it throws. */
async function sdk(call: () => Promise<unknown>, ok = 200): Promise<number> {
  try {
    await call();
    return ok;
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (typeof status !== 'number') throw err;
    return status;
  }
}

const rest = async (c: Caller, method: string, path: string, body?: unknown) => (await c.rest(method, path, body)).status;
const b64 = (b: Buffer) => b.toString('base64url');
/** A well-formed but not a SAS token: refused before any job starts, so authorized calls answer 400 and change nothing. */
const BAD_SAS = { storageResourceUri: 'https://127.0.0.1:1/devstoreaccount1/none', token: 'sv=2021-08-06&sig=x' };

export const OPERATIONS: readonly Operation[] = [
  { name: 'get key', action: `${P}keys/read/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.getKey(c.key)) },
  { name: 'list key versions', action: `${P}keys/read/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.listPropertiesOfKeyVersions(c.key).byPage().next()) },
  { name: 'list keys', action: `${P}keys/read/action`, scope: '/keys', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.listPropertiesOfKeys().byPage().next()) },
  { name: 'get rotation policy', action: `${P}keys/read/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.getKeyRotationPolicy(c.key)) },
  { name: 'update key', action: `${P}keys/write/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.updateKeyProperties(c.key, c.version, { tags: { by: c.principal.objectId } })) },
  { name: 'set rotation policy', action: `${P}keys/write/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.updateKeyRotationPolicy(c.key, { lifetimeActions: [] })) },
  { name: 'create key', action: `${P}keys/create`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.createEcKey(c.key, { curve: 'P-256' })) },
  { name: 'import key', action: `${P}keys/import/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.importKey(c.key, c.importJwk, {})) },
  { name: 'rotate key', action: `${P}keys/rotate/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.rotateKey(c.key)) },
  { name: 'backup key', action: `${P}keys/backup/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.backupKey(c.key)) },
  { name: 'sign', action: `${P}keys/sign/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'POST', `/keys/${c.key}/${c.version}/sign`, { alg: 'RS256', value: b64(Buffer.alloc(32, 1)) }) },
  { name: 'verify', action: `${P}keys/verify/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'POST', `/keys/${c.key}/${c.version}/verify`, { alg: 'RS256', digest: b64(Buffer.alloc(32, 1)), value: b64(Buffer.alloc(256, 1)) }) },
  { name: 'encrypt', action: `${P}keys/encrypt/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'POST', `/keys/${c.key}/${c.version}/encrypt`, { alg: 'RSA-OAEP', value: b64(Buffer.from('secret')) }) },
  { name: 'decrypt', action: `${P}keys/decrypt/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'POST', `/keys/${c.key}/${c.version}/decrypt`, { alg: 'RSA-OAEP', value: b64(oaep(c.publicKey, 'secret')) }) },
  { name: 'wrap key', action: `${P}keys/wrap/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'POST', `/keys/${c.key}/${c.version}/wrapkey`, { alg: 'RSA-OAEP', value: b64(Buffer.alloc(32, 7)) }) },
  { name: 'unwrap key', action: `${P}keys/unwrap/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'POST', `/keys/${c.key}/${c.version}/unwrapkey`, { alg: 'RSA-OAEP', value: b64(oaep(c.publicKey, 'cek')) }) },
  { name: 'random bytes', action: `${P}rng/action`, scope: '/', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.getRandomBytes(8)) },
  { name: 'list deleted keys', action: `${P}keys/deletedKeys/read/action`, scope: '/keys', phase: 1, allowed: [200], run: (c) => sdk(() => c.kc.listDeletedKeys().byPage().next()) },
  { name: 'list role assignments at /', action: `${P}roleAssignments/read/action`, scope: '/', phase: 1, allowed: [200], run: (c) => rest(c, 'GET', '/providers/Microsoft.Authorization/roleAssignments') },
  { name: 'list role assignments at the key', action: `${P}roleAssignments/read/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'GET', `/keys/${c.key}/providers/Microsoft.Authorization/roleAssignments`) },
  { name: 'get role assignment', action: `${P}roleAssignments/read/action`, scope: 'key', phase: 1, allowed: [200], run: (c) => rest(c, 'GET', `/keys/${c.key}/providers/Microsoft.Authorization/roleAssignments/${c.fixtureAssignment}`) },
  {
    name: 'create role assignment',
    action: `${P}roleAssignments/write/action`,
    scope: 'key',
    phase: 1,
    allowed: [201],
    run: (c) => rest(c, 'PUT', `/keys/${c.key}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`, { properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${AUDITOR}`, principalId: randomUUID() } }),
  },
  { name: 'list role definitions', action: `${P}roleDefinitions/read/action`, scope: '/', phase: 1, allowed: [200], run: (c) => rest(c, 'GET', '/providers/Microsoft.Authorization/roleDefinitions') },
  { name: 'get role definition', action: `${P}roleDefinitions/read/action`, scope: '/', phase: 1, allowed: [200], run: (c) => rest(c, 'GET', `/providers/Microsoft.Authorization/roleDefinitions/${AUDITOR}`) },
  {
    name: 'create role definition',
    action: `${P}roleDefinitions/write/action`,
    scope: '/',
    phase: 1,
    allowed: [201],
    run: (c) => {
      const id = randomUUID();
      return rest(c, 'PUT', `/providers/Microsoft.Authorization/roleDefinitions/${id}`, { properties: { roleName: `matrix ${id}`, type: 'CustomRole', permissions: [{ dataActions: [`${P}keys/read/action`] }], assignableScopes: ['/'] } });
    },
  },
  { name: 'get settings', action: `${P}settings/read/action`, scope: '/', phase: 1, allowed: [200], run: (c) => rest(c, 'GET', '/settings') },
  { name: 'get setting', action: `${P}settings/read/action`, scope: '/', phase: 1, allowed: [200], run: (c) => rest(c, 'GET', '/settings/AllowKeyManagementOperationsThroughARM') },
  { name: 'update setting', action: `${P}settings/write/action`, scope: '/', phase: 1, allowed: [200], run: (c) => rest(c, 'PATCH', '/settings/AllowKeyManagementOperationsThroughARM', { value: 'false' }) },
  { name: 'start full backup', action: `${P}backup/start/action`, scope: '/', phase: 1, allowed: [400], run: (c) => rest(c, 'POST', '/backup', BAD_SAS) },
  { name: 'start pre-backup check', action: `${P}backup/start/action`, scope: '/', phase: 1, allowed: [400], run: (c) => rest(c, 'POST', '/prebackup', BAD_SAS) },
  { name: 'backup status', action: `${P}backup/status/action`, scope: '/', phase: 1, allowed: [404], run: (c) => rest(c, 'GET', `/backup/${randomUUID().replace(/-/g, '')}/pending`) },
  { name: 'start full restore', action: `${P}restore/start/action`, scope: '/', phase: 1, allowed: [400], run: (c) => rest(c, 'PUT', '/restore', { sasTokenParameters: BAD_SAS, folderToRestore: 'mhsm-x' }) },
  { name: 'start pre-restore check', action: `${P}restore/start/action`, scope: '/', phase: 1, allowed: [400], run: (c) => rest(c, 'PUT', '/prerestore', { sasTokenParameters: BAD_SAS, folderToRestore: 'mhsm-x' }) },
  { name: 'start selective key restore', action: `${P}restore/start/action`, scope: '/', phase: 1, allowed: [400], run: (c) => rest(c, 'PUT', `/keys/${c.key}/restore`, { sasTokenParameters: BAD_SAS, folder: 'mhsm-x' }) },
  { name: 'restore status', action: `${P}restore/status/action`, scope: '/', phase: 1, allowed: [404], run: (c) => rest(c, 'GET', `/restore/${randomUUID().replace(/-/g, '')}/pending`) },
  { name: 'security domain download status', action: `${P}securitydomain/download/read`, scope: '/', phase: 1, allowed: [200, 404], run: (c) => rest(c, 'GET', '/securitydomain/download/pending') },
  { name: 'security domain upload status', action: `${P}securitydomain/upload/read`, scope: '/', phase: 1, allowed: [200, 404], run: (c) => rest(c, 'GET', '/securitydomain/upload/pending') },
  // Phase 2, in this order: each step leaves the key as the next one needs it (rbac-matrix.test.ts repairs the state where a caller was refused).
  { name: 'delete role assignment', action: `${P}roleAssignments/delete/action`, scope: 'key', phase: 2, allowed: [200], run: (c) => rest(c, 'DELETE', `/keys/${c.key}/providers/Microsoft.Authorization/roleAssignments/${c.fixtureAssignment}`) },
  { name: 'delete role definition', action: `${P}roleDefinitions/delete/action`, scope: '/', phase: 2, allowed: [200], run: (c) => rest(c, 'DELETE', `/providers/Microsoft.Authorization/roleDefinitions/${c.fixtureRole}`) },
  { name: 'delete key', action: `${P}keys/delete`, scope: 'key', phase: 2, allowed: [200], run: (c) => rest(c, 'DELETE', `/keys/${c.key}`) },
  { name: 'get deleted key', action: `${P}keys/deletedKeys/read/action`, scope: 'key', phase: 2, allowed: [200], run: (c) => sdk(() => c.kc.getDeletedKey(c.key)) },
  { name: 'recover deleted key', action: `${P}keys/deletedKeys/recover/action`, scope: 'key', phase: 2, allowed: [200], run: (c) => rest(c, 'POST', `/deletedkeys/${c.key}/recover`) },
  { name: 'purge deleted key', action: `${P}keys/deletedKeys/delete`, scope: 'key', phase: 2, allowed: [204], run: (c) => sdk(() => c.kc.purgeDeletedKey(c.key), 204) },
  { name: 'restore key backup', action: `${P}keys/restore/action`, scope: '/keys', phase: 2, allowed: [200], run: (c) => sdk(() => c.kc.restoreKeyBackup(c.backup)) },
];

const AUDITOR = '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3';

function oaep(key: KeyObject, text: string): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(text));
}
