import { randomUUID } from 'crypto';
import { Harness, httpsRequest, testLogger } from './harness';
import { ErrorCodes, SimulatorHandle, startSimulator } from '../../simulator';

/** Creates, starts, recoveries and purges of one Managed HSM run one at a time: never two data planes for one name. */
describe('Managed HSM registry under concurrent calls', () => {
  let dir: string;
  let sim: SimulatorHandle;
  beforeAll(async () => {
    dir = Harness.tempDir('mhsm-registry-');
    sim = await startSimulator({ stateDir: dir, logger: testLogger });
  });
  afterAll(() => sim.close());

  const spec = (name: string) => ({ name, administrators: [randomUUID()] });

  test('two creates of one name at once make one instance; the other is refused with 409 Conflict', async () => {
    const results = await Promise.allSettled([sim.createManagedHsm(spec('twin')), sim.createManagedHsm(spec('twin'))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ status: 409, code: ErrorCodes.Conflict });
    const made = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<unknown>).value;
    expect(sim.managedHsm('twin')).toBe(made);
    expect(sim.endpoints().managedHsms.filter((m) => m.name === 'twin')).toHaveLength(1);
  });

  test('two recoveries of a deleted HSM at once open one data plane, which answers', async () => {
    await sim.createManagedHsm(spec('phoenix'));
    await sim.registry.softDelete('phoenix', { deletionDate: 1, scheduledPurgeDate: 2 });
    // A journal write in flight puts both recoveries' commits in one batch: they resume together.
    const inFlight = sim.registry.enablePurgeProtection('twin');
    const [a, b] = await Promise.all([sim.registry.recover('phoenix'), sim.registry.recover('phoenix')]);
    await inFlight;
    expect(a).toBe(b);
    expect(sim.managedHsm('phoenix')).toBe(a);
    // Unauthenticated: the challenge comes from the one listener the registry holds.
    expect((await httpsRequest(a.hsmUri, sim.caCert, 'GET', '/keys?api-version=7.4')).status).toBe(401);
  });

  test('a recovery that comes while a purge runs finds nothing to recover, and leaves no data plane behind', async () => {
    await sim.createManagedHsm(spec('doomed'));
    await sim.registry.softDelete('doomed', { deletionDate: 1, scheduledPurgeDate: 2 });
    const inFlight = sim.registry.enablePurgeProtection('twin');
    const [purged, recovered] = await Promise.allSettled([sim.registry.purge('doomed'), sim.registry.recover('doomed'), inFlight]);
    expect(purged.status).toBe('fulfilled');
    expect(recovered).toMatchObject({ status: 'rejected', reason: { status: 404 } });
    expect(sim.registry.stored('doomed')).toBeUndefined();
    expect(sim.registry.get('doomed')).toBeUndefined();
    expect(sim.endpoints().managedHsms.map((m) => m.name)).not.toContain('doomed');
  });
});
