import * as fs from 'fs';
import { RestError } from '@azure/core-rest-pipeline';
import { DedicatedHsm } from '@azure/arm-hardwaresecuritymodules';
import { ArmCodes } from '../../../simulator/arm/errors';
import { ArmHarness, RG, SUB, SUBNET, dedicatedHsm, dedicatedPath } from './arm-harness';
import { initialiseHsm, sshBanner, zeroizeHsm } from './lunash';

const FAST = { updateIntervalInMs: 10 };

async function armError(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RestError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('ARM plane: Dedicated HSMs through @azure/arm-hardwaresecuritymodules', () => {
  let h: ArmHarness;
  beforeAll(async () => {
    h = await ArmHarness.start();
  });
  afterAll(async () => {
    await h.close();
  });

  test('creates an HA pair (stamp1, stamp2), reads, lists by resource group and subscription, and starts a Luna appliance per HSM', async () => {
    const ops = h.client.dedicatedHsmOperations;
    const a = await ops.beginCreateOrUpdateAndWait(RG, 'hsm-a', dedicatedHsm('10.0.2.4'), FAST);
    const b = await ops.beginCreateOrUpdateAndWait('rg-other', 'hsm-b', dedicatedHsm('10.0.2.5', { stampId: 'stamp2' }), FAST);
    expect(a.provisioningState).toBe('Succeeded');
    expect(a.id).toBe(`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs/hsm-a`);
    expect(a.type).toBe('Microsoft.HardwareSecurityModules/dedicatedHSMs');
    expect(a.sku?.name).toBe('SafeNet Luna Network HSM A790');
    expect(a.stampId).toBe('stamp1');
    expect(b.stampId).toBe('stamp2');
    expect(a.networkProfile?.subnet?.id).toBe(SUBNET);
    expect(a.networkProfile?.networkInterfaces?.[0].privateIpAddress).toBe('10.0.2.4');
    expect(a.systemData?.createdBy).toBe(h.objectId);

    const got = await ops.get(RG, 'hsm-a');
    expect(got.provisioningState).toBe('Succeeded');
    expect(got.tags).toEqual({ env: 'test' });

    expect((await collect(ops.listByResourceGroup(RG))).map((x) => x.name)).toEqual(['hsm-a']);
    expect((await collect(ops.listByResourceGroup('rg-other'))).map((x) => x.name)).toEqual(['hsm-b']);
    expect((await collect(ops.listByResourceGroup('rg-empty'))).map((x) => x.name)).toEqual([]);
    expect((await collect(ops.listBySubscription())).map((x) => x.name).sort()).toEqual(['hsm-a', 'hsm-b']);

    // Each HSM's appliance listens where endpoints.json says, and speaks SSH.
    const listed = JSON.parse(fs.readFileSync(h.sim.endpointsFile, 'utf8')).dedicatedHsms as Array<{ name: string; privateIpAddress: string; sshPort: number; ntlsPort: number }>;
    expect(listed.map((d) => [d.name, d.privateIpAddress]).sort()).toEqual([
      ['hsm-a', '10.0.2.4'],
      ['hsm-b', '10.0.2.5'],
    ]);
    for (const d of listed) {
      expect(await sshBanner(d.sshPort)).toMatch(/^SSH-2\.0-/);
      expect(d.ntlsPort).toBeGreaterThan(0);
    }
  });

  test('PATCH changes tags only', async () => {
    const ops = h.client.dedicatedHsmOperations;
    const r = await ops.beginUpdateAndWait(RG, 'hsm-a', { tags: { env: 'prod', owner: 'secops' }, ...FAST });
    expect(r.tags).toEqual({ env: 'prod', owner: 'secops' });
    expect((await ops.get(RG, 'hsm-a')).tags).toEqual({ env: 'prod', owner: 'secops' });
    const bad = await h.request('PATCH', dedicatedPath('hsm-a'), { tags: { a: 'b' }, sku: { name: 'payShield10K_LMK1_CPS60' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe(ArmCodes.InvalidParameter);
    expect((await ops.get(RG, 'hsm-a')).tags).toEqual({ env: 'prod', owner: 'secops' });
  });

  test('re-PUT with the same properties is an update (200); changing an immutable property is refused', async () => {
    const ops = h.client.dedicatedHsmOperations;
    const r = await ops.beginCreateOrUpdateAndWait(RG, 'hsm-a', dedicatedHsm('10.0.2.4', { tags: { env: 'again' } }), FAST);
    expect(r.tags).toEqual({ env: 'again' });
    const err = await armError(ops.beginCreateOrUpdateAndWait(RG, 'hsm-a', dedicatedHsm('10.0.2.9'), FAST));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe(ArmCodes.PropertyChangeNotAllowed);
    expect(err.message).toContain('privateIpAddress');
    expect((await ops.get(RG, 'hsm-a')).networkProfile?.networkInterfaces?.[0].privateIpAddress).toBe('10.0.2.4');
  });

  test.each<[string, DedicatedHsm, string, string]>([
    ['an unknown SKU', dedicatedHsm('10.0.3.4', { sku: { name: 'Luna 7' } }), ArmCodes.InvalidParameter, 'SafeNet Luna Network HSM A790'],
    ['stampId with zones', dedicatedHsm('10.0.3.4', { zones: ['1'] }), ArmCodes.InvalidParameter, 'stampId'],
    ['a missing subnet id', dedicatedHsm('10.0.3.4', { networkProfile: { subnet: {}, networkInterfaces: [{ privateIpAddress: '10.0.3.4' }] } }), ArmCodes.InvalidParameter, 'subnet.id'],
    ['a malformed subnet id', dedicatedHsm('10.0.3.4', { networkProfile: { subnet: { id: '/subscriptions/x/subnets/y' }, networkInterfaces: [{ privateIpAddress: '10.0.3.4' }] } }), ArmCodes.InvalidParameter, 'subnet'],
    ['a malformed private IP', dedicatedHsm('10.0.3.256'), ArmCodes.InvalidParameter, 'privateIpAddress'],
    ['a private IP with leading zeros', dedicatedHsm('10.0.03.4'), ArmCodes.InvalidParameter, 'privateIpAddress'],
    ['no network interface', dedicatedHsm('10.0.3.4', { networkProfile: { subnet: { id: SUBNET } } }), ArmCodes.InvalidParameter, 'networkInterfaces'],
    ['an unknown stamp', dedicatedHsm('10.0.3.4', { stampId: 'stamp3' }), ArmCodes.InvalidParameter, 'stamp1'],
    ['a management network on the Luna SKU', dedicatedHsm('10.0.3.4', { managementNetworkProfile: { subnet: { id: SUBNET } } }), ArmCodes.InvalidParameter, 'payShield'],
    ['a payShield SKU (not simulated)', dedicatedHsm('10.0.3.4', { sku: { name: 'payShield10K_LMK1_CPS60' }, managementNetworkProfile: { subnet: { id: SUBNET } } }), ArmCodes.NotSupported, 'payShield'],
    ['an IP used by another HSM in the subnet', dedicatedHsm('10.0.2.4'), ArmCodes.PrivateIPAddressInUse, '10.0.2.4'],
  ])('fails when the body has %s, and creates nothing', async (_what, body, code, mentions) => {
    const err = await armError(h.client.dedicatedHsmOperations.beginCreateOrUpdateAndWait(RG, 'hsm-bad', body, FAST));
    expect(err.code).toBe(code);
    expect(err.statusCode).toBeGreaterThanOrEqual(400);
    expect(err.statusCode).toBeLessThan(500);
    expect(err.message).toContain(mentions);
    expect((await h.request('GET', dedicatedPath('hsm-bad'))).body.error.code).toBe(ArmCodes.ResourceNotFound);
  });

  test('raw requests: names, api-versions, JSON, subscription and resource group ids, auth, unknown types', async () => {
    const cases: Array<[string, string, unknown, number, string]> = [
      ['PUT', dedicatedPath('a_b'), dedicatedHsm('10.0.4.4'), 400, ArmCodes.InvalidResourceName],
      ['PUT', dedicatedPath('ab'), dedicatedHsm('10.0.4.4'), 400, ArmCodes.InvalidResourceName],
      ['PUT', dedicatedPath('hsm-x').replace('2021-11-30', '2018-10-31-preview'), wire(dedicatedHsm('10.0.4.4')), 400, ArmCodes.NoRegisteredProviderFound],
      ['PUT', dedicatedPath('hsm-x').replace('2021-11-30', 'latest'), wire(dedicatedHsm('10.0.4.4')), 400, ArmCodes.InvalidApiVersionParameter],
      ['GET', dedicatedPath('hsm-x').replace('?api-version=2021-11-30', ''), undefined, 400, ArmCodes.MissingApiVersionParameter],
      ['PUT', dedicatedPath('hsm-x'), '{"location": ', 400, ArmCodes.InvalidRequestContent],
      ['PUT', dedicatedPath('hsm-x'), '[1,2]', 400, ArmCodes.InvalidRequestContent],
      ['PUT', dedicatedPath('hsm-x'), { ...wire(dedicatedHsm('10.0.4.4')), location: undefined }, 400, ArmCodes.InvalidParameter],
      ['PUT', dedicatedPath('hsm-x'), { ...wire(dedicatedHsm('10.0.4.4')), tags: { 'a/b': 'x' } }, 400, ArmCodes.InvalidParameter],
      ['GET', dedicatedPath('hsm-x').replace(SUB, 'not-a-guid'), undefined, 400, ArmCodes.InvalidSubscriptionId],
      ['GET', dedicatedPath('hsm-x', 'rg.'), undefined, 400, ArmCodes.InvalidResourceGroupName],
      ['GET', dedicatedPath('hsm-x'), undefined, 404, ArmCodes.ResourceNotFound],
      ['GET', dedicatedPath('hsm-x').replace('dedicatedHSMs', 'cloudHsmClusters'), undefined, 400, ArmCodes.InvalidResourceType],
      ['GET', dedicatedPath('hsm-x').replace('Microsoft.HardwareSecurityModules', 'Microsoft.Compute'), undefined, 400, ArmCodes.InvalidResourceNamespace],
      ['POST', dedicatedPath('hsm-a'), {}, 405, ArmCodes.MethodNotAllowed],
    ];
    for (const [method, p, body, status, code] of cases) {
      const r = await h.request(method, p, body);
      expect([method, p, r.status, r.body?.error?.code]).toEqual([method, p, status, code]);
      expect(typeof r.body.error.message).toBe('string');
    }
    const none = await h.request('GET', dedicatedPath('hsm-a'), undefined, null);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe(ArmCodes.AuthenticationFailed);
    const wrongAudience = await h.request('GET', dedicatedPath('hsm-a'), undefined, await h.token('https://managedhsm.azure.net/.default'));
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.body.error.code).toBe(ArmCodes.InvalidAuthenticationTokenAudience);
    const forged = await h.request('GET', dedicatedPath('hsm-a'), undefined, 'a.b.c');
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe(ArmCodes.InvalidAuthenticationToken);
    expect((await collect(h.client.dedicatedHsmOperations.listBySubscription())).map((x) => x.name).sort()).toEqual(['hsm-a', 'hsm-b']);
  });

  test('a list is paged with $top and nextLink', async () => {
    const p = `/subscriptions/${SUB}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs?api-version=2021-11-30&$top=1`;
    const first = await h.request('GET', p);
    expect(first.body.value).toHaveLength(1);
    const next = new URL(first.body.nextLink);
    const second = await h.request('GET', next.pathname + next.search);
    expect(second.body.value).toHaveLength(1);
    expect(second.body.nextLink).toBeUndefined();
    expect([first.body.value[0].name, second.body.value[0].name].sort()).toEqual(['hsm-a', 'hsm-b']);
    expect((await h.request('GET', p.replace('$top=1', '$top=0'))).body.error.code).toBe(ArmCodes.InvalidParameter);
  });

  test('a Dedicated HSM cannot be deleted before it is zeroized; once zeroized it is deleted and its appliance is gone', async () => {
    const ops = h.client.dedicatedHsmOperations;
    const d = h.sim.endpoints().dedicatedHsms.find((x) => x.name === 'hsm-a')!;
    await initialiseHsm(d.sshPort!, 'Admin#Pass2024', 'SoPass#2024');

    const refused = await armError(ops.beginDeleteAndWait(RG, 'hsm-a', FAST));
    expect(refused.statusCode).toBe(409);
    expect(refused.code).toBe(ArmCodes.HsmNotZeroized);
    expect((await ops.get(RG, 'hsm-a')).provisioningState).toBe('Succeeded');
    expect(await sshBanner(d.sshPort!)).toMatch(/^SSH-2\.0-/);

    await zeroizeHsm(d.sshPort!, 'Admin#Pass2024', 'SoPass#2024');
    await ops.beginDeleteAndWait(RG, 'hsm-a', FAST);
    expect((await armError(ops.get(RG, 'hsm-a'))).code).toBe(ArmCodes.ResourceNotFound);
    expect(h.sim.endpoints().dedicatedHsms.map((x) => x.name)).toEqual(['hsm-b']);
    await expect(sshBanner(d.sshPort!)).rejects.toThrow();
    // Deleting what is not there is a success with nothing to do (204), as on ARM.
    expect((await h.request('DELETE', dedicatedPath('hsm-a'))).status).toBe(204);
  });

  test('a fresh (zeroized) HSM deletes through DELETE 202 + Azure-AsyncOperation + Location', async () => {
    const del = await h.request('DELETE', dedicatedPath('hsm-b', 'rg-other'));
    expect(del.status).toBe(202);
    const async = String(del.headers['azure-asyncoperation']);
    expect(async).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:\\d+/subscriptions/${SUB}/providers/Microsoft.HardwareSecurityModules/locations/westeurope/operationStatuses/[0-9a-f-]{36}\\?api-version=2021-11-30$`));
    expect(String(del.headers.location)).toContain('/operationResults/');
    const done = await h.waitOperation(async);
    expect(done.status).toBe('Succeeded');
    const loc = new URL(String(del.headers.location));
    expect((await h.request('GET', loc.pathname + loc.search)).status).toBe(204);
    expect((await collect(h.client.dedicatedHsmOperations.listBySubscription())).length).toBe(0);
  });
});

/** The wire form of an SDK model (properties nested), for raw requests. */
function wire(m: DedicatedHsm): Record<string, unknown> {
  const { networkProfile, managementNetworkProfile, stampId, ...rest } = m;
  return { ...rest, properties: { networkProfile, managementNetworkProfile, stampId } };
}
