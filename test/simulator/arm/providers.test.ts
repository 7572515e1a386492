import { ResourceManagementClient, ResourceManagementClientOptionalParams } from '@azure/arm-resources';
import { ArmCodes } from '../../../simulator/arm/errors';
import { ArmHarness, SUB, dedicatedHsm, dedicatedPath, managedBody, managedPath } from './arm-harness';

const PROVIDERS_API = '2021-04-01';
/** One registration step of simulator time: transitions end when the test moves the clock, never by waiting. */
const STEP_MS = 3_600_000;

describe('ARM plane: Microsoft.Resources provider registrations', () => {
  let h: ArmHarness;
  let resources: ResourceManagementClient;
  beforeAll(async () => {
    h = await ArmHarness.start({ arm: { provisioningStepMs: STEP_MS } });
    resources = new ResourceManagementClient(h.credential, SUB, {
      endpoint: h.arm,
      credentialScopes: ['https://management.azure.com/.default'],
      tlsOptions: { ca: h.sim.caCert },
      retryOptions: { maxRetries: 0 },
    } as ResourceManagementClientOptionalParams);
  });
  afterAll(() => h.close());

  test('GIVEN a new subscription WHEN the real client reads the HSM provider THEN it is NotRegistered; Microsoft.Resources is Registered', async () => {
    const p = await resources.providers.get('Microsoft.HardwareSecurityModules');
    expect(p.namespace).toBe('Microsoft.HardwareSecurityModules');
    expect(p.registrationState).toBe('NotRegistered');
    expect(p.id).toBe(`/subscriptions/${SUB}/providers/Microsoft.HardwareSecurityModules`);
    expect(p.resourceTypes?.map((t) => t.resourceType)).toContain('dedicatedHSMs');
    expect((await resources.providers.get('Microsoft.Resources')).registrationState).toBe('Registered');
  });

  test('register moves a provider to Registering, then Registered; unregister back to NotRegistered', async () => {
    const r = await resources.providers.register('Microsoft.KeyVault');
    expect(r.registrationState).toBe('Registering');
    expect((await resources.providers.get('microsoft.keyvault')).registrationState).toBe('Registering');
    await h.advanceClock(STEP_MS / 1000);
    expect((await resources.providers.get('microsoft.keyvault')).registrationState).toBe('Registered');
    expect((await resources.providers.register('Microsoft.KeyVault')).registrationState).toBe('Registered');
    expect((await resources.providers.unregister('Microsoft.KeyVault')).registrationState).toBe('Unregistering');
    await h.advanceClock(STEP_MS / 1000);
    expect((await resources.providers.get('Microsoft.KeyVault')).registrationState).toBe('NotRegistered');
  });

  test('lists the providers with their states', async () => {
    const all: Record<string, string | undefined> = {};
    for await (const p of resources.providers.list()) all[p.namespace!] = p.registrationState;
    expect(all['Microsoft.Network']).toBe('NotRegistered');
    expect(all['Microsoft.Features']).toBe('Registered');
  });

  test('registering a provider does not register the preview features under it', async () => {
    await resources.providers.register('Microsoft.Network');
    await h.advanceClock(STEP_MS / 1000);
    expect((await resources.providers.get('Microsoft.Network')).registrationState).toBe('Registered');
    const f = await h.request('GET', `/subscriptions/${SUB}/providers/Microsoft.Features/providers/Microsoft.Network/features/AllowBaremetalServers?api-version=2021-07-01`);
    expect(f.body.properties.state).toBe('NotRegistered');
  });

  test('fails on an unknown namespace (404), a malformed one (400), a wrong api-version or method: ARM error shape', async () => {
    const unknown = await h.request('GET', `/subscriptions/${SUB}/providers/Contoso.Nothing?api-version=${PROVIDERS_API}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe(ArmCodes.InvalidResourceNamespace);
    const reg = await h.request('POST', `/subscriptions/${SUB}/providers/Contoso.Nothing/register?api-version=${PROVIDERS_API}`);
    expect(reg.status).toBe(404);
    const bad = await h.request('GET', `/subscriptions/${SUB}/providers/x%20y?api-version=${PROVIDERS_API}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe(ArmCodes.InvalidResourceNamespace);
    const v = await h.request('GET', `/subscriptions/${SUB}/providers/Microsoft.Network?api-version=1999-01-01`);
    expect(v.body.error.code).toBe(ArmCodes.NoRegisteredProviderFound);
    const m = await h.request('DELETE', `/subscriptions/${SUB}/providers/Microsoft.Network?api-version=${PROVIDERS_API}`);
    expect(m.status).toBe(405);
    const g = await h.request('GET', `/subscriptions/${SUB}/providers/Microsoft.Network/register?api-version=${PROVIDERS_API}`);
    expect(g.status).toBe(405);
  });

  test('the resource routes still answer: a resource type named like a namespace action is not swallowed', async () => {
    const r = await h.request('GET', `/subscriptions/${SUB}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs?api-version=2021-11-30`);
    expect(r.status).toBe(200);
    expect(r.body.value).toEqual([]);
  });

  test('the HSM resource types list their regions, and a PUT is checked against them (LocationNotAvailableForResourceType)', async () => {
    const regions = async (ns: string, type: string) => (await resources.providers.get(ns)).resourceTypes!.find((t) => t.resourceType === type)!.locations!;
    const managed = await regions('Microsoft.KeyVault', 'managedHSMs');
    const dedicated = await regions('Microsoft.HardwareSecurityModules', 'dedicatedHSMs');
    expect(managed).toEqual(expect.arrayContaining(['West Europe', 'North Europe', 'Poland Central']));
    expect(dedicated).toEqual(expect.arrayContaining(['West Europe', 'North Europe', 'Switzerland West']));
    const name = (l: string) => l.toLowerCase().replace(/ /g, '');

    // A region the provider lists for Managed HSM, given as its display name, is taken and stored in ARM's form.
    const ok = await h.request('PUT', managedPath('mhsm-poland'), { ...managedBody(h.sim.tenantId, [h.objectId]), location: 'Poland Central' });
    expect([ok.status, ok.body.location]).toEqual([201, 'polandcentral']);

    // Poland Central has no Dedicated HSM; "mars" has nothing. The message is ARM's, with the listed regions.
    const wire = (ip: string, location: string) => {
      const { networkProfile, stampId, ...rest } = dedicatedHsm(ip);
      return { ...rest, location, properties: { networkProfile, stampId } };
    };
    expect(dedicated).not.toContain('Poland Central');
    const noDedicated = await h.request('PUT', dedicatedPath('hsm-poland'), wire('10.0.9.4', 'Poland Central'));
    expect([noDedicated.status, noDedicated.body.error.code]).toEqual([400, ArmCodes.LocationNotAvailableForResourceType]);
    expect(noDedicated.body.error.message).toBe(
      `The provided location 'polandcentral' is not available for resource type 'Microsoft.HardwareSecurityModules/dedicatedHSMs'. List of available regions for the resource type is '${dedicated.map(name).join(',')}'.`,
    );
    const mars = await h.request('PUT', managedPath('mhsm-mars'), { ...managedBody(h.sim.tenantId, [h.objectId]), location: 'mars' });
    expect([mars.status, mars.body.error.code]).toEqual([400, ArmCodes.LocationNotAvailableForResourceType]);
    expect(mars.body.error.message).toBe(
      `The provided location 'mars' is not available for resource type 'Microsoft.KeyVault/managedHSMs'. List of available regions for the resource type is '${managed.map(name).join(',')}'.`,
    );
    // Nothing was made by the refused ones.
    expect((await h.request('GET', dedicatedPath('hsm-poland'))).status).toBe(404);
    expect((await h.request('GET', managedPath('mhsm-mars'))).status).toBe(404);
    expect(h.sim.registry.stored('mhsm-mars')).toBeUndefined();
  });
});
