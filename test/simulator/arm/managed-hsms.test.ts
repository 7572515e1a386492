import { randomUUID } from 'crypto';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ArmCodes } from '../../../simulator/arm/errors';
import { httpsRequest } from '../harness';
import { ArmHarness, RG, SUB, managedBody, managedPath } from './arm-harness';

const FAST = { updateIntervalInMs: 10 };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('ARM plane: Managed HSMs (@azure/arm-keyvault and raw HTTPS as azurerm sends it)', () => {
  let h: ArmHarness;
  let kv: KeyVaultManagementClient;
  beforeAll(async () => {
    h = await ArmHarness.start();
    kv = new KeyVaultManagementClient(h.credential, SUB, {
      endpoint: h.arm,
      // With a custom endpoint the client would ask for "<endpoint>/.default"; ARM's scope is fixed.
      credentials: { scopes: ['https://management.azure.com/.default'] },
      tlsOptions: { ca: h.sim.caCert },
      retryOptions: { maxRetries: 0 },
    } as ConstructorParameters<typeof KeyVaultManagementClient>[2]);
  });
  afterAll(async () => {
    await h.close();
  });

  test('createOrUpdate (api-version 2026-02-01) starts an instance whose hsmUri answers the data plane', async () => {
    const created = await kv.managedHsms.createOrUpdate(
      RG,
      'mhsm-one',
      {
        location: 'westeurope',
        sku: { family: 'B', name: 'Standard_B1' },
        tags: { env: 'test' },
        properties: { tenantId: h.sim.tenantId, initialAdminObjectIds: [h.objectId], softDeleteRetentionInDays: 7, enablePurgeProtection: false },
      },
      FAST,
    );
    expect(created.properties?.provisioningState).toBe('Succeeded');
    expect(created.type).toBe('Microsoft.KeyVault/managedHSMs');
    const hsmUri = created.properties!.hsmUri!;
    expect(hsmUri).toBe(h.sim.managedHsm('mhsm-one').hsmUri);
    expect(created.properties?.securityDomainProperties?.activationStatus).toBe('NotActivated');

    // The data plane behind hsmUri: a token for https://managedhsm.azure.net as the initial administrator.
    const token = await h.token('https://managedhsm.azure.net/.default');
    await h.sim.managedHsm('mhsm-one').setActivated(true);
    const defs = await httpsRequest(hsmUri, h.sim.caCert, 'GET', '/providers/Microsoft.Authorization/roleDefinitions?api-version=7.4', undefined, token);
    expect(defs.status).toBe(200);
    expect(defs.body.value.length).toBeGreaterThan(0);
    expect((await kv.managedHsms.get(RG, 'mhsm-one')).properties?.securityDomainProperties?.activationStatus).toBe('Active');
  });

  test('raw PUT as azurerm sends it (2023-07-01): 201 + Azure-AsyncOperation, then GET, lists, PATCH tags', async () => {
    const put = await h.request('PUT', managedPath('mhsm-two'), managedBody(h.sim.tenantId, [h.objectId], { enablePurgeProtection: true, networkAcls: { bypass: 'None', defaultAction: 'Deny', ipRules: [{ value: '203.0.113.0/24' }] } }));
    expect(put.status).toBe(201);
    expect(put.body.properties.provisioningState).toBe('Provisioning');
    const op = await h.waitOperation(String(put.headers['azure-asyncoperation']));
    expect(op.status).toBe('Succeeded');
    const got = await h.request('GET', managedPath('mhsm-two'));
    expect(got.body.properties).toMatchObject({ provisioningState: 'Succeeded', enablePurgeProtection: true, enableSoftDelete: true, softDeleteRetentionInDays: 7, hsmUri: h.sim.managedHsm('mhsm-two').hsmUri });
    expect(got.body.properties.networkAcls.defaultAction).toBe('Deny');
    expect(h.sim.managedHsm('mhsm-two').record().purgeProtection).toBe(true);

    expect((await collect(kv.managedHsms.listByResourceGroup(RG))).map((m) => m.name).sort()).toEqual(['mhsm-one', 'mhsm-two']);
    expect((await collect(kv.managedHsms.listBySubscription())).map((m) => m.name).sort()).toEqual(['mhsm-one', 'mhsm-two']);
    const patched = await kv.managedHsms.update(RG, 'mhsm-two', { tags: { env: 'prod' } }, FAST);
    expect(patched.tags).toEqual({ env: 'prod' });
    expect(await collect(kv.managedHsms.listDeleted())).toEqual([]);
  });

  test('checkMhsmNameAvailability', async () => {
    expect(await kv.managedHsms.checkMhsmNameAvailability({ name: 'mhsm-one' })).toMatchObject({ nameAvailable: false, reason: 'AlreadyExists' });
    expect(await kv.managedHsms.checkMhsmNameAvailability({ name: 'mhsm-free' })).toMatchObject({ nameAvailable: true });
    expect((await kv.managedHsms.checkMhsmNameAvailability({ name: '1bad' })).nameAvailable).toBe(false);
  });

  test.each<[string, string, Record<string, unknown>, string]>([
    ['another tenant', 'mhsm-bad', managedBody(randomUUID(), [randomUUID()]), ArmCodes.InvalidParameter],
    ['no administrators', 'mhsm-bad', managedBody('TENANT', []), ArmCodes.InvalidParameter],
    ['an administrator that is not an object id', 'mhsm-bad', managedBody('TENANT', ['alice']), ArmCodes.InvalidParameter],
    ['a retention of 5 days', 'mhsm-bad', managedBody('TENANT', [randomUUID()], { softDeleteRetentionInDays: 5 }), ArmCodes.InvalidParameter],
    ['soft delete off', 'mhsm-bad', managedBody('TENANT', [randomUUID()], { enableSoftDelete: false }), ArmCodes.InvalidParameter],
    ['an unknown SKU', 'mhsm-bad', { ...managedBody('TENANT', [randomUUID()]), sku: { family: 'B', name: 'Premium' } }, ArmCodes.InvalidParameter],
    ['an unknown SKU family', 'mhsm-bad', { ...managedBody('TENANT', [randomUUID()]), sku: { family: 'A', name: 'Standard_B1' } }, ArmCodes.InvalidParameter],
    ['createMode recover for a name never deleted', 'mhsm-bad', managedBody('TENANT', [randomUUID()], { createMode: 'recover' }), ArmCodes.ResourceNotFound],
    ['a location Managed HSM is not offered in', 'mhsm-bad', { ...managedBody('TENANT', [randomUUID()]), location: 'mars' }, ArmCodes.LocationNotAvailableForResourceType],
    ['extra regions', 'mhsm-bad', managedBody('TENANT', [randomUUID()], { regions: [{ name: 'northeurope' }] }), ArmCodes.NotSupported],
    ['a bad network rule', 'mhsm-bad', managedBody('TENANT', [randomUUID()], { networkAcls: { ipRules: [{ value: '300.1.1.1' }] } }), ArmCodes.InvalidParameter],
    ['a name with two hyphens in a row', 'mhsm--bad', managedBody('TENANT', [randomUUID()]), ArmCodes.InvalidResourceName],
    ['a name taken in another resource group', 'mhsm-one', managedBody('TENANT', [randomUUID()]), ArmCodes.Conflict],
  ])('fails with %s and creates nothing', async (_what, name, body, code) => {
    const b = JSON.parse(JSON.stringify(body).replace(/"TENANT"/g, JSON.stringify(h.sim.tenantId)));
    const rg = name === 'mhsm-one' ? 'rg-elsewhere' : RG;
    const r = await h.request('PUT', managedPath(name, rg), b);
    const status = code === ArmCodes.Conflict ? 409 : code === ArmCodes.ResourceNotFound ? 404 : 400;
    expect([r.status, r.body.error.code]).toEqual([status, code]);
    expect((await h.request('GET', managedPath(name, rg))).status).toBe(404);
    expect(h.sim.registry.list().map((i) => i.name).sort()).toEqual(['mhsm-one', 'mhsm-two']);
  });

  test('api-versions: the ones azurerm and the SDK use are served, others refused in ARM shape', async () => {
    expect((await h.request('GET', managedPath('mhsm-one', RG, '2023-07-01'))).status).toBe(200);
    expect((await h.request('GET', managedPath('mhsm-one', RG, '2026-02-01'))).status).toBe(200);
    const old = await h.request('GET', managedPath('mhsm-one', RG, '2019-09-01'));
    expect([old.status, old.body.error.code]).toEqual([400, ArmCodes.NoRegisteredProviderFound]);
    expect(old.body.error.message).toContain('2023-07-01');
    const bad = await h.request('GET', managedPath('mhsm-one', RG, '7.4'));
    expect([bad.status, bad.body.error.code]).toEqual([400, ArmCodes.InvalidApiVersionParameter]);
  });

  test('re-PUT: network settings and tags change; retention changes and turning purge protection off are refused', async () => {
    const again = await h.request('PUT', managedPath('mhsm-two'), managedBody(h.sim.tenantId, [h.objectId], { enablePurgeProtection: true, publicNetworkAccess: 'Disabled' }));
    expect(again.status).toBe(200);
    expect(again.body.properties.publicNetworkAccess).toBe('Disabled');
    const retention = await h.request('PUT', managedPath('mhsm-two'), managedBody(h.sim.tenantId, [h.objectId], { enablePurgeProtection: true, softDeleteRetentionInDays: 30 }));
    expect([retention.status, retention.body.error.code]).toEqual([400, ArmCodes.PropertyChangeNotAllowed]);
    const purgeOff = await h.request('PUT', managedPath('mhsm-two'), managedBody(h.sim.tenantId, [h.objectId], { enablePurgeProtection: false }));
    expect([purgeOff.status, purgeOff.body.error.code]).toEqual([400, ArmCodes.InvalidParameter]);
    expect(h.sim.managedHsm('mhsm-two').record().purgeProtection).toBe(true);
    const moved = await h.request('PUT', managedPath('mhsm-two'), { ...managedBody(h.sim.tenantId, [h.objectId], { enablePurgeProtection: true }), location: 'northeurope' });
    expect([moved.status, moved.body.error.code]).toEqual([400, ArmCodes.InvalidResourceLocation]);
  });

  test('turning purge protection on for an existing Managed HSM reaches its instance (Azure allows it; turning it off is refused above)', async () => {
    expect(h.sim.managedHsm('mhsm-one').record().purgeProtection).toBe(false);
    const on = await h.request('PUT', managedPath('mhsm-one'), managedBody(h.sim.tenantId, [h.objectId], { enablePurgeProtection: true }));
    expect(on.status).toBe(200);
    expect(on.body.properties.enablePurgeProtection).toBe(true);
    expect(h.sim.managedHsm('mhsm-one').record().purgeProtection).toBe(true);
  });
});
