import { generateKeyPairSync, randomUUID, KeyObject } from 'crypto';
import { JsonWebKey, KeyClient } from '@azure/keyvault-keys';
import { Harness, CRYPTO_OFFICER, CRYPTO_USER, Principal, httpsRequest } from './harness';
import { Caller, OPERATIONS, Operation } from './rbac-matrix-operations';
import { ErrorCodes } from '../../simulator';

/**
 * Every built-in role and a custom role, assigned at "/", "/keys" and "/keys/{its key}", against every data-plane
 * operation: allowed exactly when the role grants the operation's data action and the assignment's scope covers the
 * operation's scope; otherwise 403 (Forbidden/ForbiddenByRbac, or AccessDenied for role management), as Azure does.
 *
 * The expected permissions below are written from the service's own GET roleDefinitions answers (recorded by the
 * Azure SDK for JavaScript; ../shared/reference/managed-hsm.md), not taken from the simulator's table, so that a wrong
 * role in the simulator fails here.
 */
const P = 'Microsoft.KeyVault/managedHsm/';
const roleAdmin = ['roleAssignments/read/action', 'roleAssignments/write/action', 'roleAssignments/delete/action', 'roleDefinitions/read/action', 'roleDefinitions/write/action', 'roleDefinitions/delete/action'];
const EXPECTED_ROLES: Record<string, { id: string; dataActions: string[] }> = {
  Administrator: {
    id: 'a290e904-7015-4bba-90c8-60543313cdb4',
    dataActions: [...roleAdmin, 'securitydomain/download/action', 'securitydomain/download/read', 'securitydomain/upload/action', 'securitydomain/upload/read', 'securitydomain/transferkey/read', 'backup/start/action', 'backup/status/action', 'restore/start/action', 'restore/status/action', 'settings/read/action', 'settings/write/action'],
  },
  'Crypto Officer': { id: CRYPTO_OFFICER, dataActions: [...roleAdmin, 'keys/deletedKeys/read/action', 'keys/deletedKeys/delete', 'keys/deletedKeys/recover/action', 'keys/export/action'] },
  'Crypto User': {
    id: CRYPTO_USER,
    dataActions: ['roleDefinitions/read/action', 'roleAssignments/read/action', 'keys/read/action', 'keys/write/action', 'keys/delete', 'keys/create', 'keys/rotate/action', 'keys/import/action', 'keys/release/action', 'keys/backup/action', 'keys/restore/action', 'keys/encrypt/action', 'keys/decrypt/action', 'keys/wrap/action', 'keys/unwrap/action', 'keys/sign/action', 'keys/verify/action', 'keys/derive/action', 'rng/action'],
  },
  'Policy Administrator': { id: '4bd23610-cdcf-4971-bdee-bdc562cc28e4', dataActions: roleAdmin },
  'Crypto Auditor': { id: '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', dataActions: ['roleAssignments/read/action', 'roleDefinitions/read/action', 'keys/read/action', 'keys/deletedKeys/read/action'] },
  'Crypto Service Encryption User': { id: '33413926-3206-4cdd-b39a-83574fe37a17', dataActions: ['keys/read/action', 'keys/wrap/action', 'keys/unwrap/action'] },
  'Crypto Service Release User': { id: '21dbd100-6940-42c2-9190-5d6cb909625c', dataActions: ['keys/release/action'] },
  'Backup User': { id: '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8', dataActions: ['backup/start/action', 'backup/status/action', 'keys/backup/action'] },
  'Restore User': { id: '6efe6056-5259-49d2-8b3d-d3d73544b20b', dataActions: ['restore/start/action', 'restore/status/action', 'keys/restore/action'] },
  'ARM User': { id: '770fd66c-6266-4643-9d4e-b616870898d5', dataActions: [] },
};

/** The custom role: notDataActions take encrypt back from the same permission, so encrypt is refused. */
const CUSTOM_ROLE_ID = randomUUID();
const CUSTOM = { dataActions: ['keys/read/action', 'keys/sign/action', 'keys/verify/action', 'keys/encrypt/action', 'rng/action'], notDataActions: ['keys/encrypt/action'] };
const EXPECTED: Record<string, { id: string; grants: (action: string) => boolean }> = {
  ...Object.fromEntries(Object.entries(EXPECTED_ROLES).map(([name, r]) => [name, { id: r.id, grants: (a: string) => r.dataActions.map((x) => P + x).includes(a) }])),
  'Custom signer': { id: CUSTOM_ROLE_ID, grants: (a) => CUSTOM.dataActions.map((x) => P + x).includes(a) && !CUSTOM.notDataActions.map((x) => P + x).includes(a) },
};

