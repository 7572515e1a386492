import { generateKeyPairSync, randomBytes, randomUUID } from 'crypto';
import { KeyClient } from '@azure/keyvault-keys';
import { Harness, CRYPTO_USER, clientOptions } from './harness';
import { ErrorCodes } from '../../simulator';

/** Key types, settings, api-versions and the service's wording, as real clients meet them. */
describe('Managed HSM data plane: key types, settings, api-versions, service wording', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
  });
  afterAll(() => h.close());

  test('kty RSA, EC, oct and AES are accepted on create and import and stored as the -HSM types', async () => {
    const kc = h.keyClient();
    // The ordinary SDK calls without hsm: true send kty RSA, EC and oct.
    expect((await kc.createKey('plain-rsa', 'RSA')).keyType).toBe('RSA-HSM');
    expect((await kc.createEcKey('plain-ec', { curve: 'P-384' })).keyType).toBe('EC-HSM');
    expect((await kc.createOctKey('plain-oct', { keySize: 128 })).keyType).toBe('oct-HSM');
    const aes = await h.request('POST', '/keys/plain-aes/create?api-version=7.6', { kty: 'AES', key_size: 256 });
    expect([aes.status, aes.body.key.kty]).toEqual([200, 'oct-HSM']);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const b = (s?: string) => new Uint8Array(Buffer.from(s!, 'base64url'));
    expect((await kc.importKey('imp-ec', { kty: 'EC', crv: 'P-256', x: b(ec.x), y: b(ec.y), d: b(ec.d) }, {})).keyType).toBe('EC-HSM');
    const oct = await h.request('PUT', '/keys/imp-oct?api-version=7.6', { key: { kty: 'oct', k: randomBytes(32).toString('base64url') } });
    expect([oct.status, oct.body.key.kty]).toEqual([200, 'oct-HSM']);
    const aesImp = await h.request('PUT', '/keys/imp-aes?api-version=7.6', { key: { kty: 'AES', k: randomBytes(16).toString('base64url') } });
    expect([aesImp.status, aesImp.body.key.kty]).toEqual([200, 'oct-HSM']);
    expect((await kc.getKey('plain-rsa')).keyType).toBe('RSA-HSM');
    // The stored key works: the AES key encrypts and decrypts.
    const cc = h.cryptoClient((await kc.getKey('plain-aes')).id!);
    const enc = await cc.encrypt({ algorithm: 'A256GCM', plaintext: Buffer.from('hi') });
    expect(Buffer.from((await cc.decrypt({ algorithm: 'A256GCM', ciphertext: enc.result, iv: enc.iv!, authenticationTag: enc.authenticationTag! })).result).toString()).toBe('hi');
  });

  test('refuses an unknown key type and names the accepted ones', async () => {
    const res = await h.request('POST', '/keys/bad-kty/create?api-version=7.6', { kty: 'DSA' });
    expect([res.status, res.body.error.code]).toEqual([400, ErrorCodes.BadParameter]);
    expect(res.body.error.message).toMatch(/RSA-HSM, EC-HSM, oct-HSM, RSA, EC, oct, AES/);
    expect((await h.request('GET', '/keys/bad-kty?api-version=7.6')).status).toBe(404);
  });

  test('settings: listed, read and updated by the Administrator; refused to a Crypto User', async () => {
    const list = await h.request('GET', '/settings?api-version=7.6');
    expect(list).toMatchObject({ status: 200, body: { settings: [{ name: 'AllowKeyManagementOperationsThroughARM', type: 'boolean', value: 'false' }] } });
    const patched = await h.request('PATCH', '/settings/AllowKeyManagementOperationsThroughARM?api-version=7.4-preview.1', { value: 'true' });
    expect(patched.body).toEqual({ name: 'AllowKeyManagementOperationsThroughARM', type: 'boolean', value: 'true' });
    expect((await h.request('GET', '/settings/allowkeymanagementoperationsthrougharm?api-version=7.6')).body.value).toBe('true');
    const user = await h.newPrincipal();
    await h.assignRole(user.objectId, CRYPTO_USER);
    const refused = await h.request('GET', '/settings?api-version=7.6', undefined, user);
    expect([refused.status, refused.body.error.innererror.code]).toEqual([403, 'ForbiddenByRbac']);
    for (const [path, body, message] of [
      ['/settings/NoSuchSetting', { value: 'true' }, /not a valid settings option/],
      ['/settings/AllowKeyManagementOperationsThroughARM', { value: 'yes' }, /"true" or "false"/],
      ['/settings/AllowKeyManagementOperationsThroughARM', { value: true }, /must be a string/],
    ] as const) {
      const res = await h.request('PATCH', `${path}?api-version=7.6`, body);
      expect([res.status, res.body.error.code]).toEqual([400, ErrorCodes.BadParameter]);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await h.request('GET', '/settings/AllowKeyManagementOperationsThroughARM?api-version=7.6')).body.value).toBe('true');
  });

  test('accepts the api-versions the JavaScript SDKs and Debian\'s Python SDK send, refuses others with the service\'s error', async () => {
    // A KeyClient pinned to the version Debian's Python SDK sends by default.
    const pinned = new KeyClient(h.hsmUri, h.admin.credential, { ...clientOptions(h.sim), serviceVersion: '7.4-preview.1' } as never);
    expect((await pinned.createEcKey('pinned', { curve: 'P-256' })).name).toBe('pinned');
    for (const v of ['7.2', '7.3', '7.4-preview.1', '7.4', '7.5', '7.6-preview.2', '7.6', '2025-07-01']) {
      expect([v, (await h.request('GET', `/keys?api-version=${v}`)).status]).toEqual([v, 200]);
    }
    for (const v of ['7.1', '7.9', '2016-10-01', 'latest']) {
      const res = await h.request('GET', `/keys?api-version=${v}`);
      expect([v, res.status, res.body.error.code]).toEqual([v, 400, ErrorCodes.BadParameter]);
      expect(res.body.error.message).toBe(`The specified version (${v}) is not recognized. Consider using the latest supported version (2025-07-01).`);
    }
  });

  test('the versions of a key that does not exist are an empty list, as the service answers', async () => {
    const versions = [];
    for await (const v of h.keyClient().listPropertiesOfKeyVersions(`never-${randomUUID().slice(0, 8)}`)) versions.push(v);
    expect(versions).toEqual([]);
    const raw = await h.request('GET', '/keys/never-made/versions?api-version=7.6');
    expect(raw).toMatchObject({ status: 200, body: { value: [], nextLink: null } });
  });

  test('refuses a corrupt key backup in the service\'s words', async () => {
    const kc = h.keyClient();
    await kc.createEcKey('to-back-up', { curve: 'P-256' });
    const blob = Buffer.from((await kc.backupKey('to-back-up'))!);
    blob[blob.length - 10] ^= 1;
    await expect(kc.restoreKeyBackup(blob)).rejects.toMatchObject({ statusCode: 400, code: ErrorCodes.BadParameter, message: 'Backup blob contains invalid or corrupt version.' });
    await expect(kc.restoreKeyBackup(new Uint8Array(8693))).rejects.toMatchObject({ statusCode: 400, message: 'Backup blob contains invalid or corrupt version.' });
  });
});
