import { createHash, createPublicKey, publicEncrypt, constants, verify, generateKeyPairSync, randomBytes, createCipheriv, KeyObject } from 'crypto';
import { KeyVaultKey, JsonWebKey } from '@azure/keyvault-keys';
import { Harness, CRYPTO_USER, CRYPTO_OFFICER } from './harness';
import { ErrorCodes } from '../../simulator';

/** Node key object from the public JWK the service returned (kty "RSA-HSM" -> "RSA"). */
function publicKeyOf(k: KeyVaultKey): KeyObject {
  const j = k.key!;
  const b = (x?: Uint8Array) => Buffer.from(x!).toString('base64url');
  return j.kty!.startsWith('RSA')
    ? createPublicKey({ key: { kty: 'RSA', n: b(j.n), e: b(j.e) }, format: 'jwk' })
    : createPublicKey({ key: { kty: 'EC', crv: j.crv === 'P-256K' ? 'secp256k1' : j.crv, x: b(j.x), y: b(j.y) }, format: 'jwk' });
}

const sha = (alg: string, data: Buffer) => createHash(alg).update(data).digest();

describe('Managed HSM keys through KeyClient and CryptographyClient', () => {
  let h: Harness;
  let rsa: KeyVaultKey;

  beforeAll(async () => {
    h = await Harness.start();
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
    rsa = await h.keyClient().createRsaKey('rsa1', { keySize: 2048, hsm: true });
  });
  afterAll(() => h.close());

  test('an RSA-HSM key signs RS256 and PS256 digests that Node verifies with the returned public key', async () => {
    expect(rsa.keyType).toBe('RSA-HSM');
    expect(rsa.id).toMatch(new RegExp(`^${h.hsmUri}keys/rsa1/[0-9a-f]{32}$`));
    const cc = h.cryptoClient(rsa.id!);
    const data = Buffer.from('the quick brown fox');
    for (const [alg, hash, padding] of [
      ['RS256', 'sha256', constants.RSA_PKCS1_PADDING],
      ['PS256', 'sha256', constants.RSA_PKCS1_PSS_PADDING],
      ['RS512', 'sha512', constants.RSA_PKCS1_PADDING],
    ] as const) {
      const sig = await cc.sign(alg, sha(hash, data));
      expect(verify(hash, data, { key: publicKeyOf(rsa), padding, saltLength: 64 > 0 && alg.startsWith('PS') ? 32 : undefined }, Buffer.from(sig.result))).toBe(true);
      expect((await cc.verify(alg, sha(hash, data), sig.result)).result).toBe(true);
      const bad = Buffer.from(sig.result);
      bad[10] ^= 1;
      expect((await cc.verify(alg, sha(hash, data), bad)).result).toBe(false);
    }
  });

  test('EC-HSM keys on P-256, P-384 and P-256K sign ES256/ES384/ES256K', async () => {
    for (const [curve, alg, hash] of [
      ['P-256', 'ES256', 'sha256'],
      ['P-384', 'ES384', 'sha384'],
      ['P-256K', 'ES256K', 'sha256'],
    ] as const) {
      const k = await h.keyClient().createEcKey(`ec-${curve}`, { curve, hsm: true });
      expect(k.key!.crv).toBe(curve);
      const data = randomBytes(100);
      const sig = await h.cryptoClient(k.id!).sign(alg, sha(hash, data));
      expect(verify(hash, data, { key: publicKeyOf(k), dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.result))).toBe(true);
    }
  });

  test('sign refuses a wrong digest length, a wrong algorithm for the key and bad base64url', async () => {
    const cc = h.cryptoClient(rsa.id!);
    await expect(cc.sign('RS256', Buffer.alloc(20))).rejects.toMatchObject({ statusCode: 400, code: ErrorCodes.BadParameter });
    await expect(cc.sign('ES256', Buffer.alloc(32))).rejects.toMatchObject({ statusCode: 400, code: ErrorCodes.BadParameter });
    const res = await h.request('POST', `/keys/rsa1/${rsa.properties.version}/sign?api-version=7.4`, { alg: 'RS256', value: 'a+b/c==' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(ErrorCodes.BadParameter);
  });

  test('RSA decrypt undoes RSA1_5, RSA-OAEP and RSA-OAEP-256 encryptions made by Node with the public key', async () => {
    const cc = h.cryptoClient(rsa.id!);
    const pt = Buffer.from('attack at dawn');
    const pub = publicKeyOf(rsa);
    const cases = [
      ['RSA1_5', publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, pt)],
      ['RSA-OAEP', publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, pt)],
      ['RSA-OAEP-256', publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, pt)],
    ] as const;
    for (const [alg, ct] of cases) {
      const out = await cc.decrypt({ algorithm: alg, ciphertext: ct });
      expect(Buffer.from(out.result).toString()).toBe('attack at dawn');
    }
    // The service's own encryption, and wrap/unwrap, round-trip too.
    const enc = await cc.encrypt({ algorithm: 'RSA-OAEP-256', plaintext: pt });
    expect(Buffer.from((await cc.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: enc.result })).result)).toEqual(pt);
    const cek = randomBytes(32);
    const wrapped = await cc.wrapKey('RSA-OAEP-256', cek);
    expect(Buffer.from((await cc.unwrapKey('RSA-OAEP-256', wrapped.result)).result)).toEqual(cek);
    // A ciphertext for another padding does not decrypt and is the caller's error, not a 5xx.
    await expect(cc.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: cases[1][1] })).rejects.toMatchObject({ statusCode: 400 });
  });

  test('oct-HSM keys: A256GCM and A128CBCPAD encrypt/decrypt, A256KW wrap/unwrap, tampering detected', async () => {
    const k256 = await h.keyClient().createOctKey('aes256', { keySize: 256, hsm: true });
    const cc = h.cryptoClient(k256.id!);
    const pt = randomBytes(77);
    const aad = Buffer.from('header');
    const enc = await cc.encrypt({ algorithm: 'A256GCM', plaintext: pt, additionalAuthenticatedData: aad });
    expect(enc.iv).toHaveLength(12);
    const dec = await cc.decrypt({ algorithm: 'A256GCM', ciphertext: enc.result, iv: enc.iv!, authenticationTag: enc.authenticationTag!, additionalAuthenticatedData: aad });
    expect(Buffer.from(dec.result)).toEqual(pt);
    const tag = Buffer.from(enc.authenticationTag!);
    tag[0] ^= 1;
    await expect(cc.decrypt({ algorithm: 'A256GCM', ciphertext: enc.result, iv: enc.iv!, authenticationTag: tag, additionalAuthenticatedData: aad })).rejects.toMatchObject({ statusCode: 400 });
    const cek = randomBytes(32);
    const w = await cc.wrapKey('A256KW', cek);
    expect(w.result).toHaveLength(40);
    expect(Buffer.from((await cc.unwrapKey('A256KW', w.result)).result)).toEqual(cek);
    await expect(cc.encrypt({ algorithm: 'A128GCM', plaintext: pt })).rejects.toMatchObject({ statusCode: 400 });

    const k128 = await h.keyClient().createOctKey('aes128', { keySize: 128, hsm: true });
    const c128 = h.cryptoClient(k128.id!);
    const cbc = await c128.encrypt({ algorithm: 'A128CBCPAD', plaintext: pt });
    expect(Buffer.from((await c128.decrypt({ algorithm: 'A128CBCPAD', ciphertext: cbc.result, iv: cbc.iv! })).result)).toEqual(pt);
  });

  test('key_ops and attributes decide: a disabled or sign-less key refuses to sign', async () => {
    const kc = h.keyClient();
    const k = await kc.createEcKey('ops-ec', { curve: 'P-256', hsm: true, keyOps: ['verify'] });
    // The SDK refuses this client-side from key_ops; the service must refuse it too.
    await expect(h.cryptoClient(k.id!).sign('ES256', Buffer.alloc(32))).rejects.toThrow(/not supported/);
    const direct = await h.request('POST', `/keys/ops-ec/${k.properties.version}/sign?api-version=7.4`, { alg: 'ES256', value: Buffer.alloc(32).toString('base64url') });
    expect([direct.status, direct.body.error.code]).toEqual([403, ErrorCodes.Forbidden]);
    const k2 = await kc.createEcKey('disabled-ec', { curve: 'P-256', hsm: true });
    await kc.updateKeyProperties('disabled-ec', k2.properties.version!, { enabled: false, tags: { team: 'pki' } });
    const got = await kc.getKey('disabled-ec');
    expect(got.properties.enabled).toBe(false);
    expect(got.properties.tags).toEqual({ team: 'pki' });
    const res = await h.request('POST', `/keys/disabled-ec/${k2.properties.version}/sign?api-version=7.4`, { alg: 'ES256', value: Buffer.alloc(32).toString('base64url') });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe(ErrorCodes.Forbidden);
    const exp = await kc.createEcKey('expired-ec', { curve: 'P-256', hsm: true, expiresOn: new Date(Date.now() - 1000), notBefore: new Date(Date.now() - 60_000) });
    const expired = await h.request('POST', `/keys/expired-ec/${exp.properties.version}/sign?api-version=7.4`, { alg: 'ES256', value: Buffer.alloc(32).toString('base64url') });
    expect([expired.status, expired.body.error.code]).toEqual([403, ErrorCodes.Forbidden]);
  });

  test('rotate adds a version; the rotation policy is stored, read back and validated', async () => {
    const kc = h.keyClient();
    const first = await kc.createEcKey('rot', { curve: 'P-256', hsm: true });
    const policy = await kc.updateKeyRotationPolicy('rot', { expiresIn: 'P90D', lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }] });
    expect(policy.lifetimeActions).toEqual([{ action: 'Rotate', timeAfterCreate: 'P30D' }]);
    expect((await kc.getKeyRotationPolicy('rot')).expiresIn).toBe('P90D');
    const second = await kc.rotateKey('rot');
    expect(second.properties.version).not.toBe(first.properties.version);
    expect(second.properties.expiresOn!.getTime()).toBeGreaterThan(Date.now() + 89 * 86400_000);
    const versions = [];
    for await (const v of kc.listPropertiesOfKeyVersions('rot')) versions.push(v.version);
    expect(versions.sort()).toEqual([first.properties.version, second.properties.version].sort());
    expect((await kc.getKey('rot')).properties.version).toBe(second.properties.version);
    await expect(kc.updateKeyRotationPolicy('rot', { expiresIn: 'P10D', lifetimeActions: [] })).rejects.toMatchObject({ statusCode: 400, code: ErrorCodes.BadParameter });
    await expect(kc.updateKeyRotationPolicy('rot', { lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'PT1H' }] })).rejects.toMatchObject({ statusCode: 400 });
  });

  test('delete is soft: the name is reserved; Crypto Officer (not Crypto User) reads, recovers and purges it', async () => {
    const kc = h.keyClient();
    const officer = await h.newPrincipal();
    await h.assignRole(officer.objectId, CRYPTO_OFFICER, '/keys');
    const oc = h.keyClient(officer);
    await kc.createEcKey('gone', { curve: 'P-256', hsm: true });
    await (await kc.beginDeleteKey('gone', { intervalInMs: 10 })).pollUntilDone();
    await expect(kc.getKey('gone')).rejects.toMatchObject({ statusCode: 404, code: ErrorCodes.KeyNotFound });
    await expect(kc.createEcKey('gone', { curve: 'P-256', hsm: true })).rejects.toMatchObject({ statusCode: 409, code: ErrorCodes.Conflict });
    // Deleted keys belong to Crypto Officer: Crypto User can neither read nor recover them.
    await expect(kc.getDeletedKey('gone')).rejects.toMatchObject({ statusCode: 403, code: ErrorCodes.Forbidden });
    const del = await oc.getDeletedKey('gone');
    expect([del.name, del.properties.recoveryId]).toEqual(['gone', `${h.hsmUri}deletedkeys/gone`]);
    const recover = await h.request('POST', '/deletedkeys/gone/recover?api-version=7.4', undefined);
    expect([recover.status, recover.body.error.innererror.code]).toEqual([403, 'ForbiddenByRbac']);
    expect((await h.request('POST', '/deletedkeys/gone/recover?api-version=7.4', undefined, officer)).status).toBe(200);
    expect((await kc.getKey('gone')).name).toBe('gone');
    await (await kc.beginDeleteKey('gone', { intervalInMs: 10 })).pollUntilDone();
    await expect(kc.purgeDeletedKey('gone')).rejects.toMatchObject({ statusCode: 403, code: ErrorCodes.Forbidden });
    await oc.purgeDeletedKey('gone');
    await expect(oc.getDeletedKey('gone')).rejects.toMatchObject({ statusCode: 404 });
    await kc.createEcKey('gone', { curve: 'P-256', hsm: true });
  });

  test('backup then restore brings a purged key back with the same public key and versions', async () => {
    const kc = h.keyClient();
    const k = await kc.createEcKey('bk', { curve: 'P-384', hsm: true });
    const blob = await kc.backupKey('bk');
    expect(Buffer.from(blob!).toString()).not.toContain('"d"');
    await expect(kc.restoreKeyBackup(blob!)).rejects.toMatchObject({ statusCode: 409 });
    await (await kc.beginDeleteKey('bk', { intervalInMs: 10 })).pollUntilDone();
    const officer = await h.newPrincipal();
    await h.assignRole(officer.objectId, CRYPTO_OFFICER);
    await h.keyClient(officer).purgeDeletedKey('bk');
    const back = await kc.restoreKeyBackup(blob!);
    expect(back.properties.version).toBe(k.properties.version);
    expect(Buffer.from(back.key!.x!)).toEqual(Buffer.from(k.key!.x!));
    const data = randomBytes(10);
    const sig = await h.cryptoClient(back.id!).sign('ES384', sha('sha384', data));
    expect(verify('sha384', data, { key: publicKeyOf(k), dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.result))).toBe(true);
    const tampered = Buffer.from(blob!);
    tampered[tampered.length - 5] ^= 1;
    await kc.beginDeleteKey('bk', { intervalInMs: 10 }).then((p) => p.pollUntilDone());
    await h.keyClient(officer).purgeDeletedKey('bk');
    await expect(kc.restoreKeyBackup(tampered)).rejects.toMatchObject({ statusCode: 400, code: ErrorCodes.BadParameter });
  });

  test('import: a plain EC JWK, and BYOK blobs (RSA and EC targets) unwrapped by a KEK inside the token', async () => {
    const kc = h.keyClient();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' });
    const imported = await kc.importKey('imp-ec', { kty: 'EC-HSM', crv: 'P-256', x: Buffer.from(jwk.x!, 'base64url'), y: Buffer.from(jwk.y!, 'base64url'), d: Buffer.from(jwk.d!, 'base64url'), keyOps: ['sign', 'verify'] } as JsonWebKey, {});
    expect(imported.key!.d).toBeUndefined();
    const data = randomBytes(10);
    let sig = await h.cryptoClient(imported.id!).sign('ES256', sha('sha256', data));
    expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.result))).toBe(true);

    // BYOK: the KEK is an RSA-HSM key whose only op is import; the blob is made as a vendor tool makes it.
    const kek = await kc.createRsaKey('kek', { keySize: 2048, hsm: true, keyOps: ['import'] });
    const kekSign = await h.request('POST', `/keys/kek/${kek.properties.version}/sign?api-version=7.4`, { alg: 'RS256', value: Buffer.alloc(32).toString('base64url') });
    expect(kekSign.status).toBe(403);
    const byok = (target: KeyObject, wrapTo: KeyObject = publicKeyOf(kek)) => {
      const aes = randomBytes(32);
      const wrappedAes = publicEncrypt({ key: wrapTo, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, aes);
      const c = createCipheriv('id-aes256-wrap-pad', aes, Buffer.from('A65959A6', 'hex'));
      const wrappedKey = Buffer.concat([c.update(target.export({ format: 'der', type: 'pkcs8' })), c.final()]);
      const blob = { schema_version: '1.0.0', header: { kid: kek.id, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' }, ciphertext: Buffer.concat([wrappedAes, wrappedKey]).toString('base64url'), generator: 'test' };
      return new Uint8Array(Buffer.from(JSON.stringify(blob)));
    };
    const ecTarget = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecByok = await kc.importKey('byok-ec', { kty: 'EC-HSM', crv: 'P-256', t: byok(ecTarget.privateKey), keyOps: ['sign', 'verify'] } as JsonWebKey, {});
    const expectX = ecTarget.publicKey.export({ format: 'jwk' }).x;
    expect(Buffer.from(ecByok.key!.x!).toString('base64url')).toBe(expectX);
    sig = await h.cryptoClient(ecByok.id!).sign('ES256', sha('sha256', data));
    expect(verify('sha256', data, { key: ecTarget.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.result))).toBe(true);

    const rsaTarget = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaByok = await kc.importKey('byok-rsa', { kty: 'RSA-HSM', t: byok(rsaTarget.privateKey) } as JsonWebKey, {});
    sig = await h.cryptoClient(rsaByok.id!).sign('PS256', sha('sha256', data));
    expect(verify('sha256', data, { key: rsaTarget.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(sig.result))).toBe(true);

    // A blob wrapped to another KEK (an RSA key this HSM never held) but naming this KEK is refused and leaves
    // nothing behind; so is a blob whose ciphertext was changed in transit.
    const objectsBefore = h.sim.managedHsm('hsm1').keys.token.ids().length;
    const otherKek = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const toOther = byok(ecTarget.privateKey, otherKek);
    expect(JSON.parse(Buffer.from(toOther).toString()).header.kid).toBe(kek.id);
    await expect(kc.importKey('byok-bad', { kty: 'EC-HSM', crv: 'P-256', t: toOther } as JsonWebKey, {})).rejects.toMatchObject({ statusCode: 400, code: ErrorCodes.BadParameter });
    const blob = JSON.parse(Buffer.from(byok(ecTarget.privateKey)).toString());
    const ct = Buffer.from(blob.ciphertext, 'base64url');
    ct[ct.length - 5] ^= 0xff;
    blob.ciphertext = ct.toString('base64url');
    await expect(kc.importKey('byok-bad', { kty: 'EC-HSM', crv: 'P-256', t: new Uint8Array(Buffer.from(JSON.stringify(blob))) } as JsonWebKey, {})).rejects.toMatchObject({ statusCode: 400, code: ErrorCodes.BadParameter });
    await expect(kc.getKey('byok-bad')).rejects.toMatchObject({ statusCode: 404 });
    expect(h.sim.managedHsm('hsm1').keys.record('byok-bad')).toBeUndefined();
    expect(h.sim.managedHsm('hsm1').keys.token.ids().length).toBe(objectsBefore);
  });

  test('list pages through keys with maxresults; rng returns the requested count', async () => {
    const names: string[] = [];
    for await (const page of h.keyClient().listPropertiesOfKeys().byPage({ maxPageSize: 2 })) {
      expect(page.length).toBeLessThanOrEqual(2);
      names.push(...page.map((p) => p.name));
    }
    expect(names).toEqual(expect.arrayContaining(['rsa1', 'aes256', 'rot']));
    expect(new Set(names).size).toBe(names.length);
    expect(await h.keyClient().getRandomBytes(48)).toHaveLength(48);
    await expect(h.keyClient().getRandomBytes(0)).rejects.toMatchObject({ statusCode: 400 });
  });
});