const ASSIGNMENT_SCOPES = ['/', '/keys', 'key'] as const;
type AssignmentScope = (typeof ASSIGNMENT_SCOPES)[number];

function covers(assigned: AssignmentScope, op: Operation['scope']): boolean {
  return assigned === '/' || (assigned === '/keys' && op !== '/') || (assigned === 'key' && op === 'key');
}

export interface MatrixResult {
  principal: string;
  role: string;
  assignedAt: AssignmentScope;
  operation: string;
  expectAllowed: boolean;
  status: number;
  /** The error code of a refusal (REST calls only). */
  code?: string;
}

describe('local RBAC: every role at every scope against every data-plane operation', () => {
  let h: Harness;
  const results: MatrixResult[] = [];

  beforeAll(async () => {
    h = await Harness.start();
    // The administrator makes the fixtures: it also holds Crypto User and Crypto Officer.
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
    await h.assignRole(h.admin.objectId, CRYPTO_OFFICER);
    const custom = await h.request('PUT', `/providers/Microsoft.Authorization/roleDefinitions/${CUSTOM_ROLE_ID}?api-version=7.6`, {
      properties: { roleName: 'Custom signer', type: 'CustomRole', permissions: [{ dataActions: CUSTOM.dataActions.map((x) => P + x), notDataActions: CUSTOM.notDataActions.map((x) => P + x) }], assignableScopes: ['/'] },
    });
    if (custom.status !== 201) throw new Error(`custom role: ${custom.status} ${JSON.stringify(custom.body)}`);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaJwk = jwkOf(rsa.privateKey);
    const ecJwk = jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const CRYPTO = ['sign', 'verify', 'encrypt', 'decrypt', 'wrap key', 'unwrap key'].map((n) => OPERATIONS.find((o) => o.name === n)!.action);

    const callers: Array<{ caller: Caller; role: string; assignedAt: AssignmentScope }> = [];
    const admin = h.keyClient();
    let n = 0;
    await Promise.all(
      Object.entries(EXPECTED).flatMap(([role, r]) =>
        ASSIGNMENT_SCOPES.map(async (assignedAt) => {
          const key = `m${n++}`;
          const caller = await makeCaller(h, admin, key, CRYPTO.some((a) => r.grants(a)) ? rsaJwk : undefined, rsa.publicKey, ecJwk);
          await h.assignRole(caller.principal.objectId, r.id, assignedAt === 'key' ? `/keys/${key}` : assignedAt);
          callers.push({ caller, role, assignedAt });
        }),
      ),
    );

    const record = (c: (typeof callers)[number], op: Operation, status: number, code?: string) =>
      results.push({ principal: c.caller.principal.objectId, role: c.role, assignedAt: c.assignedAt, operation: op.name, expectAllowed: EXPECTED[c.role].grants(op.action) && covers(c.assignedAt, op.scope), status, code });
    await Promise.all(
      callers.map(async (c) => {
        // One operation at a time per caller (callers run in parallel): each client then keeps one connection.
        for (const op of OPERATIONS.filter((o) => o.phase === 1)) record(c, op, ...(await runOne(op, c.caller)));
        // Phase 2 in order; where the caller was refused, the administrator does the step so the next one has its key in the state it needs.
        const key = c.caller.key;
        for (const op of OPERATIONS.filter((o) => o.phase === 2)) {
          const [status, code] = await runOne(op, c.caller);
          record(c, op, status, code);
          if (op.name === 'delete key' && status === 403) await (await admin.beginDeleteKey(key, { intervalInMs: 20 })).pollUntilDone();
          if (op.name === 'recover deleted key' && status === 200) await (await admin.beginDeleteKey(key, { intervalInMs: 20 })).pollUntilDone();
          if (op.name === 'purge deleted key' && status === 403) await admin.purgeDeletedKey(key);
        }
      }),
    );
    // About 1,500 requests; a few seconds of CPU, given room on a loaded machine.
  }, 180_000);
  afterAll(() => h.close());

  test('each operation is allowed exactly where the role and scope grant its data action, and refused with 403 elsewhere', () => {
    expect(results.length).toBe(Object.keys(EXPECTED).length * ASSIGNMENT_SCOPES.length * OPERATIONS.length);
    const wrong = results.filter((r) => {
      const op = OPERATIONS.find((o) => o.name === r.operation)!;
      return r.expectAllowed ? !op.allowed.includes(r.status) : r.status !== 403;
    });
    expect(wrong.map((r) => `${r.role} at ${r.assignedAt}: ${r.operation} -> ${r.status} ${r.code ?? ''} (expected ${r.expectAllowed ? 'allowed' : '403'})`)).toEqual([]);
  });

  test('refusals carry the service codes: ForbiddenByRbac for data operations, AccessDenied for role management', () => {
    const refused = results.filter((r) => !r.expectAllowed && r.code !== undefined);
    expect(refused.length).toBeGreaterThan(100);
    const roleApi = (r: MatrixResult) => /role (assignment|definition)/.test(r.operation);
    expect([...new Set(refused.filter(roleApi).map((r) => r.code))]).toEqual([ErrorCodes.AccessDenied]);
    expect([...new Set(refused.filter((r) => !roleApi(r)).map((r) => r.code))]).toEqual(['Forbidden/ForbiddenByRbac']);
  });

  test('the least-privilege facts users rehearse: Crypto Officer cannot create keys, Crypto User cannot recover or purge, Administrator cannot sign', () => {
    const at = (role: string, op: string) => results.find((r) => r.role === role && r.assignedAt === '/' && r.operation === op)!.status;
    expect(at('Crypto Officer', 'create key')).toBe(403);
    expect(at('Crypto Officer', 'recover deleted key')).toBe(200);
    expect(at('Crypto User', 'recover deleted key')).toBe(403);
    expect(at('Crypto User', 'purge deleted key')).toBe(403);
    expect(at('Crypto User', 'rotate key')).toBe(200);
    expect(at('Administrator', 'sign')).toBe(403);
    expect(at('Custom signer', 'sign')).toBe(200);
    expect(at('Custom signer', 'encrypt')).toBe(403);
    const keyScoped = results.find((r) => r.role === 'Crypto User' && r.assignedAt === 'key' && r.operation === 'list keys')!;
    expect(keyScoped.status).toBe(403);
  });
});

