import { randomUUID } from 'crypto';
import { Harness, CRYPTO_USER, testLogger } from './harness';
import { ErrorCodes, startSimulator } from '../../simulator';

const P = 'Microsoft.KeyVault/managedHsm/';
const defs = '/providers/Microsoft.Authorization/roleDefinitions';
const q = '?api-version=7.4-preview.1';

/** Role definitions as the service lists and manages them: built-in roles as recorded, custom roles with validation. */
describe('role definitions: built-in and custom', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
  });
  afterAll(() => h.close());

  const put = (id: string, properties: unknown) => h.request('PUT', `${defs}/${id}${q}`, { properties });

  test('the built-in roles are listed with the names and data actions the service returns', async () => {
    const res = await h.request('GET', `${defs}${q}`);
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.value.map((d: any) => [d.properties.roleName, d]));
    expect(Object.keys(byName).sort()).toEqual(
      ['Administrator', 'ARM User', 'Backup User', 'Crypto Auditor', 'Crypto Officer', 'Crypto Service Encryption User', 'Crypto Service Release User', 'Crypto User', 'Policy Administrator', 'Restore User']
        .map((n) => `Managed HSM ${n}`)
        .sort(),
    );
    const officer = byName['Managed HSM Crypto Officer'];
    expect(officer).toMatchObject({ id: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/515eb02d-2335-4d2d-92f2-b1cbdf9c3778', name: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778', type: 'Microsoft.Authorization/roleDefinitions' });
    expect(officer.properties).toMatchObject({ type: 'AKVBuiltInRole', assignableScopes: ['/'], description: '' });
    expect(officer.properties.permissions[0].dataActions).not.toContain(`${P}keys/create`);
    expect(byName['Managed HSM Crypto User'].properties.permissions[0].dataActions).toEqual(expect.arrayContaining([`${P}keys/rotate/action`, `${P}keys/derive/action`, `${P}roleDefinitions/read/action`]));
    expect(byName['Managed HSM ARM User'].properties.permissions[0]).toMatchObject({ dataActions: [], actions: [`${P}keys/createIfNotExists`, `${P}keys/read/action`] });
    const filtered = await h.request('GET', `${defs}${q}&$filter=${encodeURIComponent("roleName eq 'Managed HSM Crypto User'")}`);
    expect(filtered.body.value.map((d: any) => d.name)).toEqual([CRYPTO_USER]);
  });

  test('a custom role is created, read, updated, assigned, protected while in use, and deleted', async () => {
    const id = randomUUID();
    const body = { roleName: 'Key reader', description: 'reads keys', type: 'CustomRole', permissions: [{ dataActions: [`${P}keys/read/action`] }], assignableScopes: ['/'] };
    const created = await put(id, body);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${id}`,
      name: id,
      type: 'Microsoft.Authorization/roleDefinitions',
      properties: { assignableScopes: ['/'], description: 'reads keys', roleName: 'Key reader', type: 'CustomRole', permissions: [{ actions: [], notActions: [], dataActions: [`${P}keys/read/action`], notDataActions: [] }] },
    });
    expect((await h.request('GET', `${defs}/${id}${q}`)).body).toEqual(created.body);

    const reader = await h.newPrincipal();
    await h.keyClient().createEcKey('ck', { curve: 'P-256' });
    await expect(h.keyClient(reader).getKey('ck')).rejects.toMatchObject({ statusCode: 403 });
    await h.assignRole(reader.objectId, id, '/keys/ck');
    expect((await h.keyClient(reader).getKey('ck')).name).toBe('ck');

    // An update takes effect at once: notDataActions take read back.
    const updated = await put(id, { ...body, permissions: [{ dataActions: [`${P}keys/read/action`], notDataActions: [`${P}keys/read/action`] }] });
    expect(updated.status).toBe(201);
    await expect(h.keyClient(reader).getKey('ck')).rejects.toMatchObject({ statusCode: 403, code: ErrorCodes.Forbidden });

    const inUse = await h.request('DELETE', `${defs}/${id}${q}`);
    expect([inUse.status, inUse.body.error.code]).toEqual([409, ErrorCodes.RoleDefinitionHasAssignments]);
    expect((await h.request('GET', `${defs}/${id}${q}`)).status).toBe(200);
    const list = await h.request('GET', `/keys/ck/providers/Microsoft.Authorization/roleAssignments${q}&$filter=${encodeURIComponent(`principalId eq '${reader.objectId}'`)}`);
    expect((await h.request('DELETE', `/keys/ck/providers/Microsoft.Authorization/roleAssignments/${list.body.value[0].name}${q}`)).status).toBe(200);
    const deleted = await h.request('DELETE', `${defs}/${id}${q}`);
    expect([deleted.status, deleted.body.name]).toEqual([200, id]);
    const gone = await h.request('GET', `${defs}/${id}${q}`);
    expect([gone.status, gone.body.error.code]).toEqual([404, ErrorCodes.RoleDefinitionNotFound]);
    expect(gone.body.error.message).toMatch(/^Requested role definition not found \(Activity ID: [0-9a-f-]{36}\)$/);
  });

  test('refuses unknown role definitions and assignments with 404, as the service words it', async () => {
    const def = await h.request('DELETE', `${defs}/${randomUUID()}${q}`);
    expect([def.status, def.body.error.code]).toEqual([404, ErrorCodes.RoleDefinitionNotFound]);
    const ra = await h.request('DELETE', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}${q}`);
    expect([ra.status, ra.body.error.code]).toEqual([404, ErrorCodes.RoleAssignmentNotFound]);
    expect(ra.body.error.message).toMatch(/^Requested role assignment not found \(Activity ID: /);
  });

  test('refuses bad custom roles and changes nothing', async () => {
    const before = (await h.request('GET', `${defs}${q}`)).body.value.length;
    const ok = { roleName: 'x', permissions: [{ dataActions: [`${P}keys/read/action`] }], assignableScopes: ['/'] };
    const cases: Array<[string, unknown, RegExp]> = [
      ['not-a-guid', ok, /^Role definition name must be a GUID/],
      [CRYPTO_USER, ok, /^Cannot re-use the name\/GUID matching that of a built-in role/],
      [randomUUID(), { ...ok, permissions: [{ dataActions: [`${P}keys/fly/action`] }] }, /keys\/fly\/action' is not a Managed HSM data action/],
      [randomUUID(), { ...ok, permissions: [{ dataActions: [`${P}keys/*`] }] }, /wildcards are not accepted/],
      [randomUUID(), { ...ok, permissions: [{ actions: ['Microsoft.KeyVault/managedHsm/keys/read/action'] }] }, /actions and notActions must be empty/],
      [randomUUID(), { ...ok, assignableScopes: ['/keys/k1'] }, /not a scope a role can be assignable at/],
      [randomUUID(), { ...ok, assignableScopes: [] }, /non-empty array/],
      [randomUUID(), { ...ok, type: 'AKVBuiltInRole' }, /must be "CustomRole"/],
      [randomUUID(), { ...ok, roleName: undefined }, /'roleName' is required/],
      [randomUUID(), { ...ok, permissions: 'all' }, /permissions must be an array/],
    ];
    for (const [id, properties, message] of cases) {
      const res = await put(id, properties);
      expect([id, res.status, res.body.error.code]).toEqual([id, 400, ErrorCodes.BadParameter]);
      expect(res.body.error.message).toMatch(message);
    }
    const builtInDelete = await h.request('DELETE', `${defs}/${CRYPTO_USER}${q}`);
    expect([builtInDelete.status, builtInDelete.body.error.message]).toEqual([400, expect.stringMatching(/^Cannot re-use the name\/GUID/)]);
    const clash = await put(randomUUID(), { ...ok, roleName: 'Managed HSM Crypto User' });
    expect(clash.status).toBe(409);
    const atKeys = await h.request('PUT', `/keys${defs}/${randomUUID()}${q}`, { properties: ok });
    expect(atKeys.status).toBe(400);
    expect((await h.request('GET', `${defs}${q}`)).body.value.length).toBe(before);
  });

  test('refuses to assign at / a role assignable only at /keys', async () => {
    const id = randomUUID();
    expect((await put(id, { roleName: 'keys only', permissions: [{ dataActions: [`${P}keys/read/action`] }], assignableScopes: ['/keys'] })).status).toBe(201);
    const atRoot = await h.request('PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}${q}`, { properties: { roleDefinitionId: id, principalId: randomUUID() } });
    expect([atRoot.status, atRoot.body.error.code]).toEqual([400, ErrorCodes.BadParameter]);
    const atKey = await h.request('PUT', `/keys/k9/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}${q}`, { properties: { roleDefinitionId: id, principalId: randomUUID() } });
    expect(atKey.status).toBe(201);
  });

  // Last: it stops the harness's simulator (one SoftHSM2 token folder per process).
  test('custom roles survive a restart of the simulator', async () => {
    const id = randomUUID();
    expect((await put(id, { roleName: 'durable', permissions: [{ dataActions: [`${P}rng/action`] }] })).status).toBe(201);
    await h.sim.close();
    const sim = await startSimulator({ stateDir: h.dir, logger: testLogger });
    try {
      expect(sim.managedHsm('hsm1').rbac.role(id)).toMatchObject({ roleName: 'durable', roleType: 'CustomRole', assignableScopes: ['/'] });
    } finally {
      await sim.close();
    }
  });
});
