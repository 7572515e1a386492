import { Harness, httpsRequest } from '../harness';

/**
 * For scope "/" the JavaScript access-control client (@azure/keyvault-admin) requests
 * `https://host///providers/Microsoft.Authorization/...` and the Python client `//providers/...`; the service
 * routes both as `/providers/...`. Sent here byte for byte as those clients send them.
 */
describe('request paths with repeated slashes reach the route the service gives them', () => {
  let h: Harness;
  let token: string;
  beforeAll(async () => {
    h = await Harness.start();
    token = await h.token();
  });
  afterAll(() => h.close());

  test.each([
    ['///providers/Microsoft.Authorization/roleDefinitions?api-version=7.4', 'roleDefinitions'],
    ['//providers/Microsoft.Authorization/roleDefinitions?api-version=7.4', 'roleDefinitions'],
    ['///providers/Microsoft.Authorization/roleAssignments?api-version=7.4', 'roleAssignments'],
    ['//providers/Microsoft.Authorization/roleAssignments?api-version=7.4', 'roleAssignments'],
  ])('GET %s lists the %s at scope "/"', async (target, kind) => {
    const r = await httpsRequest(h.hsmUri, h.sim.caCert, 'GET', target, undefined, token);
    expect(r.status).toBe(200);
    expect(r.body.value.length).toBeGreaterThan(0);
    for (const item of r.body.value) expect(item.id).toMatch(new RegExp(`/providers/Microsoft\\.Authorization/${kind}/[0-9a-f-]{36}$`));
  });
});
