import * as fs from 'fs';
import * as path from 'path';
import { constants, createDecipheriv, createPrivateKey, createPublicKey, createVerify, generateKeyPairSync, privateDecrypt } from 'crypto';
import { LunaApplianceHandle, startLunaAppliance } from '../../../simulator/luna';
import { NtlsClient, NtlsClientError } from '../../../simulator/luna/ntls-client';
import { makeClientCert, run, tempDir } from './helpers';

/**
 * NTLS: only a registered client whose certificate matches its registration reaches the partitions assigned
 * to it; revoking or deleting cuts it off at once. The appliance is set up through its domain API (the SSH
 * path is covered in appliance-ssh.test.ts); the link is driven by the NTLS client over real TLS.
 */
describe('Luna NTLS link', () => {
  let dir: string;
  let h: LunaApplianceHandle;
  let cm1: { certPem: string; keyPem: string };
  let cm2: { certPem: string; keyPem: string };
  let stranger: { certPem: string; keyPem: string };

  const connect = (c: { certPem: string; keyPem: string }, serverCertPem = h.serverCertPem) =>
    NtlsClient.connect({ host: '127.0.0.1', port: h.ntlsPort, serverCertPem, clientCertPem: c.certPem, clientKeyPem: c.keyPem });

  beforeAll(async () => {
    dir = tempDir('luna-ntls-');
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4' });
    const a = h.appliance;
    await a.initHsm('LunaHSM', 'mystrongpassword', 'domain1');
    await a.createPartition('p1');
    await a.createPartition('p2');
    [cm1, cm2, stranger] = await Promise.all([makeClientCert(dir, '10.0.1.5'), makeClientCert(dir, '10.0.1.6'), makeClientCert(dir, '10.0.1.7')]);
    await a.writeFile('10.0.1.5.pem', Buffer.from(cm1.certPem));
    await a.writeFile('10.0.1.6.pem', Buffer.from(cm2.certPem));
    await a.registerClient('cm1', { ip: '10.0.1.5' });
    await a.registerClient('cm2', { ip: '10.0.1.6' });
    await a.assignPartition('cm1', 'p1');
    await a.assignPartition('cm2', 'p1');
  });

  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a registered client generates, lists, signs and wraps on its partition', async () => {
    const c = await connect(cm1);
    try {
      const hello = await c.request<{ client: string; partitions: Array<{ name: string; serial: string }> }>('hello');
      expect(hello).toEqual({ client: 'cm1', partitions: [{ name: 'p1', serial: h.appliance.partition('p1')!.serial, label: 'p1' }] });
      const { session } = await c.request<{ session: string }>('open', { partition: 'p1' });
      const ec = await c.request<{ id: string; publicKeyPem: string }>('generate', { session, type: 'EC', curve: 'P-256', label: 'sig-key' });
      const aes = await c.request<{ id: string }>('generate', { session, type: 'AES', bits: 256, label: 'kek' });
      const data = Buffer.from('ceremony');
      const { signature } = await c.request<{ signature: string }>('sign', { session, key: ec.id, algorithm: 'ES256', data: data.toString('base64') });
      expect(createVerify('sha256').update(data).verify({ key: ec.publicKeyPem, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64'))).toBe(true);
      const { wrapped } = await c.request<{ wrapped: string }>('wrap', { session, wrappingKey: aes.id, key: ec.id });
      expect(Buffer.from(wrapped, 'base64').length).toBeGreaterThan(60);
      const { objects } = await c.request<{ objects: Array<{ label: string; class: string }> }>('list', { session });
      expect(objects.map((o) => `${o.label}/${o.class}`).sort()).toEqual(['kek/secretKey', 'sig-key/privateKey', 'sig-key/publicKey']);
      await expect(c.request('sign', { session, key: ec.id, algorithm: 'MD5', data: 'aGk=' })).rejects.toMatchObject({ code: 'CKR_MECHANISM_INVALID' });
      await expect(c.request('sign', { session, key: 'zz', algorithm: 'ES256', data: 'aGk=' })).rejects.toMatchObject({ code: 'CKR_ARGUMENTS_BAD' });
      await expect(c.request('frobnicate')).rejects.toMatchObject({ code: 'CKR_FUNCTION_NOT_SUPPORTED' });
    } finally {
      c.close();
    }
  });

  test('pkcs11-tool lists the objects of the partition token', async () => {
    const pins = JSON.parse(fs.readFileSync(path.join(dir, 'state', 'pkcs11', 'pins', 'p1.json'), 'utf8'));
    const r = await run('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--token-label', 'p1', '--login', '--pin', pins.user, '--list-objects'], {
      env: { SOFTHSM2_CONF: path.join(dir, 'state', 'pkcs11', 'softhsm2.conf') },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Private Key Object; EC[\s\S]*label:\s+sig-key/);
    expect(r.stdout).toMatch(/Secret Key Object; AES[\s\S]*label:\s+kek/);
  });

  test('an unregistered certificate is refused', async () => {
    const c = await connect(stranger);
    await expect(c.request('hello')).rejects.toMatchObject({ code: 'NTLS_CLIENT_NOT_REGISTERED' });
    c.close();
  });

  test('a partition not assigned to the client cannot be opened', async () => {
    const c = await connect(cm1);
    await expect(c.request('open', { partition: 'p2' })).rejects.toMatchObject({ code: 'CKR_TOKEN_NOT_PRESENT' });
    await expect(c.request('open', { partition: 'nosuch' })).rejects.toMatchObject({ code: 'CKR_TOKEN_NOT_PRESENT' });
    c.close();
  });

  test('the link refuses a server whose certificate is not the pinned server.pem', async () => {
    const other = await makeClientCert(dir, 'impostor');
    await expect(connect(cm1, other.certPem)).rejects.toMatchObject({ code: 'NTLS_SERVER_CERT_MISMATCH' });
  });

  test('revokePartition cuts an open session at once; delete cuts the client off', async () => {
    const c2 = await connect(cm2);
    const { session } = await c2.request<{ session: string }>('open', { partition: 'p1' });
    await c2.request('list', { session });
    const closed = c2.closed();
    await h.appliance.revokePartition('cm2', 'p1');
    await closed;
    expect(c2.closeReason?.code).toBe('NTLS_ACCESS_REVOKED');
    await expect(c2.request('list', { session })).rejects.toBeInstanceOf(NtlsClientError);
    // Reconnecting: registered, but p1 is no longer offered.
    const again = await connect(cm2);
    expect((await again.request<{ partitions: unknown[] }>('hello')).partitions).toEqual([]);
    await expect(again.request('open', { partition: 'p1' })).rejects.toMatchObject({ code: 'CKR_TOKEN_NOT_PRESENT' });
    const gone = again.closed();
    await h.appliance.deleteClient('cm2');
    await gone;
    const after = await connect(cm2);
    await expect(after.request('hello')).rejects.toMatchObject({ code: 'NTLS_CLIENT_NOT_REGISTERED' });
    after.close();
    // cm1 is untouched.
    const c1 = await connect(cm1);
    const s = await c1.request<{ session: string }>('open', { partition: 'p1' });
    expect((await c1.request<{ objects: unknown[] }>('list', { session: s.session })).objects).toHaveLength(3);
    c1.close();
  });

  test('keys survive a restart', async () => {
    await h.close();
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4' });
    const c = await connect(cm1);
    const { session } = await c.request<{ session: string }>('open', { partition: 'p1' });
    const { objects } = await c.request<{ objects: Array<{ label: string }> }>('list', { session });
    expect(objects.map((o) => o.label).sort()).toEqual(['kek', 'sig-key', 'sig-key']);
    c.close();
  });
  test('wraps for a foreign RSA public key (RSA-OAEP SHA-1), unwraps data and destroys keys', async () => {
    const c = await connect(cm1);
    try {
      const { session } = await c.request<{ session: string }>('open', { partition: 'p1' });
      // The KEK: an RSA key pair outside the partition (a Managed HSM's key exchange key in BYOK).
      const kek = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const kekPem = kek.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const target = await c.request<{ id: string; publicKeyPem: string }>('generate', { session, type: 'EC', curve: 'P-256', label: 'byok-target' });
      const aes = await c.request<{ id: string }>('generate', { session, type: 'AES', bits: 256, label: 'ephemeral' });
      const { wrapped: wrappedAes } = await c.request<{ wrapped: string }>('wrap', { session, wrappingPublicKeyPem: kekPem, key: aes.id });
      const { wrapped: wrappedTarget } = await c.request<{ wrapped: string }>('wrap', { session, wrappingKey: aes.id, key: target.id });
      // Outside: RSA-OAEP(SHA-1) gives the AES key; AES-KWP (RFC 5649) gives the target's PKCS#8, whose public half is the partition's.
      const aesKey = privateDecrypt({ key: kek.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from(wrappedAes, 'base64'));
      expect(aesKey.length).toBe(32);
      const decipher = createDecipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
      const pkcs8 = Buffer.concat([decipher.update(Buffer.from(wrappedTarget, 'base64')), decipher.final()]);
      const derived = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'pem' });
      expect(derived).toBe(target.publicKeyPem);

      const secret = Buffer.from('firewall master key 0123456789ab');
      const { wrapped } = await c.request<{ wrapped: string }>('wrap', { session, wrappingKey: aes.id, data: secret.toString('base64') });
      const { data } = await c.request<{ data: string }>('unwrap', { session, wrappingKey: aes.id, data: wrapped });
      expect(Buffer.from(data, 'base64')).toEqual(secret);
      await expect(c.request('unwrap', { session, wrappingKey: aes.id, data: Buffer.alloc(40, 1).toString('base64') })).rejects.toMatchObject({ code: 'CKR_WRAPPED_KEY_INVALID' });
      await expect(c.request('wrap', { session, wrappingPublicKeyPem: 'not a key', key: aes.id })).rejects.toMatchObject({ code: 'CKR_ARGUMENTS_BAD' });

      await c.request('destroy', { session, key: aes.id });
      await expect(c.request('wrap', { session, wrappingKey: aes.id, data: secret.toString('base64') })).rejects.toMatchObject({ code: 'CKR_KEY_HANDLE_INVALID' });
      await expect(c.request('destroy', { session, key: aes.id })).rejects.toMatchObject({ code: 'CKR_KEY_HANDLE_INVALID' });
    } finally {
      c.close();
    }
  });
});