/**
 * A new principal with its own key (the RSA key imported when given, else a new EC key), a role assignment and a
 * custom role to act on, and a backup of its key.
 */
async function makeCaller(h: Harness, admin: KeyClient, key: string, rsaJwk: JsonWebKey | undefined, publicKey: KeyObject, importJwk: JsonWebKey): Promise<Caller> {
  const principal: Principal = await h.newPrincipal();
  const imported = rsaJwk ? await admin.importKey(key, rsaJwk, {}) : await admin.createEcKey(key, { curve: 'P-256' });
  const fixtureAssignment = randomUUID();
  const fa = await h.request('PUT', `/keys/${key}/providers/Microsoft.Authorization/roleAssignments/${fixtureAssignment}?api-version=7.6`, {
    properties: { roleDefinitionId: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', principalId: randomUUID() },
  });
  const fixtureRole = randomUUID();
  const fr = await h.request('PUT', `/providers/Microsoft.Authorization/roleDefinitions/${fixtureRole}?api-version=7.6`, { properties: { roleName: `fixture ${fixtureRole}`, permissions: [] } });
  if (fa.status !== 201 || fr.status !== 201) throw new Error(`fixtures: ${fa.status} ${fr.status}`);
  const backup = (await admin.backupKey(key))!;
  // One token per caller (tokens last an hour): MSAL's cache lookup per request is a visible cost at this volume.
  let cached: Promise<string> | undefined;
  const token = () => (cached ??= h.token(principal));
  return {
    principal,
    key,
    version: imported.properties.version!,
    publicKey,
    kc: h.keyClient(principal),
    fixtureAssignment,
    fixtureRole,
    backup,
    importJwk,
    rest: async (method, path, body) => httpsRequest(h.hsmUri, h.sim.caCert, method, `${path}${path.includes('?') ? '&' : '?'}api-version=7.6`, body === undefined ? undefined : JSON.stringify(body), await token()),
  };
}

/** Runs one operation; a REST refusal is reported with its code ("Forbidden/ForbiddenByRbac" for the nested form). */
async function runOne(op: Operation, c: Caller): Promise<[number, string?]> {
  let code: string | undefined;
  const spy: Caller = {
    ...c,
    rest: async (method, path, body) => {
      const res = await c.rest(method, path, body);
      const e = res.body?.error;
      if (res.status === 403 && e) code = e.innererror?.code ? `${e.code}/${e.innererror.code}` : e.code;
      return res;
    },
  };
  const status = await op.run(spy);
  return [status, code];
}

function jwkOf(k: KeyObject): JsonWebKey {
  const j = k.export({ format: 'jwk' });
  const b = (s?: string) => new Uint8Array(Buffer.from(s!, 'base64url'));
  if (j.kty === 'EC') return { kty: 'EC', crv: j.crv as 'P-256', x: b(j.x), y: b(j.y), d: b(j.d) };
  return { kty: 'RSA', n: b(j.n), e: b(j.e), d: b(j.d), p: b(j.p), q: b(j.q), dp: b(j.dp), dq: b(j.dq), qi: b(j.qi) };
}
