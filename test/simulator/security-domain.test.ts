import * as fs from 'fs';
import * as path from 'path';
import { X509Certificate, generateKeyPairSync, sign } from 'crypto';
import { Harness, CRYPTO_USER, clientOptions } from './harness';
import { decryptShare, interpolate, openData } from './sd-decoder';
import { KeyClient } from '@azure/keyvault-keys';
import { ManagedHsmAdminClient, HsmRequestError } from '../../scripts/clients/mhsm-admin';
import { downloadSecurityDomain, makeWrappingKeys, recoverSecurityDomain, loadWrappingKeys, restoreBlob, SD_FILE } from '../../scripts/ceremonies/security-domain';
import { selfSignedCertificate, derToPem } from '../../simulator/managedhsm/x509';
import { ErrorCodes } from '../../simulator';
import { hsmctl } from '../hsmctl-in-process';


function combinations<T>(xs: T[], k: number): T[][] {
  if (k === 0) return [[]];
  return xs.flatMap((x, i) => combinations(xs.slice(i + 1), k - 1).map((c) => [x, ...c]));
}

describe('security domain: download, recovery, same-domain semantics', () => {
  let h: Harness;
  let work: string;
  let sdDir: string;
  const admin = (uri: string) => h.adminClient(uri);
  const N = 4;
  const M = 3;

  beforeAll(async () => {
    h = await Harness.start({ activate: false });
    work = Harness.tempDir('sd-work-');
    sdDir = path.join(work, 'sd');
  });
  afterAll(async () => {
    await h.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  async function newHsm(name: string) {
    return h.sim.createManagedHsm({ name, administrators: [h.admin.objectId], softDeleteRetentionDays: 7 });
  }

  test('download activates the HSM; the independent decoder recovers the master key from any M of N keys, never from M-1', async () => {
    const c = admin(h.hsmUri);
    expect(await c.downloadStatus()).toBeUndefined();
    const made = await makeWrappingKeys(N, 2048, 365);
    const r = await downloadSecurityDomain(c, { out: sdDir, required: M, made });
    expect(r.status.status).toBe('Success');
    expect(h.sim.managedHsm('hsm1').activated).toBe(true);
    expect(fs.statSync(sdDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(sdDir, SD_FILE)).mode & 0o777).toBe(0o600);
    for (const f of r.keyFiles) expect(fs.statSync(f.key).mode & 0o777).toBe(0o600);

    const file = JSON.parse(fs.readFileSync(path.join(sdDir, SD_FILE), 'utf8'));
    expect(file.SharedKeys).toMatchObject({ required: M, key_algorithm: 'shamir_share' });
    expect(file.SharedKeys.enc_shares).toHaveLength(N);
    expect(file.EncData.kdf).toBe('sp108_kdf');
    const shares = made.map((m) => decryptShare(file, m.privateKey, m.certificate));
    for (const s of shares) expect(s.length).toBe(64);
    const masters = combinations(shares, M).map((c) => interpolate(c));
    for (const m of masters) {
      expect(m.equals(masters[0])).toBe(true);
      const data = openData(file, m);
      expect(data).not.toBeNull();
    }
    for (const c2 of combinations(shares, M - 1)) expect(openData(file, interpolate(c2))).toBeNull();
  });

  test('only an Administrator may run security-domain operations', async () => {
    const stranger = await h.newPrincipal();
    const hsm = await newHsm('sd-rbac');
    const res = await h.request('GET', '/securitydomain/upload?api-version=7.4', undefined, stranger, undefined);
    expect(res.status).toBe(403);
    const c = new ManagedHsmAdminClient(hsm.hsmUri, stranger.credential, { ca: h.sim.caCert });
    try {
      await expect(c.exchangeKey()).rejects.toMatchObject({ status: 403, code: ErrorCodes.Forbidden });
    } finally {
      c.close();
    }
    expect(hsm.record().recovery).toBeUndefined();
  });

  test('recovery gives a second HSM the same domain: it restores the first one\'s backups, an HSM of another domain refuses them', async () => {
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
    const k = await h.keyClient().createEcKey('shared', { curve: 'P-256', hsm: true });
    const blob = await h.keyClient().backupKey('shared');

    const second = await newHsm('sd-second');
    const keys = loadWrappingKeys([0, 2, 3].map((i) => path.join(sdDir, `cert_${i}.key`)), () => undefined);
    const s = await recoverSecurityDomain(admin(second.hsmUri), fs.readFileSync(path.join(sdDir, SD_FILE), 'utf8'), keys);
    expect(s.status).toBe('Success');
    expect(second.activated).toBe(true);
    expect(second.record().domain!.id).toBe(h.sim.managedHsm('hsm1').record().domain!.id);
    await second.rbac.put({ name: '00000000-0000-0000-0000-00000000a001', scope: '/', roleDefinitionId: CRYPTO_USER, principalId: h.admin.objectId });
    const kc2 = new KeyClient(second.hsmUri, h.admin.credential, clientOptions(h.sim));
    const restored = await kc2.restoreKeyBackup(blob!);
    expect(restored.properties.version).toBe(k.properties.version);

    const other = await newHsm('sd-other');
    await other.setActivated(true);
    await other.rbac.put({ name: '00000000-0000-0000-0000-00000000a002', scope: '/', roleDefinitionId: CRYPTO_USER, principalId: h.admin.objectId });
    const kc3 = new KeyClient(other.hsmUri, h.admin.credential, clientOptions(h.sim));
    await expect(kc3.restoreKeyBackup(blob!)).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/security domain/) });
    expect(other.keys.list()).toHaveLength(0);
  });

  test('rotation: the same domain downloaded under new certificates recovers into another HSM', async () => {
    const out = path.join(work, 'sd-rotated');
    const r = await hsmctl(['sd', 'rotate', '--simulator', h.dir, '--hsm', 'hsm1', '--certs', '3', '--quorum', '2', '--key-size', '2048', '--out', out]);
    expect(r).toMatchObject({ code: 0 });
    const third = await newHsm('sd-third');
    const rec = await hsmctl(['sd', 'recover', '--simulator', h.dir, '--hsm', 'sd-third', '--sd-file', path.join(out, SD_FILE), '--keys', path.join(out, 'cert_1.key'), path.join(out, 'cert_2.key')]);
    expect(rec).toMatchObject({ code: 0 });
    expect(third.record().domain!.id).toBe(h.sim.managedHsm('hsm1').record().domain!.id);
  });

  test('fails with a clear error and changes nothing: fewer keys than the quorum, a key of another certificate, a corrupted file', async () => {
    const target = await newHsm('sd-errors');
    const sd = path.join(sdDir, SD_FILE);
    const base = ['sd', 'recover', '--simulator', h.dir, '--hsm', 'sd-errors', '--sd-file'];
    const few = await hsmctl([...base, sd, '--keys', path.join(sdDir, 'cert_0.key'), path.join(sdDir, 'cert_1.key')]);
    expect(few.code).toBe(1);
    expect(few.err).toMatch(/needs 3 wrapping keys \(its quorum\); got 2/);

    const strayDir = path.join(work, 'stray');
    const stray = await makeWrappingKeys(1, 2048, 30);
    fs.mkdirSync(strayDir, { recursive: true });
    fs.writeFileSync(path.join(strayDir, 'k.key'), stray[0].privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    fs.writeFileSync(path.join(strayDir, 'k.cer'), derToPem(stray[0].certificate.raw));
    const foreign = await hsmctl([...base, sd, '--keys', path.join(sdDir, 'cert_0.key'), path.join(sdDir, 'cert_1.key'), path.join(strayDir, 'k.key')]);
    expect(foreign.code).toBe(1);
    expect(foreign.err).toMatch(/k\.key: its certificate .* is not one of the 4 certificates/);

    const corrupt = path.join(work, 'corrupt.json');
    const f = JSON.parse(fs.readFileSync(sd, 'utf8'));
    const jwe: string = f.EncData.data[0].compact_jwe;
    const parts = jwe.split('.');
    parts[3] = (parts[3][0] === 'A' ? 'B' : 'A') + parts[3].slice(1);
    f.EncData.data[0].compact_jwe = parts.join('.');
    fs.writeFileSync(corrupt, JSON.stringify(f));
    const bad = await hsmctl([...base, corrupt, '--keys', ...[0, 1, 2].map((i) => path.join(sdDir, `cert_${i}.key`))]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/cannot be decrypted/);
    const notJson = path.join(work, 'not.json');
    fs.writeFileSync(notJson, '{"EncData":');
    expect((await hsmctl([...base, notJson, '--keys', path.join(sdDir, 'cert_0.key'), path.join(sdDir, 'cert_1.key'), path.join(sdDir, 'cert_2.key')])).err).toMatch(/not valid JSON/);

    // None of these touched the HSM: not active, never entered recovery.
    expect(target.activated).toBe(false);
    expect(target.record().recovery).toBeUndefined();
  });

  test('a restore blob for another exchange key is refused and changes nothing; an active HSM refuses recovery and a second activation', async () => {
    const a = await newHsm('sd-xa');
    const b = await newHsm('sd-xb');
    const ca = admin(a.hsmUri);
    const cb = admin(b.hsmUri);
    const exB = await cb.exchangeKey();
    await ca.exchangeKey();
    const keys = loadWrappingKeys([0, 1, 2].map((i) => path.join(sdDir, `cert_${i}.key`)), () => undefined);
    const blobForB = restoreBlob(fs.readFileSync(path.join(sdDir, SD_FILE), 'utf8'), new X509Certificate(Buffer.from(exB.x5c[0], 'base64')), keys);
    const err = await ca.uploadSecurityDomain(blobForB).catch((e) => e);
    expect(err).toBeInstanceOf(HsmRequestError);
    expect(err).toMatchObject({ status: 400, code: ErrorCodes.BadParameter });
    expect(err.message).toMatch(/another exchange key/);
    expect(a.activated).toBe(false);
    expect(a.record().recovery).toBeDefined();
    // The right blob still works afterwards.
    await cb.uploadSecurityDomain(blobForB);
    expect(b.activated).toBe(true);

    const again = await hsmctl(['sd', 'activate', '--simulator', h.dir, '--hsm', 'hsm1', '--key-size', '2048', '--out', path.join(work, 'again')]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already activated/);
    expect(fs.existsSync(path.join(work, 'again'))).toBe(false);
    const domain = h.sim.managedHsm('hsm1').record().domain!.id;
    const rec = await hsmctl(['sd', 'recover', '--simulator', h.dir, '--hsm', 'hsm1', '--sd-file', path.join(sdDir, SD_FILE), '--keys', ...[0, 1, 2].map((i) => path.join(sdDir, `cert_${i}.key`))]);
    expect(rec.code).toBe(1);
    expect(rec.err).toMatch(/already activated/);
    expect(h.sim.managedHsm('hsm1').record().domain!.id).toBe(domain);
  });

  test('expired certificates still recover the domain, with a warning', async () => {
    const dir = path.join(work, 'expired');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const certs: X509Certificate[] = [];
    for (let i = 0; i < 3; i++) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const der = await selfSignedCertificate({ commonName: `old ${i}`, publicKey, notBefore: new Date(Date.now() - 400 * 86400_000), notAfter: new Date(Date.now() - 35 * 86400_000), sign: (tbs) => sign('sha256', tbs, privateKey) });
      fs.writeFileSync(path.join(dir, `cert_${i}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
      fs.writeFileSync(path.join(dir, `cert_${i}.cer`), derToPem(der));
      certs.push(new X509Certificate(der));
    }
    const src = await newHsm('sd-old');
    const act = await hsmctl(['sd', 'activate', '--simulator', h.dir, '--hsm', 'sd-old', '--cert', ...[0, 1, 2].map((i) => path.join(dir, `cert_${i}.cer`)), '--quorum', '2', '--out', path.join(dir, 'out')]);
    expect(act).toMatchObject({ code: 0 });
    expect(src.activated).toBe(true);
    const dst = await newHsm('sd-old-dst');
    const exchange = path.join(dir, 'exchange.cer');
    const exchangeKey = await admin(dst.hsmUri).exchangeKey();
    fs.writeFileSync(exchange, derToPem(Buffer.from(exchangeKey.x5c[0], 'base64')));
    const blobFile = path.join(dir, 'restore_blob.json');
    const rb = await hsmctl(['sd', 'restore-blob', '--sd-file', path.join(dir, 'out', SD_FILE), '--exchange-key', exchange, '--keys', path.join(dir, 'cert_0.key'), path.join(dir, 'cert_2.key'), '--out', blobFile]);
    expect(rb.code).toBe(0);
    expect(rb.err).toMatch(/warning: the certificate .*cert_0\.cer expired/);
    expect(fs.statSync(blobFile).mode & 0o777).toBe(0o600);
    await admin(dst.hsmUri).uploadSecurityDomain(fs.readFileSync(blobFile, 'utf8'));
    expect(dst.record().domain!.id).toBe(src.record().domain!.id);
  });
});
