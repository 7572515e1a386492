import { X509Certificate, createHash } from 'crypto';
import { compactVerify } from 'jose';
import { Harness, CRYPTO_USER } from './harness';

describe('key attestation (api-version 7.6) through the real KeyClient', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
  });
  afterAll(() => h.close());

  /** The chain from certificatePemFile: device first, then the vendor root (self-signed). */
  function chainOf(pemFile: Uint8Array): X509Certificate[] {
    const pems = Buffer.from(pemFile).toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
    return pems.map((p) => new X509Certificate(p));
  }

  test('an RSA key is attested, private and public, by the vendor chain, with what the token records for it', async () => {
    const kc = h.keyClient();
    const key = await kc.createRsaKey('attested', { hsm: true, keySize: 3072 });
    const got = await kc.getKeyAttestation('attested');
    const att = got.properties.attestation!;
    expect(att.version).toBe('1.0.0');
    const [device, root] = chainOf(att.certificatePemFile!);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(device.verify(root.publicKey)).toBe(true);
    expect(root.subject).toMatch(/Simulated HSM Vendor Root CA/);
    const { payload } = await compactVerify(Buffer.from(att.privateKeyAttestation!).toString('utf8'), device.publicKey);
    const statement = JSON.parse(Buffer.from(payload).toString());
    expect(statement).toMatchObject({ kid: key.id, object: 'private', kty: 'RSA-HSM', keySize: 3072, attributes: { CKA_SENSITIVE: true, CKA_LOCAL: true, CKA_CLASS: 3 } });
    expect(statement.publicKeySha256).toBe(createHash('sha256').update(JSON.stringify({ n: Buffer.from(key.key!.n!).toString('base64url'), e: Buffer.from(key.key!.e!).toString('base64url') })).digest('base64url'));
    const pub = await compactVerify(Buffer.from(att.publicKeyAttestation!).toString('utf8'), device.publicKey);
    expect(JSON.parse(Buffer.from(pub.payload).toString())).toMatchObject({ object: 'public', kid: key.id });
  });

  test('an imported AES key gets only a private attestation, which says it was not generated in the HSM', async () => {
    const res = await h.request('PUT', '/keys/imported-aes?api-version=7.6', { key: { kty: 'oct-HSM', k: Buffer.alloc(32, 3).toString('base64url') } });
    expect(res.status).toBe(200);
    const att = (await h.keyClient().getKeyAttestation('imported-aes')).properties.attestation!;
    expect(att.publicKeyAttestation).toBeUndefined();
    const [device] = chainOf(att.certificatePemFile!);
    const { payload } = await compactVerify(Buffer.from(att.privateKeyAttestation!).toString('utf8'), device.publicKey);
    expect(JSON.parse(Buffer.from(payload).toString())).toMatchObject({ kty: 'oct-HSM', attributes: { CKA_LOCAL: false, CKA_CLASS: 4 } });
  });

  test('refuses an api-version before 7.6 and a caller without key read permission', async () => {
    await h.keyClient().createEcKey('ec-att', { hsm: true, curve: 'P-256' });
    const old = await h.request('GET', '/keys/ec-att/attestation?api-version=7.5');
    expect(old.status).toBe(400);
    expect(old.body.error.message).toMatch(/api-version 7\.6 or later/);
    const stranger = await h.newPrincipal();
    await expect(h.keyClient(stranger).getKeyAttestation('ec-att')).rejects.toMatchObject({ statusCode: 403 });
  });
});
