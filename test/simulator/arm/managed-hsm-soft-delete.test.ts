import * as fs from 'fs';
import * as path from 'path';
import { execFile } from 'child_process';
import { promisify } from 'util';
import { createHash, createPublicKey, randomUUID, verify } from 'crypto';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { RestError } from '@azure/core-rest-pipeline';
import { ArmCodes } from '../../../simulator/arm/errors';
import { CRYPTO_OFFICER, CRYPTO_USER, clientOptions, httpsRequest } from '../harness';
import { ArmHarness, RG, SUB, managedBody, managedPath } from './arm-harness';

const FAST = { updateIntervalInMs: 10 };
const DAY = 86400;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<RestError> {
  try {
    await p;
  } catch (e) {
    return e as RestError;
  }
  throw new Error('expected the call to be refused');
}

describe("ARM plane: a Managed HSM's soft delete, recover and purge, on the simulator's clock (@azure/arm-keyvault)", () => {
  let h: ArmHarness;
  let kv: KeyVaultManagementClient;
  beforeAll(async () => {
    h = await ArmHarness.start();
    kv = h.keyVault();
  });
  afterAll(() => h.close());

  const dataToken = () => h.token('https://managedhsm.azure.net/.default');
  const keys = (hsmUri: string) => new KeyClient(hsmUri, h.credential, clientOptions(h.sim));

  /** Creates a Managed HSM through ARM, activates it (test-only path) and lets the caller create, use and purge keys. */
  async function provision(name: string, enablePurgeProtection: boolean): Promise<string> {
    const created = await kv.managedHsms.createOrUpdate(
      RG,
      name,
      {
        location: 'westeurope',
        sku: { family: 'B', name: 'Standard_B1' },
        tags: { env: 'test' },
        properties: { tenantId: h.sim.tenantId, initialAdminObjectIds: [h.objectId], softDeleteRetentionInDays: 7, enablePurgeProtection },
      },
      FAST,
    );
    const hsmUri = created.properties!.hsmUri!;
    await h.sim.managedHsm(name).setActivated(true);
    for (const role of [CRYPTO_USER, CRYPTO_OFFICER]) {
      const r = await httpsRequest(
        hsmUri,
        h.sim.caCert,
        'PUT',
        `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`,
        JSON.stringify({ properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${role}`, principalId: h.objectId } }),
        await dataToken(),
      );
      expect(r.status).toBe(201);
    }
    return hsmUri;
  }

  /** Objects in the HSM's SoftHSM2 token, as pkcs11-tool (another process, another PKCS#11 client) lists them. */
  async function tokenObjects(name: string): Promise<number> {
    const pins = JSON.parse(fs.readFileSync(path.join(h.dir, 'softhsm', 'pins', `mhsm-${name}.json`), 'utf8'));
    const { stdout } = await promisify(execFile)(
      'pkcs11-tool',
      ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--token-label', `mhsm-${name}`, '--login', '--pin', pins.user, '--list-objects'],
      { env: { ...process.env, SOFTHSM2_CONF: path.join(h.dir, 'softhsm', 'softhsm2.conf') } },
    );
    return (stdout.match(/^(Private Key|Public Key|Secret Key) Object/gm) ?? []).length;
  }

  /** Records the simulator's journal still holds for the HSM (its keys, versions, roles, jobs). */
  const records = (name: string) => h.sim.registry.stored(name) !== undefined;

  test('DELETE soft-deletes: the data plane stops answering, deletedManagedHSMs lists it with its dates, its name stays taken, and purge is refused under purge protection', async () => {
    const hsmUri = await provision('mhsm-pp', true);
    await keys(hsmUri).createRsaKey('k1', { hsm: true, keySize: 2048 });
    const before = h.sim.clock.now();

    await kv.managedHsms.delete(RG, 'mhsm-pp', FAST);

    const gone = await rejection(kv.managedHsms.get(RG, 'mhsm-pp'));
    expect([gone.statusCode, gone.code]).toEqual([404, ArmCodes.ResourceNotFound]);
    await expect(httpsRequest(hsmUri, h.sim.caCert, 'GET', '/keys?api-version=7.4', undefined, await dataToken())).rejects.toThrow();
    expect(h.sim.endpoints().managedHsms.map((m) => m.name)).not.toContain('mhsm-pp');

    const listed = await collect(kv.managedHsms.listDeleted());
    expect(listed.map((d) => d.name)).toEqual(['mhsm-pp']);
    const d = await kv.managedHsms.getDeleted('mhsm-pp', 'westeurope');
    expect(d).toEqual(listed[0]);
    expect(d.id).toBe(`/subscriptions/${SUB}/providers/Microsoft.KeyVault/locations/westeurope/deletedManagedHSMs/mhsm-pp`);
    expect(d.type).toBe('Microsoft.KeyVault/deletedManagedHSMs');
    expect(d.properties).toMatchObject({
      mhsmId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.KeyVault/managedHSMs/mhsm-pp`,
      location: 'westeurope',
      purgeProtectionEnabled: true,
      tags: { env: 'test' },
    });
    const deletedAt = d.properties!.deletionDate!.getTime();
    expect(deletedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(d.properties!.scheduledPurgeDate!.getTime() - deletedAt).toBe(7 * DAY * 1000);

    // The name stays taken: not available, and a new HSM of that name is refused.
    expect(await kv.managedHsms.checkMhsmNameAvailability({ name: 'mhsm-pp' })).toMatchObject({ nameAvailable: false, reason: 'AlreadyExists' });
    const again = await h.request('PUT', managedPath('mhsm-pp'), managedBody(h.sim.tenantId, [h.objectId]));
    expect([again.status, again.body.error.code]).toEqual([409, ArmCodes.Conflict]);
    expect(again.body.error.message).toMatch(/already exists in deleted state.*recover or purge/);

    // Purge protection: refused now, and still one second before the scheduled purge date.
    const refused = await rejection(kv.managedHsms.purgeDeleted('mhsm-pp', 'westeurope', FAST));
    expect([refused.statusCode, refused.code]).toEqual([409, ArmCodes.InvalidOperation]);
    expect(refused.message).toContain(d.properties!.scheduledPurgeDate!.toISOString());
    await h.advanceClock(7 * DAY - Math.ceil((h.sim.clock.now() - deletedAt) / 1000) - 1);
    const stillRefused = await rejection(kv.managedHsms.purgeDeleted('mhsm-pp', 'westeurope', FAST));
    expect(stillRefused.code).toBe(ArmCodes.InvalidOperation);
    expect((await collect(kv.managedHsms.listDeleted())).map((x) => x.name)).toEqual(['mhsm-pp']);
    expect(await tokenObjects('mhsm-pp')).toBeGreaterThan(0);
  });

  test('once the clock passes the scheduled purge date, the protected HSM is purged on its own: token objects and records gone, the name free again', async () => {
    await h.advanceClock(2);
    expect(await collect(kv.managedHsms.listDeleted())).toEqual([]);
    expect((await rejection(kv.managedHsms.getDeleted('mhsm-pp', 'westeurope'))).statusCode).toBe(404);
    expect(await tokenObjects('mhsm-pp')).toBe(0);
    expect(records('mhsm-pp')).toBe(false);
    expect(await kv.managedHsms.checkMhsmNameAvailability({ name: 'mhsm-pp' })).toMatchObject({ nameAvailable: true });

    // A new HSM of that name starts empty and unactivated: nothing of the purged one comes back.
    const fresh = await kv.managedHsms.createOrUpdate(RG, 'mhsm-pp', { location: 'westeurope', sku: { family: 'B', name: 'Standard_B1' }, properties: { tenantId: h.sim.tenantId, initialAdminObjectIds: [h.objectId] } }, FAST);
    expect(fresh.properties?.securityDomainProperties?.activationStatus).toBe('NotActivated');
    expect(await tokenObjects('mhsm-pp')).toBe(0);
  });

  test('recover (createMode Recover, the body az keyvault recover sends) brings the HSM back with its keys, a deleted key, and the same activated security domain', async () => {
    const hsmUri = await provision('mhsm-rec', true);
    const kc = keys(hsmUri);
    const key = await kc.createRsaKey('signer', { hsm: true, keySize: 2048 });
    await kc.createEcKey('trash', { hsm: true, curve: 'P-256' });
    await (await kc.beginDeleteKey('trash', { intervalInMs: 10 })).pollUntilDone();
    const domain = h.sim.managedHsm('mhsm-rec').record().domain!.id;
    const objects = await tokenObjects('mhsm-rec');

    await kv.managedHsms.delete(RG, 'mhsm-rec', FAST);
    expect(await tokenObjects('mhsm-rec')).toBe(objects);

    const back = await kv.managedHsms.createOrUpdate(
      RG,
      'mhsm-rec',
      { location: 'westeurope', sku: { family: 'B', name: 'Standard_B1' }, properties: { tenantId: h.sim.tenantId, createMode: 'Recover' as never } },
      FAST,
    );
    expect(back.properties).toMatchObject({ provisioningState: 'Succeeded', enablePurgeProtection: true, softDeleteRetentionInDays: 7, initialAdminObjectIds: [h.objectId] });
    expect(back.properties?.securityDomainProperties?.activationStatus).toBe('Active');
    expect(back.tags).toEqual({ env: 'test' });
    expect(await collect(kv.managedHsms.listDeleted())).toEqual([]);
    expect(h.sim.managedHsm('mhsm-rec').record().domain!.id).toBe(domain);

    // The same key signs, and its signature verifies with the public key read before the delete.
    const kc2 = keys(back.properties!.hsmUri!);
    const again = await kc2.getKey('signer');
    expect(again.id).toBe(key.id!.replace(hsmUri, back.properties!.hsmUri!));
    const digest = createHash('sha256').update('recovered').digest();
    const signed = await new CryptographyClient(again.id!, h.credential, clientOptions(h.sim)).sign('RS256', digest);
    const pub = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(key.key!.n!).toString('base64url'), e: Buffer.from(key.key!.e!).toString('base64url') }, format: 'jwk' });
    expect(verify('sha256', Buffer.from('recovered'), pub, Buffer.from(signed.result))).toBe(true);
    expect((await kc2.getDeletedKey('trash')).name).toBe('trash');
    expect(await tokenObjects('mhsm-rec')).toBe(objects);
  });

  test('without purge protection, purge is allowed at once and destroys the HSM for good', async () => {
    const hsmUri = await provision('mhsm-free', false);
    await keys(hsmUri).createOctKey('aes', { hsm: true, keySize: 256 });
    expect(await tokenObjects('mhsm-free')).toBeGreaterThan(0);
    await kv.managedHsms.delete(RG, 'mhsm-free', FAST);
    expect((await kv.managedHsms.getDeleted('mhsm-free', 'westeurope')).properties?.purgeProtectionEnabled).toBe(false);

    await kv.managedHsms.purgeDeleted('mhsm-free', 'westeurope', FAST);

    expect((await rejection(kv.managedHsms.getDeleted('mhsm-free', 'westeurope'))).statusCode).toBe(404);
    expect(await tokenObjects('mhsm-free')).toBe(0);
    expect(records('mhsm-free')).toBe(false);
    const recover = await h.request('PUT', managedPath('mhsm-free'), { location: 'westeurope', properties: { tenantId: h.sim.tenantId, createMode: 'recover' } });
    expect([recover.status, recover.body.error.code]).toEqual([404, ArmCodes.ResourceNotFound]);
  });

  test("the data plane's deleted keys, expiry and not-before read the same clock", async () => {
    const hsmUri = await provision('mhsm-keys', true);
    const kc = keys(hsmUri);
    await kc.createEcKey('kd', { hsm: true, curve: 'P-256' });
    const deleted = await (await kc.beginDeleteKey('kd', { intervalInMs: 10 })).pollUntilDone();
    expect(deleted.properties.scheduledPurgeDate!.getTime() - deleted.properties.deletedOn!.getTime()).toBe(7 * DAY * 1000);
    const refused = await rejection(kc.purgeDeletedKey('kd'));
    expect(refused.statusCode).toBe(403);
    await h.advanceClock(7 * DAY - Math.ceil((h.sim.clock.now() - deleted.properties.deletedOn!.getTime()) / 1000) - 1);
    expect((await rejection(kc.purgeDeletedKey('kd'))).statusCode).toBe(403);
    await h.advanceClock(2);
    expect((await rejection(kc.getDeletedKey('kd'))).statusCode).toBe(404);
    expect((await kc.createEcKey('kd', { hsm: true, curve: 'P-256' })).name).toBe('kd');

    const now = h.sim.clock.now();
    const expiring = await kc.createEcKey('expiring', { hsm: true, curve: 'P-256', expiresOn: new Date(now + DAY * 1000) });
    const later = await kc.createEcKey('later', { hsm: true, curve: 'P-256', notBefore: new Date(now + DAY * 1000) });
    // Plain REST: CryptographyClient checks nbf/exp itself, on the wall clock, before it asks the HSM.
    const digest = createHash('sha256').update('x').digest().toString('base64url');
    const sign = async (id: string) => {
      const r = await httpsRequest(hsmUri, h.sim.caCert, 'POST', `${new URL(id).pathname}/sign?api-version=7.4`, JSON.stringify({ alg: 'ES256', value: digest }), await dataToken());
      return r.status === 200 ? 'signed' : `${r.status} ${r.body.error?.innererror?.code}`;
    };
    expect([await sign(expiring.id!), await sign(later.id!)]).toEqual(['signed', '403 KeyNotYetValid']);
    await h.advanceClock(DAY + 1);
    expect([await sign(expiring.id!), await sign(later.id!)]).toEqual(['403 KeyExpired', 'signed']);
  });

  test('DELETE on the wire (Location at managedHsmOperationResults); refuses a recover with nothing deleted, in another location or resource group, getDeleted and purge of an unknown HSM; nothing changes', async () => {
    await provision('mhsm-odd', false);
    // On the wire, as ManagedHsm_Delete.json shows it: 202 with a Location at managedHsmOperationResults, no Azure-AsyncOperation.
    const del = await h.request('DELETE', managedPath('mhsm-odd'));
    expect(del.status).toBe(202);
    expect(del.headers['azure-asyncoperation']).toBeUndefined();
    const location = new URL(String(del.headers.location));
    expect(location.pathname).toMatch(new RegExp(`^/subscriptions/${SUB}/providers/Microsoft.KeyVault/locations/westeurope/managedHsmOperationResults/[0-9a-f-]{36}$`));
    let poll = await h.request('GET', location.pathname + location.search);
    while (poll.status === 202) poll = await h.request('GET', location.pathname + location.search);
    expect(poll.status).toBe(200);
    const recoverBody = (location: string) => ({ location, properties: { tenantId: h.sim.tenantId, createMode: 'recover' } });

    const elsewhere = await h.request('PUT', managedPath('mhsm-odd'), recoverBody('northeurope'));
    expect([elsewhere.status, elsewhere.body.error.code]).toEqual([404, ArmCodes.ResourceNotFound]);
    const otherGroup = await h.request('PUT', managedPath('mhsm-odd', 'rg-other'), recoverBody('westeurope'));
    expect([otherGroup.status, otherGroup.body.error.code]).toEqual([400, ArmCodes.InvalidParameter]);
    expect(otherGroup.body.error.message).toContain(`'${RG}'`);
    const live = await h.request('PUT', managedPath('mhsm-rec'), recoverBody('westeurope'));
    expect([live.status, live.body.error.code]).toEqual([409, ArmCodes.Conflict]);
    expect((await rejection(kv.managedHsms.getDeleted('mhsm-odd', 'northeurope'))).statusCode).toBe(404);
    const unknown = await rejection(kv.managedHsms.purgeDeleted('mhsm-none', 'westeurope', FAST));
    expect([unknown.statusCode, unknown.code]).toEqual([404, ArmCodes.ResourceNotFound]);

    expect((await collect(kv.managedHsms.listDeleted())).map((d) => d.name)).toEqual(['mhsm-odd']);
    expect((await kv.managedHsms.get(RG, 'mhsm-rec')).properties?.provisioningState).toBe('Succeeded');
  });

  test('the management API moves the clock forward only, by whole seconds, with the management token', async () => {
    const token = fs.readFileSync(path.join(h.dir, 'secrets', 'management.token'), 'utf8').trim();
    const call = (body: unknown, t: string | undefined = token) => httpsRequest(h.arm, h.sim.caCert, 'POST', '/_simulator/clock/advance', JSON.stringify(body), t);
    const offset = h.sim.clock.offset;
    for (const bad of [{ seconds: -5 }, { seconds: 0 }, { seconds: 1.5 }, { seconds: '60' }, {}, { seconds: 10, days: 1 }]) {
      const r = await call(bad);
      expect([r.status, r.body.error.code]).toEqual([400, 'BadParameter']);
    }
    expect((await call({ seconds: 10 }, 'wrong')).status).toBe(401);
    expect(h.sim.clock.offset).toBe(offset);
    const ok = await call({ seconds: 10 });
    expect(ok.status).toBe(200);
    expect(ok.body.offsetSeconds).toBe(offset / 1000 + 10);
    const got = await httpsRequest(h.arm, h.sim.caCert, 'GET', '/_simulator/clock', undefined, token);
    expect(Math.abs(Date.parse(got.body.now) - h.sim.clock.now())).toBeLessThan(60_000);
  });
});
