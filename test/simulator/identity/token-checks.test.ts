import { randomUUID } from 'crypto';
import { Harness, httpsRequest } from '../harness';
import { TokenAuthority, AUDIENCES } from '../../../simulator/identity/tokens';

/**
 * Tokens are checked as Entra ID's v2 tokens are: signed by the authority's key, issuer = the authority for the
 * token's tenant, the resource's audience, the HSM's tenant, and now within [nbf, exp] give or take 5 minutes.
 * The tokens here are signed with the simulator's own key, so each refusal is for the claim the test breaks.
 */
describe('access tokens on the Managed HSM data plane and the ARM plane', () => {
  let h: Harness;
  let signer: TokenAuthority;
  const now = () => Math.floor(Date.now() / 1000);
  const listAssignments = '/providers/Microsoft.Authorization/roleAssignments?api-version=7.4';

  beforeAll(async () => {
    h = await Harness.start();
    // Same state folder, so the same signing key as the simulator's authority.
    signer = new TokenAuthority(h.dir, h.sim.authorityHost);
  });
  afterAll(() => h.close());

  /** Claims the simulator itself would issue to the administrator, with `change` applied. */
  function token(change: Record<string, unknown> = {}, audience: string = AUDIENCES.managedHsm): string {
    const t = now();
    const tid = h.sim.tenantId;
    const oid = h.admin.objectId;
    return signer.sign({ aud: audience, iss: `${h.sim.authorityHost}/${tid}/v2.0`, tid, oid, appid: oid, sub: oid, iat: t, nbf: t, exp: t + 3600, jti: randomUUID(), ...change });
  }

  const get = (t: string) => httpsRequest(h.hsmUri, h.sim.caCert, 'GET', listAssignments, undefined, t);

  test('a token with every claim right is accepted, as are exp and nbf within 5 minutes of skew', async () => {
    expect((await get(token())).status).toBe(200);
    expect((await get(token({ exp: now() - 240 }))).status).toBe(200);
    expect((await get(token({ nbf: now() + 240 }))).status).toBe(200);
  });

  test('the token endpoint issues tokens with the authority as issuer', async () => {
    const issued = await h.token();
    const claims = JSON.parse(Buffer.from(issued.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ iss: `${h.sim.authorityHost}/${h.sim.tenantId}/v2.0`, tid: h.sim.tenantId, aud: AUDIENCES.managedHsm, oid: h.admin.objectId });
  });

  test.each([
    ['another issuer', () => ({ iss: `https://login.example.com/${h.sim.tenantId}/v2.0` }), /^AKV10032: Invalid issuer\. Expected one of https:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+\/v2\.0, found https:\/\/login\.example\.com\//],
    ['another audience', () => ({ aud: AUDIENCES.arm }), /^AKV10022: Invalid audience\. Expected https:\/\/managedhsm\.azure\.net, found: https:\/\/management\.azure\.com\.$/],
    ['another tenant', () => {
      const other = randomUUID();
      return { tid: other, iss: `${h.sim.authorityHost}/${other}/v2.0` };
    }, /^AKV10032: Invalid issuer: the token is for tenant [0-9a-f-]+, this HSM belongs to /],
    ['an expiry more than 5 minutes ago', () => ({ exp: now() - 301 }), /^\[TokenExpired\] Error validating token: the bearer token has expired/],
    ['a not-before more than 5 minutes ahead', () => ({ nbf: now() + 301 }), /^Token not yet valid: the bearer token is not valid yet/],
    ['no expiry at all', () => ({ exp: undefined }), /^Token validation failed: the bearer token has no numeric 'exp' claim/],
  ])('refuses a token with %s: 401 with the challenge', async (_what, change, message) => {
    const r = await get(token(change()));
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ error: { code: 'Unauthorized', message: expect.stringMatching(message) } });
    expect(r.headers['www-authenticate']).toBe(`Bearer authorization="${h.sim.authorityHost}/${h.sim.tenantId}", resource="https://managedhsm.azure.net"`);
  });

  test('refuses a token whose claims were changed after signing: 401 with the challenge', async () => {
    const [head, , sig] = token().split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(token().split('.')[1], 'base64url').toString()), oid: randomUUID() })).toString('base64url');
    const r = await get(`${head}.${forged}.${sig}`);
    expect(r.status).toBe(401);
    expect(r.body.error.message).toMatch(/signature is invalid/);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer authorization=/);
  });

  test('the ARM plane refuses a token from another issuer, and one for another tenant, with its own codes', async () => {
    const path = '/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs?api-version=2021-11-30';
    const arm = (t: string) => httpsRequest(h.sim.authorityHost, h.sim.caCert, 'GET', path, undefined, t);
    const issuer = await arm(token({ iss: `https://login.example.com/${h.sim.tenantId}/v2.0` }, AUDIENCES.arm));
    expect(issuer.status).toBe(401);
    expect(issuer.body.error).toEqual({ code: 'InvalidAuthenticationToken', message: expect.stringMatching(/invalid issuer/) });
    const other = randomUUID();
    const tenant = await arm(token({ tid: other, iss: `${h.sim.authorityHost}/${other}/v2.0` }, AUDIENCES.arm));
    expect(tenant.status).toBe(401);
    expect(tenant.body.error.code).toBe('InvalidAuthenticationTokenTenant');
    expect((await arm(token({}, AUDIENCES.arm)))).toMatchObject({ status: 200 });
  });

  test('the ARM plane picks its code from why the token was refused, not from the words of the claims it quotes', async () => {
    const path = '/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs?api-version=2021-11-30';
    const arm = async (t: string) => (await httpsRequest(h.sim.authorityHost, h.sim.caCert, 'GET', path, undefined, t)).body.error.code;
    // An issuer whose text holds "expired" and "audience" is still only a wrong issuer.
    expect(await arm(token({ iss: `https://expired.example.com/audience/${h.sim.tenantId}/v2.0` }, AUDIENCES.arm))).toBe('InvalidAuthenticationToken');
    expect(await arm(token({ aud: 'https://expired.example.com' }, AUDIENCES.arm))).toBe('InvalidAuthenticationTokenAudience');
    expect(await arm(token({ exp: now() - 301 }, AUDIENCES.arm))).toBe('ExpiredAuthenticationToken');
    expect(await arm(token({ nbf: now() + 301 }, AUDIENCES.arm))).toBe('InvalidAuthenticationToken');
  });
});
