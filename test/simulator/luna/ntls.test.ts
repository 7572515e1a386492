import * as fs from 'fs';
import * as path from 'path';
import * as tls from 'tls';
import { createPublicKey, verify as nodeVerify } from 'crypto';
import { LunaApplianceHandle, startLunaAppliance } from '../../../simulator/luna';
import { makeClientCert, pkcs11Tool, run, tempDir, writeBundle } from './helpers';

/**
 * NTLS carries p11-kit's PKCS#11 RPC: pkcs11-tool, through p11-kit-client.so and the bundle's tunnel, reaches
 * only the partitions assigned to a registered client; the TLS handshake refuses any other certificate.
 * The appliance is set up through its domain API (the SSH path is in appliance-ssh.test.ts).
 */
describe('Luna NTLS: PKCS#11 over p11-kit', () => {
  const PO = 'po-Passw0rd';
  const CO = 'co-Passw0rd';
  let dir: string;
  let h: LunaApplianceHandle;
  let cm1: { certPem: string; keyPem: string };
  let cm2: { certPem: string; keyPem: string };
  let stranger: { certPem: string; keyPem: string };
  let b1: string;
  let b2: string;
  /** The appliance's log: a TLS-level refusal is logged as "refused a connection". */
  const log: string[] = [];
  const tlsRefusals = () => log.filter((l) => l.includes('refused a connection')).length;

  beforeAll(async () => {
    dir = tempDir('luna-ntls-');
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4', logger: { info: (m) => log.push(m), error: (m) => log.push(m) } });
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
    await a.assignPartition('cm2', 'p2');
    b1 = writeBundle(path.join(dir, 'b1'), h, { name: 'cm1', ...cm1 }, 'p1');
    b2 = writeBundle(path.join(dir, 'b2'), h, { name: 'cm2', ...cm2 }, 'p2');
    // lunacm's partition init and role init -name co, as pkcs11-tool does them: C_InitToken, then C_InitPIN as the PO.
    for (const b of [b1, b2]) {
      expect((await pkcs11Tool(b, ['--init-token', '--label', 'part', '--so-pin', PO])).code).toBe(0);
      expect((await pkcs11Tool(b, ['--login', '--login-type', 'so', '--so-pin', PO, '--init-pin', '--new-pin', CO])).code).toBe(0);
    }
  });

  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('pkcs11-tool lists only the partition assigned to the client', async () => {
    const r = await pkcs11Tool(b1, ['-L']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/token label\s+:\s+p1\b/);
    expect(r.stdout).not.toMatch(/token label\s+:\s+p2\b/);
    const other = await pkcs11Tool(b2, ['-L']);
    expect(other.stdout).toMatch(/token label\s+:\s+p2\b/);
    expect(other.stdout).not.toMatch(/token label\s+:\s+p1\b/);
  });

  test('pkcs11-tool generates, signs and verifies with a partition key; the other partition does not see it', async () => {
    const gen = await pkcs11Tool(b1, ['--login', '--pin', CO, '--keypairgen', '--key-type', 'rsa:2048', '--label', 'sig', '--id', '01']);
    expect(gen.code).toBe(0);
    const data = path.join(dir, 'data.txt');
    fs.writeFileSync(data, 'ceremony');
    const sigFile = path.join(dir, 'data.sig');
    const sign = await pkcs11Tool(b1, ['--login', '--pin', CO, '--sign', '-m', 'SHA256-RSA-PKCS', '--id', '01', '-i', data, '-o', sigFile]);
    expect(sign.code).toBe(0);
    const verify = await pkcs11Tool(b1, ['--login', '--pin', CO, '--verify', '-m', 'SHA256-RSA-PKCS', '--id', '01', '-i', data, '--signature-file', sigFile]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('Signature is valid');
    // The signature checks out independently, with the public key read from the partition.
    const pubDer = path.join(dir, 'pub.der');
    expect((await pkcs11Tool(b1, ['--read-object', '--type', 'pubkey', '--id', '01', '-o', pubDer])).code).toBe(0);
    const pub = createPublicKey({ key: fs.readFileSync(pubDer), format: 'der', type: 'spki' });
    expect(nodeVerify('sha256', Buffer.from('ceremony'), pub, fs.readFileSync(sigFile))).toBe(true);

    const mine = await pkcs11Tool(b1, ['--login', '--pin', CO, '--list-objects']);
    expect(mine.stdout).toMatch(/label:\s+sig/);
    const theirs = await pkcs11Tool(b2, ['--login', '--pin', CO, '--list-objects']);
    expect(theirs.code).toBe(0);
    expect(theirs.stdout).not.toMatch(/label:\s+sig/);
  });

  test('OpenSSL signs a CSR with a partition key through the pkcs11 engine, as CipherTrust does for its TLS key', async () => {
    expect((await pkcs11Tool(b1, ['--login', '--pin', CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'tls', '--id', '02'])).code).toBe(0);
    const { partitionModule } = await import('../../../scripts/commands/luna-connect');
    const pm = await partitionModule(b1);
    const csr = path.join(dir, 'ctm.csr');
    const r = await run(
      'openssl',
      ['req', '-new', '-engine', 'pkcs11', '-keyform', 'engine', '-key', `pkcs11:token=p1;object=tls;type=private;pin-value=${CO}`, '-subj', '/CN=ciphertrust.example', '-out', csr],
      { env: { ...pm.env, PKCS11_MODULE_PATH: pm.module } },
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const check = await run('openssl', ['req', '-in', csr, '-noout', '-verify', '-pubkey']);
    expect(check.code).toBe(0);
    expect(check.stdout + check.stderr).toMatch(/verify OK/i);
    // The CSR carries the partition key's public half.
    const pubDer = path.join(dir, 'tls.der');
    await pkcs11Tool(b1, ['--read-object', '--type', 'pubkey', '--id', '02', '-o', pubDer]);
    const partitionPub = createPublicKey({ key: fs.readFileSync(pubDer), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' });
    expect(check.stdout).toContain(String(partitionPub).trim());
  });

  /**
   * Opens TLS with a certificate and sends p11-kit's version byte: an accepted link answers with the server's
   * version byte (from p11-kit remote); a refused one is closed at the handshake with not a byte of PKCS#11.
   */
  const handshake = (c: { certPem: string; keyPem: string }) =>
    new Promise<{ ok: boolean }>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: h.ntlsPort, cert: c.certPem, key: c.keyPem, rejectUnauthorized: false });
      s.once('secureConnect', () => s.write(Buffer.from([1])));
      s.once('data', () => {
        s.destroy();
        resolve({ ok: true });
      });
      s.on('error', () => undefined);
      s.once('close', () => resolve({ ok: false }));
    });

  test('refuses an unregistered certificate at the TLS handshake', async () => {
    const before = tlsRefusals();
    expect(await handshake(stranger)).toEqual({ ok: false });
    expect(tlsRefusals()).toBe(before + 1);
    const tool = await pkcs11Tool(writeBundle(path.join(dir, 'bs'), h, { name: 'stranger', ...stranger }, 'p1'), ['-L']);
    expect(tool.code).not.toBe(0);
    expect(tool.stderr).toContain('closed the link at the TLS handshake');
    expect(await handshake(cm1)).toEqual({ ok: true });
  });

  test('hsmctl byok\'s wrap check refuses a partition reached through p11-kit 0.24 (no AES key wrap in its RPC), saying what to do', async () => {
    const { partitionModule } = await import('../../../scripts/commands/luna-connect');
    const pm = await partitionModule(b1);
    const probe = [
      "const { Pkcs11Token } = require('./scripts/clients/pkcs11-token');",
      `const t = Pkcs11Token.open(${JSON.stringify(pm.module)}, 'p1', process.env.CO_PIN);`,
      'try { t.checkCanWrap(); console.log("wraps"); } catch (e) { console.log(e.message); } finally { t.close(); }',
    ].join('\n');
    const r = await run(process.execPath, ['-r', 'tsx/cjs', '-e', probe], { env: { ...pm.env, CO_PIN: CO }, cwd: path.resolve(__dirname, '../../..') });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/token "p1" cannot wrap for BYOK here: .*CKR_MECHANISM_INVALID.*p11-kit 0\.24.*--byok-file\. Nothing was generated or imported/);
    // Nothing was left in the partition by the check.
    expect((await pkcs11Tool(b1, ['--login', '--pin', CO, '--list-objects'])).stdout).not.toMatch(/byok-/);
  });

  test('refuses the handshake once the partition is revoked or the client deleted, and cuts a live link at once', async () => {
    expect(await handshake(cm2)).toEqual({ ok: true });
    // A live link: a p11-kit client holding a session; the revocation ends it.
    const live = tls.connect({ host: '127.0.0.1', port: h.ntlsPort, cert: cm2.certPem, key: cm2.keyPem, rejectUnauthorized: false });
    await new Promise((r) => live.once('secureConnect', r));
    const closed = new Promise((r) => live.once('close', r));
    await h.appliance.revokePartition('cm2', 'p2');
    await closed;
    const before = tlsRefusals();
    expect(await handshake(cm2)).toEqual({ ok: false });
    // Refused by the TLS layer (the certificate is no longer trusted), not after it.
    expect(tlsRefusals()).toBe(before + 1);
    await h.appliance.assignPartition('cm2', 'p2');
    expect(await handshake(cm2)).toEqual({ ok: true });
    await h.appliance.deleteClient('cm2');
    expect((await handshake(cm2)).ok).toBe(false);
    expect(await handshake(cm1)).toEqual({ ok: true });
  });

  test('a malformed PKCS#11 frame ends only that link; other clients go on', async () => {
    const s = tls.connect({ host: '127.0.0.1', port: h.ntlsPort, cert: cm1.certPem, key: cm1.keyPem, rejectUnauthorized: false });
    await new Promise((r) => s.once('secureConnect', r));
    s.on('error', () => undefined);
    const closed = new Promise((r) => s.once('close', r));
    // The version byte, then a frame header announcing a body far larger than any PKCS#11 call.
    const header = Buffer.alloc(12);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(0, 4);
    header.writeUInt32BE(0x7fffffff, 8);
    s.write(Buffer.concat([Buffer.from([1]), header]));
    await closed;
    const r = await pkcs11Tool(b1, ['-L']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/token label\s+:\s+p1\b/);
  });

  test('keys survive an appliance restart', async () => {
    await h.close();
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4' });
    writeBundle(b1, h, { name: 'cm1', ...cm1 }, 'p1');
    const r = await pkcs11Tool(b1, ['--login', '--pin', CO, '--list-objects', '--type', 'privkey']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/label:\s+sig/);
    expect(r.stdout).toMatch(/label:\s+tls/);
  });
});
