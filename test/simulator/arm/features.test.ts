import { FeatureClient } from '@azure/arm-features';
import { ArmCodes } from '../../../simulator/arm/errors';
import { ArmHarness, SUB } from './arm-harness';

const FEATURES_API = '2021-07-01';
/** One registration step of simulator time: transitions end only when a test moves the clock, never by waiting. */
const STEP_MS = 3_600_000;
const STEP_S = STEP_MS / 1000;
const featurePath = (ns: string, name: string, action = '') => `/subscriptions/${SUB}/providers/Microsoft.Features/providers/${ns}/features/${name}${action}?api-version=${FEATURES_API}`;

describe('ARM plane: Microsoft.Features feature registrations', () => {
  let h: ArmHarness;
  let features: FeatureClient;
  beforeAll(async () => {
    h = await ArmHarness.start({ arm: { provisioningStepMs: STEP_MS } });
    features = new FeatureClient(h.credential, SUB, {
      endpoint: h.arm,
      // With a custom endpoint the client would otherwise ask for a token for <endpoint>/.default.
      credentialScopes: ['https://management.azure.com/.default'],
      tlsOptions: { ca: h.sim.caCert },
      retryOptions: { maxRetries: 0 },
    } as ConstructorParameters<typeof FeatureClient>[2]);
  });
  afterAll(() => h.close());

  test('GIVEN a new subscription WHEN the real FeatureClient reads AzureDedicatedHSM THEN it is NotRegistered, in Azure shape', async () => {
    const f = await features.features.get('Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM');
    expect(f.properties?.state).toBe('NotRegistered');
    expect(f.name).toBe('Microsoft.HardwareSecurityModules/AzureDedicatedHSM');
    expect(f.type).toBe('Microsoft.Features/providers/features');
    expect(f.id).toBe(`/subscriptions/${SUB}/providers/Microsoft.Features/providers/Microsoft.HardwareSecurityModules/features/AzureDedicatedHSM`);
  });

  test('register moves a feature to Registering, then Registered; a second register changes nothing', async () => {
    const r = await features.features.register('Microsoft.Network', 'AllowBaremetalServers');
    expect(r.properties?.state).toBe('Registering');
    expect((await features.features.get('Microsoft.Network', 'AllowBaremetalServers')).properties?.state).toBe('Registering');
    await h.advanceClock(STEP_S - 1);
    expect((await features.features.get('Microsoft.Network', 'AllowBaremetalServers')).properties?.state).toBe('Registering');
    await h.advanceClock(1);
    expect((await features.features.get('Microsoft.Network', 'AllowBaremetalServers')).properties?.state).toBe('Registered');
    expect((await features.features.register('Microsoft.Network', 'AllowBaremetalServers')).properties?.state).toBe('Registered');
    // Names are case-insensitive, as on ARM (the seed's `az feature show` answers AzureDedicatedHsm).
    expect((await features.features.get('microsoft.network', 'allowbaremetalservers')).properties?.state).toBe('Registered');
  });

  test('unregister moves a registered feature to Unregistering, then Unregistered', async () => {
    await features.features.register('Microsoft.HardwareSecurityModules', 'AzureDedicatedHsm');
    await h.advanceClock(STEP_S);
    const u = await features.features.unregister('Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM');
    expect(u.properties?.state).toBe('Unregistering');
    await h.advanceClock(STEP_S);
    expect((await features.features.get('Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM')).properties?.state).toBe('Unregistered');
  });

  test('lists features of a namespace and of the subscription', async () => {
    const ns = [];
    for await (const f of features.features.list('Microsoft.HardwareSecurityModules')) ns.push(f.name);
    expect(ns).toEqual(['Microsoft.HardwareSecurityModules/AzureDedicatedHSM']);
    const all = [];
    for await (const f of features.features.listAll()) all.push(f.name);
    expect(all).toEqual(expect.arrayContaining(['Microsoft.HardwareSecurityModules/AzureDedicatedHSM', 'Microsoft.Network/AllowBaremetalServers']));
  });

  test('state is kept per subscription', async () => {
    const other = '99999999-2222-3333-4444-555555555555';
    const r = await h.request('GET', `/subscriptions/${other}/providers/Microsoft.Features/providers/Microsoft.Network/features/AllowBaremetalServers?api-version=${FEATURES_API}`);
    expect(r.status).toBe(200);
    expect(r.body.properties.state).toBe('NotRegistered');
  });

  test('fails when the feature is unknown, the namespace malformed, the api-version missing or the method wrong: ARM error shape', async () => {
    const unknown = await h.request('GET', featurePath('Microsoft.Network', 'NoSuchFeature'));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe(ArmCodes.FeatureNotFound);
    expect(unknown.body.error.message).toMatch(/NoSuchFeature/);
    const bad = await h.request('POST', featurePath('not%20a%20namespace', 'X', '/register'));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe(ArmCodes.InvalidResourceNamespace);
    const noVersion = await h.request('GET', `/subscriptions/${SUB}/providers/Microsoft.Features/providers/Microsoft.Network/features/AllowBaremetalServers`);
    expect(noVersion.body.error.code).toBe(ArmCodes.MissingApiVersionParameter);
    const wrongVersion = await h.request('GET', featurePath('Microsoft.Network', 'AllowBaremetalServers').replace(FEATURES_API, '2099-01-01'));
    expect(wrongVersion.body.error.code).toBe(ArmCodes.NoRegisteredProviderFound);
    const get = await h.request('GET', featurePath('Microsoft.Network', 'AllowBaremetalServers', '/register'));
    expect(get.status).toBe(405);
    expect(get.body.error.code).toBe(ArmCodes.MethodNotAllowed);
    const sub = await h.request('GET', `/subscriptions/not-a-guid/providers/Microsoft.Features/features?api-version=${FEATURES_API}`);
    expect(sub.body.error.code).toBe(ArmCodes.InvalidSubscriptionId);
    const anon = await h.request('GET', featurePath('Microsoft.Network', 'AllowBaremetalServers'), undefined, null);
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe(ArmCodes.AuthenticationFailed);
  });

  test('registrations survive a restart of the simulator, a transition caught in the middle included', async () => {
    const r = await h.request('POST', featurePath('Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM', '/register'));
    expect(r.body.properties.state).toBe('Registering');
    await h.sim.close();
    h = await ArmHarness.start({ dir: h.dir, objectId: h.objectId, secret: h.secret, arm: { provisioningStepMs: STEP_MS } });
    // The clock's offset survived the restart too: the transition is still due one step after it began.
    expect((await h.request('GET', featurePath('Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM'))).body.properties.state).toBe('Registering');
    await h.advanceClock(STEP_S);
    expect((await h.request('GET', featurePath('Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM'))).body.properties.state).toBe('Registered');
    expect((await h.request('GET', featurePath('Microsoft.Network', 'AllowBaremetalServers'))).body.properties.state).toBe('Registered');
  });
});
