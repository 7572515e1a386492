import { randomUUID } from 'crypto';
import { Harness, CRYPTO_OFFICER, CRYPTO_USER, Principal } from './harness';
import { ErrorCodes } from '../../simulator';

const ADMINISTRATOR = 'a290e904-7015-4bba-90c8-60543313cdb4';
const q = '?api-version=7.4';
const at = (scope: string) => `${scope === '/' ? '' : scope}/providers/Microsoft.Authorization/roleAssignments`;

/**
 * Role assignments are read and deleted through the scope they were made at: a role manager at /keys/k1 neither
 * sees assignments made for other keys nor reaches the Administrator's assignment at "/" through its own scope.
 */
describe('role assignments under a scope', () => {
  let h: Harness;
  let officer: Principal;
  let adminAssignment: string;
  let k1: string;
  let k2: string;

  beforeAll(async () => {
    h = await Harness.start();
    officer = await h.newPrincipal();
    await h.assignRole(officer.objectId, CRYPTO_OFFICER, '/keys/k1');
    const other = await h.newPrincipal();
    await h.assignRole(other.objectId, CRYPTO_USER, '/keys/k2');
    const all = (await h.request('GET', `${at('/')}${q}`)).body.value as any[];
    adminAssignment = all.find((a) => a.properties.principalId === h.admin.objectId && a.properties.scope === '/').name;
    k1 = all.find((a) => a.properties.scope === '/keys/k1').name;
    k2 = all.find((a) => a.properties.scope === '/keys/k2').name;
  });
  afterAll(() => h.close());

  const names = (r: { body: any }) => (r.body.value as any[]).map((a) => a.name).sort();

  test('a list at a scope holds the assignments at, above and below it, not those of another key', async () => {
    const fromK1 = await h.request('GET', `${at('/keys/k1')}${q}`, undefined, officer);
    expect(fromK1.status).toBe(200);
    expect(names(fromK1)).toEqual([adminAssignment, k1].sort());
    // "/keys" covers both keys (below) and is covered by "/" (above).
    expect(names(await h.request('GET', `${at('/keys')}${q}`))).toEqual([adminAssignment, k1, k2].sort());
    // principalId eq: at, above or below the scope, for that principal only.
    const byOfficer = await h.request('GET', `${at('/keys/k2')}${q}&$filter=${encodeURIComponent(`principalId eq '${officer.objectId}'`)}`);
    expect(byOfficer.body.value).toEqual([]);
    // atScope(): at or above.
    expect(names(await h.request('GET', `${at('/keys/k1')}${q}&$filter=atScope()`))).toEqual([adminAssignment, k1].sort());
  });

  test('refuses to read or delete an assignment made at another scope through this one: 404 RoleAssignmentNotFound, nothing deleted', async () => {
    for (const method of ['GET', 'DELETE']) {
      const r = await h.request(method, `${at('/keys/k1')}/${adminAssignment}${q}`, undefined, officer);
      expect([method, r.status, r.body.error.code]).toEqual([method, 404, ErrorCodes.RoleAssignmentNotFound]);
    }
    const k2ThroughK1 = await h.request('DELETE', `${at('/keys/k1')}/${k2}${q}`, undefined, officer);
    expect(k2ThroughK1.status).toBe(404);
    const still = await h.request('GET', `${at('/')}/${adminAssignment}${q}`);
    expect([still.status, still.body.properties]).toEqual([200, { scope: '/', roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${ADMINISTRATOR}`, principalId: h.admin.objectId }]);
    expect((await h.request('GET', `${at('/keys/k2')}/${k2}${q}`)).status).toBe(200);
    // Its own scope's assignment it may read and delete.
    expect((await h.request('GET', `${at('/keys/k1')}/${k1}${q}`, undefined, officer)).status).toBe(200);
  });

  test('refuses an assignment id of another scope through "/" too: an assignment lives at exactly one scope', async () => {
    const r = await h.request('GET', `${at('/')}/${k2}${q}`);
    expect([r.status, r.body.error.code]).toEqual([404, ErrorCodes.RoleAssignmentNotFound]);
    expect((await h.request('GET', `${at('/')}/${randomUUID()}${q}`)).status).toBe(404);
  });
});
