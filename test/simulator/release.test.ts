import * as https from 'https';
import { AddressInfo } from 'net';
import { X509Certificate, constants, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, KeyObject } from 'crypto';
import { SignJWT, compactVerify } from 'jose';
import { KeyClient, KeyReleasePolicy } from '@azure/keyvault-keys';
import { Harness, CRYPTO_USER, Principal, httpsRequest } from './harness';
import { ensureTls } from '../../simulator/tls/ca';

const AUDITOR = '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3';
const b64u = (b: Uint8Array | Buffer) => Buffer.from(b).toString('base64url');

describe('secure key release through the real KeyClient', () => {
  let h: Harness;
  let user: Principal;
  let kc: KeyClient;
  let maa: string;
  const transfer = generateKeyPairSync('rsa', { modulusLength: 2048 });

  /** A token from the simulator's attestation provider for evidence claiming these platform claims. */
  async function attest(platformClaims: Record<string, unknown>, transferKey: KeyObject = transfer.publicKey, runtimeKeys = [runtimeKey('TransferKey', transferKey, ['encrypt'])]): Promise<string> {
    const runtime = { keys: runtimeKeys };
    const res = await httpsRequest(maa, h.sim.caCert, 'POST', '/attest/SevSnpVm?api-version=2022-08-01', JSON.stringify({ report: b64u(Buffer.from(JSON.stringify(platformClaims))), runtimeData: { data: b64u(Buffer.from(JSON.stringify(runtime))), dataType: 'JSON' } }));
    expect(res.status).toBe(200);
    return res.body.token;
  }

  /** An RSA public key as an attested environment lists it in x-ms-runtime.keys. */
  function runtimeKey(kid: string, key: KeyObject, keyOps: string[]) {
    const jwk = key.export({ format: 'jwk' }) as { n: string; e: string };
    return { kid, kty: 'RSA', key_ops: keyOps, n: jwk.n, e: jwk.e };
  }

  const policy = (authority: string, conditions: unknown[]): KeyReleasePolicy => ({
    encodedPolicy: Buffer.from(JSON.stringify({ version: '1.0.0', anyOf: [{ authority, allOf: conditions }] })),
  });
  const compliant = () => policy(maa, [{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }, { claim: 'x-ms-compliance-status', equals: 'azure-compliant-cvm' }]);

  /** The released key material: JWS checked against its x5c (chained to the simulator's CA), then unwrapped. */
  async function unwrapRelease(value: string, oaepHash: 'sha1' | 'sha256'): Promise<{ material: Buffer; payload: any }> {
    const header = JSON.parse(Buffer.from(value.split('.')[0], 'base64url').toString());
    const leaf = new X509Certificate(Buffer.from(header.x5c[0], 'base64'));
    expect(leaf.verify(new X509Certificate(h.sim.caCert).publicKey)).toBe(true);
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const { payload } = await compactVerify(value, leaf.publicKey);
    const body = JSON.parse(Buffer.from(payload).toString());
    const keyHsm = JSON.parse(Buffer.from(body.response.key.key.key_hsm, 'base64url').toString());
    expect(keyHsm).toMatchObject({ schema_version: '1.0.0', header: { alg: 'dir', kid: 'TransferKey' } });
    const ct = Buffer.from(keyHsm.ciphertext, 'base64url');
    const aes = privateDecrypt({ key: transfer.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, ct.subarray(0, 256));
    const d = createDecipheriv('id-aes256-wrap-pad', aes, Buffer.from('A65959A6', 'hex'));
    return { material: Buffer.concat([d.update(ct.subarray(256)), d.final()]), payload: body };
  }

  beforeAll(async () => {
    h = await Harness.start();
    maa = h.sim.endpoints().attestationEndpoint;
    user = await h.newPrincipal();
    await h.assignRole(user.objectId, CRYPTO_USER, '/keys');
    kc = h.keyClient(user);
  });
  afterAll(() => h.close());

  test('an RSA key released to a compliant environment unwraps with the transfer key and is the HSM\'s key', async () => {
    const key = await kc.createRsaKey('cvm-disk', { hsm: true, keySize: 2048, exportable: true, releasePolicy: compliant() });
    expect(key.properties.exportable).toBe(true);
    expect(Buffer.from(key.properties.releasePolicy!.encodedPolicy!).toString()).toContain('azure-compliant-cvm');
    const token = await attest({ 'x-ms-compliance-status': 'azure-compliant-cvm' });
    const released = await kc.releaseKey('cvm-disk', token, { nonce: 'n-123' });
    const { material, payload } = await unwrapRelease(released.value, 'sha1');
    expect(payload.request).toMatchObject({ enc: 'CKM_RSA_AES_KEY_WRAP', kid: key.id, nonce: 'n-123' });
    const pub = createPublicKey(createPrivateKey({ key: material, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }) as { n: string; e: string };
    expect(pub.n).toBe(b64u(key.key!.n!));
    expect(pub.e).toBe(b64u(key.key!.e!));
  });

  test('an EC key released with RSA_AES_KEY_WRAP_256 and an AES key released by version match the HSM\'s keys', async () => {
    const ec = await kc.createEcKey('ec-rel', { hsm: true, curve: 'P-256', exportable: true, releasePolicy: compliant() });
    const token = await attest({ 'x-ms-compliance-status': 'azure-compliant-cvm' });
    const out = await kc.releaseKey('ec-rel', token, { algorithm: 'RSA_AES_KEY_WRAP_256' });
    const { material } = await unwrapRelease(out.value, 'sha256');
    const jwk = createPublicKey(createPrivateKey({ key: material, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }) as { x: string; y: string };
    expect([jwk.x, jwk.y]).toEqual([b64u(ec.key!.x!), b64u(ec.key!.y!)]);

    const aes = await kc.createOctKey('aes-rel', { hsm: true, keySize: 256, exportable: true, releasePolicy: compliant() });
    const { material: raw } = await unwrapRelease((await kc.releaseKey('aes-rel', token, { version: aes.properties.version })).value, 'sha1');
    expect(raw).toHaveLength(32);
    // The HSM's A256KW wrap opens with the released bytes: they are the HSM's key.
    const cek = Buffer.alloc(32, 9);
    const wrapped = await h.cryptoClient(aes.id!, user).wrapKey('A256KW', cek);
    const d = createDecipheriv('id-aes256-wrap', raw, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
    expect(Buffer.concat([d.update(wrapped.result), d.final()])).toEqual(cek);
  });

  test('refuses a token whose claims do not satisfy the policy, one from another issuer, and a forged one', async () => {
    await kc.createRsaKey('strict', { hsm: true, keySize: 2048, exportable: true, releasePolicy: compliant() });
    const wrongClaims = await attest({ 'x-ms-compliance-status': 'azure-noncompliant' });
    await expect(kc.releaseKey('strict', wrongClaims)).rejects.toMatchObject({ statusCode: 403, code: 'Forbidden', message: expect.stringMatching(/does not satisfy the key release policy.*x-ms-compliance-status equals/) });

    await kc.createRsaKey('other-authority', { hsm: true, keySize: 2048, exportable: true, releasePolicy: policy('https://sharedeus2.eus2.attest.azure.net', [{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }]) });
    await expect(kc.releaseKey('other-authority', await attest({ 'x-ms-compliance-status': 'azure-compliant-cvm' }))).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/is not an authority of the key's release policy/) });

    const rogue = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = transfer.publicKey.export({ format: 'jwk' }) as { n: string; e: string };
    const forged = await new SignJWT({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-compliance-status': 'azure-compliant-cvm', 'x-ms-runtime': { keys: [{ kid: 'TransferKey', kty: 'RSA', n: jwk.n, e: jwk.e }] } })
      .setProtectedHeader({ alg: 'RS256', kid: 'rogue' })
      .setIssuer(maa)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(rogue.privateKey);
    await expect(kc.releaseKey('strict', forged)).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/cannot be verified: its signature does not verify/) });
    await expect(kc.releaseKey('strict', 'not-a-jwt')).rejects.toMatchObject({ statusCode: 400 });
  });

  test('refuses release of a non-exportable key, and by a caller without the release permission', async () => {
    await kc.createRsaKey('plain', { hsm: true, keySize: 2048 });
    const token = await attest({ 'x-ms-compliance-status': 'azure-compliant-cvm' });
    await expect(kc.releaseKey('plain', token)).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/not exportable/) });
    const auditor = await h.newPrincipal();
    await h.assignRole(auditor.objectId, AUDITOR, '/keys');
    await expect(h.keyClient(auditor).releaseKey('strict', token)).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/keys\/release\/action/) });
  });

  test('refuses an exportable key without a policy, a policy on a non-exportable key, and a policy outside the grammar', async () => {
    await expect(kc.createRsaKey('no-policy', { hsm: true, exportable: true })).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/exportable key needs a release_policy/) });
    await expect(kc.createRsaKey('policy-only', { hsm: true, releasePolicy: compliant() })).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/only for exportable keys/) });
    const bad = { encodedPolicy: Buffer.from(JSON.stringify({ version: '1.0.0', anyOf: [{ authority: maa, allOf: [{ claim: 'x', matches: 'y' }] }] })) };
    await expect(kc.createRsaKey('bad-grammar', { hsm: true, exportable: true, releasePolicy: bad })).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/anyOf\[0\]\.allOf\[0\] must hold one operator beside claim: equals, notEquals/) });
    await expect(kc.getKey('bad-grammar')).rejects.toMatchObject({ statusCode: 404 });
  });
  test('the transfer key is the first RSA key of at least 2048 bits whose key_ops allow encryption; refuses a token with none', async () => {
    await kc.createRsaKey('pick', { hsm: true, keySize: 2048, exportable: true, releasePolicy: compliant() });
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const claims = { 'x-ms-compliance-status': 'azure-compliant-cvm' };
    const mixed = await attest(claims, transfer.publicKey, [runtimeKey('SignOnly', signing.publicKey, ['sign']), runtimeKey('Small', small.publicKey, ['encrypt']), runtimeKey('TransferKey', transfer.publicKey, ['wrapKey'])]);
    const { payload } = await unwrapRelease((await kc.releaseKey('pick', mixed)).value, 'sha1');
    expect(payload.request.kid).toMatch(/\/keys\/pick\//);
    const signOnly = await attest(claims, transfer.publicKey, [runtimeKey('SignOnly', signing.publicKey, ['sign', 'verify']), runtimeKey('Small', small.publicKey, ['encrypt'])]);
    await expect(kc.releaseKey('pick', signOnly)).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/no RSA key of at least 2048 bits whose key_ops allow encryption/) });
  });

  describe('with an attestation provider of the test\u2019s own', () => {
    const signer = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let server: https.Server;
    let authority: string;
    let jwksUri: string;
    const requests: string[] = [];

    beforeAll(async () => {
      const tls = ensureTls(h.dir);
      server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
        requests.push(req.url ?? '');
        const body = req.url === '/.well-known/openid-configuration' ? { issuer: authority, jwks_uri: jwksUri } : req.url === '/keys' ? { keys: [{ ...signer.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] } : undefined;
        res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      authority = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      jwksUri = `${authority}/keys`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    /** A token of this provider for a compliant environment holding the transfer key. */
    const token = () =>
      new SignJWT({ 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-runtime': { keys: [runtimeKey('TransferKey', transfer.publicKey, ['encrypt'])] } })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(authority)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(signer.privateKey);

    test('a token of an issuer the policy does not name is refused before anything is fetched from that issuer', async () => {
      await kc.createRsaKey('maa-only', { hsm: true, keySize: 2048, exportable: true, releasePolicy: compliant() });
      requests.length = 0;
      await expect(kc.releaseKey('maa-only', await token())).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/issuer https:\/\/127\.0\.0\.1:\d+ is not an authority of the key's release policy/) });
      expect(requests).toEqual([]);
    });

    test('the keys come from the policy\u2019s authority, and a jwks_uri on another origin is refused', async () => {
      await kc.createRsaKey('own-authority', { hsm: true, keySize: 2048, exportable: true, releasePolicy: policy(authority, [{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }]) });
      requests.length = 0;
      await unwrapRelease((await kc.releaseKey('own-authority', await token())).value, 'sha1');
      expect(requests).toEqual(['/.well-known/openid-configuration', '/keys']);
      // The same server under another name is another origin: the HSM must not follow metadata elsewhere.
      jwksUri = jwksUri.replace('127.0.0.1', 'localhost');
      requests.length = 0;
      await expect(kc.releaseKey('own-authority', await token())).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/jwks_uri .* is not on the origin of https:\/\/127\.0\.0\.1/) });
      expect(requests).toEqual(['/.well-known/openid-configuration']);
    });
  });

  test('refuses to replace an immutable release policy, also when two updates race (the check runs under the key\u2019s lock)', async () => {
    await kc.createRsaKey('frozen', { hsm: true, keySize: 2048, exportable: true, releasePolicy: compliant() });
    const keys = h.sim.managedHsm('hsm1').keys;
    const record = (immutable: boolean) => ({ contentType: 'application/json; charset=utf-8', data: b64u(compliant().encodedPolicy!), immutable });
    const [first, second] = await Promise.allSettled([keys.update('frozen', '', { releasePolicy: record(true) }), keys.update('frozen', '', { releasePolicy: record(false) })]);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({ status: 'rejected', reason: { status: 400, message: expect.stringMatching(/immutable and cannot be changed/) } });
    expect((await kc.getKey('frozen')).properties.releasePolicy?.immutable).toBe(true);
    await expect(kc.updateKeyProperties('frozen', { releasePolicy: compliant() })).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/immutable/) });
  });

  // Last: it moves the simulator's clock two hours on.
  test('refuses release once the simulator\u2019s clock has passed the key\u2019s expiry', async () => {
    const expiresOn = new Date(h.sim.clock.now() + 3600_000);
    await kc.createRsaKey('short-lived', { hsm: true, keySize: 2048, exportable: true, releasePolicy: compliant(), expiresOn });
    const token = await attest({ 'x-ms-compliance-status': 'azure-compliant-cvm' });
    await unwrapRelease((await kc.releaseKey('short-lived', token)).value, 'sha1');
    await h.sim.clock.advance(7200);
    await expect(kc.releaseKey('short-lived', token)).rejects.toMatchObject({ statusCode: 403, message: expect.stringMatching(/not allowed: the key expired at/) });
  });
});
