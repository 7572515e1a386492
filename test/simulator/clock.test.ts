import * as fs from 'fs';
import * as path from 'path';
import { SimulatorClock } from '../../simulator/clock';
import { Journal } from '../../simulator/store/journal';
import { CRYPTO_USER, Harness } from './harness';

describe('SimulatorClock', () => {
  let dir: string;
  beforeEach(() => {
    dir = Harness.tempDir('clock-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('an advance fires the timers it carries the clock past, in due order, and not the others', async () => {
    const clock = SimulatorClock.wall();
    const fired: string[] = [];
    clock.schedule(3_600_000, () => fired.push('hour'));
    clock.schedule(60_000, () => fired.push('minute'));
    clock.schedule(86_400_000, () => fired.push('day'));
    await clock.advance(3600);
    expect(fired).toEqual(['minute', 'hour']);
    const cancel = clock.schedule(1000, () => fired.push('cancelled'));
    cancel();
    await clock.advance(86_400);
    expect(fired).toEqual(['minute', 'hour', 'day']);
    clock.close();
  });

  test('an advance resolves once the timers it fired and its listeners have finished', async () => {
    const clock = SimulatorClock.wall();
    let done = false;
    clock.schedule(1000, async () => {
      await new Promise((r) => setImmediate(r));
      done = true;
    });
    const seen: number[] = [];
    clock.onAdvance((now) => void seen.push(now));
    const before = clock.now();
    await clock.advance(5);
    expect(done).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0] - before).toBeGreaterThanOrEqual(5000);
    clock.close();
  });

  test('the offset is kept in the journal: a reopened clock is as far ahead', async () => {
    let store = Journal.open(path.join(dir, 'state'));
    await SimulatorClock.open(store).advance(90 * 86400);
    await store.close();
    store = Journal.open(path.join(dir, 'state'));
    const clock = SimulatorClock.open(store);
    expect(clock.offset).toBe(90 * 86400 * 1000);
    expect(clock.now() - Date.now()).toBeGreaterThanOrEqual(90 * 86400 * 1000 - 1000);
    await store.close();
  });

  test('advances made at once all count, one after the other: the clock never goes back', async () => {
    const store = Journal.open(path.join(dir, 'state'));
    const clock = SimulatorClock.open(store);
    const seen: number[] = [];
    clock.onAdvance((now) => void seen.push(now));
    await Promise.all([clock.advance(3600), clock.advance(60), clock.advance(86400)]);
    expect(clock.offset).toBe((3600 + 60 + 86400) * 1000);
    expect(seen).toHaveLength(3);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    await store.close();
    const reopened = Journal.open(path.join(dir, 'state'));
    expect(SimulatorClock.open(reopened).offset).toBe((3600 + 60 + 86400) * 1000);
    await reopened.close();
  });

  test('refuses to go back, to stand still, or to move by part of a second; the offset is unchanged', async () => {
    const clock = SimulatorClock.wall();
    for (const bad of [-1, 0, 0.5, Number.NaN, 1e12]) await expect(clock.advance(bad)).rejects.toThrow(/whole number of seconds from 1/);
    expect(clock.offset).toBe(0);
  });
});

describe("key rotation policies run on the simulator's clock", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
  });
  afterAll(() => h.close());

  test('a Rotate action after 30 days makes a new version once the clock has passed it, with the policy expiry; not before', async () => {
    const kc = h.keyClient();
    const first = await kc.createEcKey('rotating', { hsm: true, curve: 'P-256' });
    await kc.updateKeyRotationPolicy('rotating', { lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }], expiresIn: 'P90D' });
    const versions = async () => {
      const out: string[] = [];
      for await (const v of kc.listPropertiesOfKeyVersions('rotating')) out.push(v.version!);
      return out;
    };

    await h.sim.clock.advance(29 * 86400);
    expect(await versions()).toEqual([first.properties.version]);
    await h.sim.clock.advance(86400 + 1);
    const after = await versions();
    expect(after).toHaveLength(2);
    const latest = await kc.getKey('rotating');
    expect(latest.properties.version).not.toBe(first.properties.version);
    const lifetime = latest.properties.expiresOn!.getTime() - latest.properties.createdOn!.getTime();
    expect(lifetime).toBe(90 * 86400 * 1000);
    // The new version restarts the count: one more day rotates nothing.
    await h.sim.clock.advance(86400);
    expect(await versions()).toHaveLength(2);
  });
});
