/**
 * The AuditEvent operationName of a data-plane request, and the key it concerns. Key operation names are those
 * of the Key Vault logging documentation (KeyCreate, KeySign, ...); BackupCreate is the Managed HSM logging
 * page's own sample. The names of the other Managed HSM operations (security domain, role management, release,
 * attestation, RNG, settings, restore) are not documented: they are chosen in the same style (simulator/README.md).
 */
export interface AuditOperation {
  operationName: string;
  /** The key named in the path, if any. */
  key?: string;
  version?: string;
}

const NAME = '([^/]+)';
const ROUTES: Array<[string, RegExp, string]> = [
  ['POST', /^\/keys\/restore$/i, 'KeyRestore'],
  ['GET', /^\/keys$/i, 'KeyList'],
  ['POST', re(`/keys/${NAME}/create`), 'KeyCreate'],
  ['PUT', re(`/keys/${NAME}`), 'KeyImport'],
  ['GET', re(`/keys/${NAME}/versions`), 'KeyListVersions'],
  ['GET', re(`/keys/${NAME}/rotationpolicy`), 'KeyRotationPolicyGet'],
  ['PUT', re(`/keys/${NAME}/rotationpolicy`), 'KeyRotationPolicySet'],
  ['POST', re(`/keys/${NAME}/rotate`), 'KeyRotate'],
  ['POST', re(`/keys/${NAME}/backup`), 'KeyBackup'],
  ['PUT', re(`/keys/${NAME}/restore`), 'SelectiveKeyRestore'],
  ['POST', re(`/keys/${NAME}/release`), 'KeyRelease'],
  ['GET', re(`/keys/${NAME}/attestation`), 'KeyGetAttestation'],
  ['POST', re(`/keys/${NAME}/${NAME}/release`), 'KeyRelease'],
  ['GET', re(`/keys/${NAME}/${NAME}/attestation`), 'KeyGetAttestation'],
  ['POST', re(`/keys/${NAME}/${NAME}/sign`), 'KeySign'],
  ['POST', re(`/keys/${NAME}/${NAME}/verify`), 'KeyVerify'],
  ['POST', re(`/keys/${NAME}/${NAME}/encrypt`), 'KeyEncrypt'],
  ['POST', re(`/keys/${NAME}/${NAME}/decrypt`), 'KeyDecrypt'],
  ['POST', re(`/keys/${NAME}/${NAME}/wrapkey`), 'KeyWrap'],
  ['POST', re(`/keys/${NAME}/${NAME}/unwrapkey`), 'KeyUnwrap'],
  ['GET', re(`/keys/${NAME}(?:/${NAME})?`), 'KeyGet'],
  ['PATCH', re(`/keys/${NAME}(?:/${NAME})?`), 'KeyUpdate'],
  ['DELETE', re(`/keys/${NAME}`), 'KeyDelete'],
  ['GET', /^\/deletedkeys$/i, 'KeyListDeleted'],
  ['GET', re(`/deletedkeys/${NAME}`), 'KeyGetDeleted'],
  ['POST', re(`/deletedkeys/${NAME}/recover`), 'KeyRecover'],
  ['DELETE', re(`/deletedkeys/${NAME}`), 'KeyPurge'],
  ['POST', /^\/rng$/i, 'GetRandomBytes'],
  ['POST', /^\/backup$/i, 'BackupCreate'],
  ['GET', re(`/backup/${NAME}/pending`), 'BackupStatus'],
  ['POST', /^\/prebackup$/i, 'PreBackupCreate'],
  ['PUT', /^\/restore$/i, 'RestoreCreate'],
  ['GET', re(`/restore/${NAME}/pending`), 'RestoreStatus'],
  ['PUT', /^\/prerestore$/i, 'PreRestoreCreate'],
  ['POST', /^\/securitydomain\/download$/i, 'SecurityDomainDownload'],
  ['GET', /^\/securitydomain\/download\/pending$/i, 'SecurityDomainDownloadStatus'],
  ['GET', /^\/securitydomain\/upload$/i, 'SecurityDomainTransferKeyGet'],
  ['POST', /^\/securitydomain\/upload$/i, 'SecurityDomainUpload'],
  ['GET', /^\/securitydomain\/upload\/pending$/i, 'SecurityDomainUploadStatus'],
  ['GET', /^\/settings$/i, 'SettingList'],
  ['GET', re(`/settings/${NAME}`), 'SettingGet'],
  ['PATCH', re(`/settings/${NAME}`), 'SettingUpdate'],
];

const RBAC = /\/providers\/microsoft\.authorization\/(roleassignments|roledefinitions)(?:\/([^/]+))?$/;
const RBAC_VERBS: Record<string, string> = { GET: 'Get', PUT: 'Create', DELETE: 'Delete' };

/** Answers by METHOD + path: clients repeat their paths (a key's sign, its get), and matching them costs ~10 µs. */
const known = new Map<string, Readonly<AuditOperation>>();

/** Operation name of METHOD + path; paths are compared case-insensitively, repeated and trailing slashes dropped. */
export function auditOperation(method: string, rawPath: string): Readonly<AuditOperation> {
  const key = `${method} ${rawPath}`;
  let op = known.get(key);
  if (!op) {
    op = Object.freeze(matchOperation(method, rawPath));
    if (known.size >= 4096) known.clear();
    known.set(key, op);
  }
  return op;
}

function matchOperation(method: string, rawPath: string): AuditOperation {
  const path = normalise(rawPath);
  const lower = path.toLowerCase();
  const rbac = RBAC.exec(lower);
  if (rbac) {
    const kind = rbac[1] === 'roleassignments' ? 'RoleAssignment' : 'RoleDefinition';
    const verb = rbac[2] === undefined && method === 'GET' ? 'List' : RBAC_VERBS[method];
    return { operationName: verb ? `${kind}${verb}` : 'UnknownOperation' };
  }
  for (const [m, pattern, operationName] of ROUTES) {
    if (m !== method) continue;
    // Patterns are case-insensitive; key names keep the caller's case, as the key's kid does.
    const hit = pattern.exec(path);
    if (!hit) continue;
    const isKeyPath = lower.startsWith('/keys/') || lower.startsWith('/deletedkeys/');
    return isKeyPath && hit[1] !== undefined ? { operationName, key: safeDecode(hit[1]), version: hit[2] ? safeDecode(hit[2]) : undefined } : { operationName };
  }
  return { operationName: 'UnknownOperation' };
}

function re(pattern: string): RegExp {
  return new RegExp(`^${pattern}$`, 'i');
}

function normalise(p: string): string {
  return ('/' + p).replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
