import { ArmHarness, RG, SUB, SUBNET, dedicatedPath, managedPath } from './arm-harness';

/** The resource a request path names (decoded, lower-cased, no query), or undefined for other paths. */
function resourceOf(p: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(p.split('?')[0]);
  } catch {
    return undefined;
  }
  return /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/[^/]+\/[^/]+$/i.test(path) ? path.toLowerCase() : undefined;
}

/** A small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('ARM plane: robustness', () => {
  let h: ArmHarness;
  beforeAll(async () => {
    // An hour per provisioning step: what the fuzz creates stays in its first state (no appliance starts) until a test advances the clock.
    h = await ArmHarness.start({ arm: { provisioningStepMs: 3_600_000 } });
  });
  afterAll(async () => {
    await h.close();
  });

  test('600 mutated requests: never a 5xx, always ARM error shape, and no resource is made from a bad body', async () => {
    const rand = rng(20261123);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const good = {
      location: 'westeurope',
      sku: { name: 'SafeNet Luna Network HSM A790' },
      properties: { stampId: 'stamp1', networkProfile: { subnet: { id: SUBNET }, networkInterfaces: [{ privateIpAddress: '10.9.0.4' }] } },
    };
    const values: unknown[] = [null, 0, -1, 1e308, '', 'x'.repeat(5000), '../../etc', '%00', '<script>', true, [], {}, [null], { a: { b: { c: [] } } }, '10.0.0.1', '__proto__', '\u0000\u202e'];
    const paths = (): string => {
      const name = pick(['hsm-fuzz', 'a', 'x'.repeat(300), '%2e%2e', 'hsm%2Ffuzz', '..', 'hsm%20fuzz', '%E0%A4%A', '%C3%B1ame']);
      return pick([
        dedicatedPath(name),
        dedicatedPath(name, pick(['rg', 'rg.', '(rg)', 'r'.repeat(91), '%20'])),
        managedPath(name),
        dedicatedPath(name).replace('api-version=2021-11-30', pick(['api-version=', 'api-version=2021-11-30&api-version=x', 'x=1', 'api-version=9999-99-99'])),
        `/subscriptions/${SUB}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs?api-version=2021-11-30&$top=${pick(['-1', 'abc', '1e3', '1001', '5'])}&$skiptoken=${pick(['x', '-1', '99999999', '0'])}`,
        `/subscriptions/${SUB}/providers/Microsoft.HardwareSecurityModules/locations/westeurope/${pick(['operationStatuses', 'operationResults', 'other'])}/${pick(['x', '00000000-0000-0000-0000-000000000000', '..'])}?api-version=2021-11-30`,
        `/subscriptions/${SUB}/providers/Microsoft.KeyVault/${pick(['checkMhsmNameAvailability', 'deletedManagedHSMs', 'vaults'])}?api-version=2023-07-01`,
      ]);
    };
    const mutate = (o: unknown, depth = 0): unknown => {
      if (typeof o !== 'object' || o === null || depth > 4) return rand() < 0.3 ? pick(values) : o;
      if (Array.isArray(o)) return o.map((x) => mutate(x, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) {
        const r = rand();
        if (r < 0.1) continue;
        out[r < 0.15 ? pick(['__proto__', 'constructor', 'tags', 'zones', 'extra']) : k] = r < 0.35 ? pick(values) : mutate(v, depth + 1);
      }
      return out;
    };
    const bodies = (): string | undefined => {
      const r = rand();
      if (r < 0.1) return undefined;
      if (r < 0.2) return pick(['{', 'null', '"x"', '[]', '{"location":', '\u0000', '{"tags":{"a":1}}', '{"tags":' + '['.repeat(2000) + ']'.repeat(2000) + '}']);
      return JSON.stringify(mutate(good));
    };
    let served = 0;
    // What each accepted PUT sent, by the resource its path names; and every resource a refused PUT named.
    const accepted = new Map<string, string>();
    const refused = new Set<string>();
    for (let i = 0; i < 600; i++) {
      // One request in twenty is the good body, untouched, under a fresh name and IP: some resources must exist to be checked.
      const valid = rand() < 0.05;
      const method = valid ? 'PUT' : pick(['GET', 'PUT', 'PATCH', 'DELETE', 'POST', 'OPTIONS']);
      const p = valid ? dedicatedPath(`hsm-ok-${i}`) : paths();
      const body = valid ? JSON.stringify({ ...good, properties: { ...good.properties, networkProfile: { ...good.properties.networkProfile, networkInterfaces: [{ privateIpAddress: `10.9.1.${(i % 250) + 4}` }] } } }) : bodies();
      const r = await h.request(method, p, body);
      if (r.status >= 500) throw new Error(`${method} ${p} answered ${r.status}: ${JSON.stringify(r.body)} for body ${body?.slice(0, 300)}`);
      if (r.status >= 400) {
        expect(typeof r.body?.error?.code).toBe('string');
        expect(typeof r.body?.error?.message).toBe('string');
      } else served++;
      const res = method === 'PUT' ? resourceOf(p) : undefined;
      if (res && r.status < 300) accepted.set(res, body!);
      else if (res) refused.add(res);
    }
    expect(served).toBeGreaterThan(0);
    expect(accepted.size).toBeGreaterThan(0);

    // Every resource that exists came from a PUT that was accepted, with a body that is a well-formed Dedicated HSM:
    // the ARM plane made nothing from a body it refused.
    const list = await h.request('GET', `/subscriptions/${SUB}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs?api-version=2021-11-30`);
    const managed = await h.request('GET', `/subscriptions/${SUB}/providers/Microsoft.KeyVault/managedHSMs?api-version=2023-07-01`);
    expect(managed.body.value).toEqual([]);
    for (const r of list.body.value) {
      const sent = accepted.get(r.id.toLowerCase());
      expect(sent).toBeDefined();
      const b = JSON.parse(sent!);
      expect(b.sku.name).toBe('SafeNet Luna Network HSM A790');
      expect(b.location).toBe('westeurope');
      expect(b.properties.networkProfile.subnet.id).toBe(SUBNET);
      expect(r.properties.networkProfile.networkInterfaces[0].privateIpAddress).toBe(b.properties.networkProfile.networkInterfaces[0].privateIpAddress);
    }
    // And a resource only ever named by refused PUTs does not exist.
    const onlyRefused = [...refused].filter((k) => !accepted.has(k));
    expect(onlyRefused.length).toBeGreaterThan(0);
    for (const k of onlyRefused) {
      const api = k.includes('/microsoft.keyvault/') ? '2023-07-01' : '2021-11-30';
      const got = await h.request('GET', `${k.split('/').map(encodeURIComponent).join('/')}?api-version=${api}`);
      expect([400, 404]).toContain(got.status);
    }
  });

  test('concurrent PUTs for one private IP under different names: exactly one is created, the others get PrivateIPAddressInUse', async () => {
    const body = {
      location: 'westeurope',
      sku: { name: 'SafeNet Luna Network HSM A790' },
      properties: { networkProfile: { subnet: { id: SUBNET }, networkInterfaces: [{ privateIpAddress: '10.8.0.4' }] } },
    };
    const names = Array.from({ length: 8 }, (_, i) => `hsm-race-${i}`);
    const res = await Promise.all(names.map((n) => h.request('PUT', dedicatedPath(n), body)));
    expect(res.filter((r) => r.status === 201)).toHaveLength(1);
    expect(res.filter((r) => r.status === 409).map((r) => r.body.error.code)).toEqual(Array(7).fill('PrivateIPAddressInUse'));
    const winner = names[res.findIndex((r) => r.status === 201)];
    // The winner's creation is under way (its operation runs; the clock is not moved, so no appliance starts here).
    const op = await h.request('GET', new URL(String(res.find((r) => r.status === 201)!.headers['azure-asyncoperation'])).pathname + '?api-version=2021-11-30');
    expect(op.body.status).toBe('InProgress');
    const listed = await h.request('GET', `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs?api-version=2021-11-30`);
    expect(listed.body.value.filter((r: { name: string }) => r.name.startsWith('hsm-race-')).map((r: { name: string }) => r.name)).toEqual([winner]);
  });
});
