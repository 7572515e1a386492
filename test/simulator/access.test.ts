import * as fs from 'fs';
import { randomUUID } from 'crypto';
import { ClientSecretCredential } from '@azure/identity';
import { Harness, CRYPTO_USER, httpsRequest } from './harness';
import { ErrorCodes } from '../../simulator';

describe('identity, challenge, activation and local RBAC', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
  });
  afterAll(() => h.close());

  test('a request without a token gets 401 with the challenge real clients follow', async () => {
    const res = await h.request('GET', '/keys?api-version=7.4', undefined, null);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe(ErrorCodes.Unauthorized);
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${h.sim.authorityHost}/${h.sim.tenantId}", resource="https://managedhsm.azure.net"`);
  });

  test('forged, tampered and wrong-audience tokens are refused with 401', async () => {
    const good = await h.token();
    const [head, body] = good.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    const forgedBody = Buffer.from(JSON.stringify({ ...claims, oid: randomUUID() })).toString('base64url');
    for (const t of [`${head}.${forgedBody}.${good.split('.')[2]}`, 'not-a-jwt', `${good}x`]) {
      const res = await httpsRequest(h.hsmUri, h.sim.caCert, 'GET', '/keys?api-version=7.4', undefined, t);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe(ErrorCodes.Unauthorized);
    }
    const arm = (await h.admin.credential.getToken('https://management.azure.com/.default'))!.token;
    const res = await httpsRequest(h.hsmUri, h.sim.caCert, 'GET', '/keys?api-version=7.4', undefined, arm);
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/audience/);
  });

  test('the token endpoint refuses a wrong client secret and an unknown client', async () => {
    const wrong = new ClientSecretCredential(h.sim.tenantId, h.admin.objectId, 'wrong-secret', { authorityHost: h.sim.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: h.sim.caCert } } as never);
    await expect(wrong.getToken('https://managedhsm.azure.net/.default')).rejects.toThrow(/7000215/);
    const unknown = new ClientSecretCredential(h.sim.tenantId, randomUUID(), 'x', { authorityHost: h.sim.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: h.sim.caCert } } as never);
    await expect(unknown.getToken('https://managedhsm.azure.net/.default')).rejects.toThrow(/700016/);
  });

  test('the Administrator holds no key permissions: key operations are 403 until a crypto role is assigned', async () => {
    await expect(h.keyClient().createEcKey('k', { curve: 'P-256', hsm: true })).rejects.toMatchObject({ statusCode: 403, code: ErrorCodes.Forbidden });
    const user = await h.newPrincipal();
    await expect(h.keyClient(user).getKey('k')).rejects.toMatchObject({ statusCode: 403, code: ErrorCodes.Forbidden });
    // A stranger cannot grant itself a role (role management refusals are AccessDenied on the service).
    const self = await h.request('PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`, { properties: { roleDefinitionId: CRYPTO_USER, principalId: user.objectId } }, user);
    expect([self.status, self.body.error.code]).toEqual([403, ErrorCodes.AccessDenied]);
    // Scoped to one key: the role covers that key only.
    await h.assignRole(h.admin.objectId, CRYPTO_USER, '/keys');
    await h.keyClient().createEcKey('mine', { curve: 'P-256', hsm: true });
    await h.keyClient().createEcKey('other', { curve: 'P-256', hsm: true });
    await h.assignRole(user.objectId, CRYPTO_USER, '/keys/mine');
    expect((await h.keyClient(user).getKey('mine')).name).toBe('mine');
    // Key names are case-insensitive, and so is a key scope.
    expect((await h.keyClient(user).getKey('MINE')).name).toBe('mine');
    await expect(h.keyClient(user).getKey('other')).rejects.toMatchObject({ statusCode: 403 });
    const list = await h.request('GET', `/providers/Microsoft.Authorization/roleAssignments?api-version=7.4&$filter=${encodeURIComponent(`principalId eq '${user.objectId}'`)}`);
    expect(list.status).toBe(200);
    expect(list.body.value).toEqual([expect.objectContaining({ properties: expect.objectContaining({ scope: '/keys/mine', principalId: user.objectId }) })]);
    const defs = await h.request('GET', '/providers/Microsoft.Authorization/roleDefinitions?api-version=7.4');
    expect(defs.body.value.map((d: { properties: { roleName: string } }) => d.properties.roleName)).toContain('Managed HSM Crypto User');
    // Deleting the assignment takes the permission away again.
    const name = list.body.value[0].name;
    expect((await h.request('DELETE', `/keys/mine/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=7.4`)).status).toBe(200);
    await expect(h.keyClient(user).getKey('mine')).rejects.toMatchObject({ statusCode: 403 });
  });

  test('an instance added at runtime answers "not activated" until activated, then serves keys', async () => {
    const admin = randomUUID();
    const i = await h.sim.createManagedHsm({ name: 'late-hsm', administrators: [admin], purgeProtection: true });
    expect(JSON.parse(fs.readFileSync(h.sim.endpointsFile, 'utf8')).managedHsms.map((m: { name: string }) => m.name)).toContain('late-hsm');
    const secret = fs.readFileSync(h.sim.endpoints().principals.find((p) => p.objectId === admin)!.secretFile, 'utf8').trim();
    const token = (await Harness.principal(h.sim, admin, secret).credential.getToken('https://managedhsm.azure.net/.default'))!.token;
    const before = await httpsRequest(i.hsmUri, h.sim.caCert, 'GET', '/keys?api-version=7.4', undefined, token);
    expect([before.status, before.body.error.code, before.body.error.innererror.code]).toEqual([403, ErrorCodes.Forbidden, 'HSMNotActivated']);
    // The test-only management path, kept apart from the data plane, with its own token.
    const mgmt = fs.readFileSync(h.sim.endpoints().managementTokenFile, 'utf8').trim();
    expect((await httpsRequest(h.sim.authorityHost, h.sim.caCert, 'POST', '/_simulator/managedHsms/late-hsm/activate', '', token)).status).toBe(401);
    expect((await httpsRequest(h.sim.authorityHost, h.sim.caCert, 'POST', '/_simulator/managedHsms/late-hsm/activate', '', mgmt)).status).toBe(200);
    const after = await httpsRequest(i.hsmUri, h.sim.caCert, 'GET', '/keys?api-version=7.4', undefined, token);
    expect(after.status).toBe(403);
    expect(after.body.error.innererror.code).toBe('ForbiddenByRbac');
    await expect(h.sim.createManagedHsm({ name: 'late-hsm', administrators: [admin] })).rejects.toMatchObject({ code: ErrorCodes.Conflict });
    await expect(h.sim.createManagedHsm({ name: 'bad--name', administrators: [admin] })).rejects.toMatchObject({ code: ErrorCodes.BadParameter });
  });

  test('purge is refused while purge protection holds', async () => {
    const admin = randomUUID();
    const i = await h.sim.createManagedHsm({ name: 'pp-hsm', administrators: [admin], purgeProtection: true, softDeleteRetentionDays: 7 });
    await i.setActivated(true);
    const officer = await h.newPrincipal();
    await i.rbac.put({ name: randomUUID(), scope: '/', roleDefinitionId: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778', principalId: officer.objectId });
    await i.rbac.put({ name: randomUUID(), scope: '/', roleDefinitionId: CRYPTO_USER, principalId: officer.objectId });
    const { KeyClient } = await import('@azure/keyvault-keys');
    const kc = new KeyClient(i.hsmUri, officer.credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: h.sim.caCert }, retryOptions: { maxRetries: 0 } } as never);
    const k = await kc.createEcKey('pk', { curve: 'P-256', hsm: true });
    await (await kc.beginDeleteKey('pk', { intervalInMs: 10 })).pollUntilDone();
    await expect(kc.purgeDeletedKey('pk')).rejects.toMatchObject({ statusCode: 403, code: ErrorCodes.Forbidden });
    const del = await kc.getDeletedKey('pk');
    expect(del.properties.recoveryLevel).toBe('CustomizedRecoverable');
    expect(del.properties.scheduledPurgeDate!.getTime()).toBeGreaterThan(Date.now() + 6 * 86400_000);
    expect(k.properties.recoverableDays).toBe(7);
  });
});
