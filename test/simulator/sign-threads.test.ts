import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { constants, createHash, createPublicKey, KeyObject, verify } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { Pkcs11Module } from '../../simulator/pkcs11/module';
import { SignThreads } from '../../simulator/pkcs11/sign-threads';
import { signMechanism, SIGN_ALGS } from '../../simulator/managedhsm/algorithms';

const REPO = path.resolve(__dirname, '../..');
const digest = createHash('sha256').update('message').digest();

describe('signing threads', () => {
  let dir: string;
  let m: Pkcs11Module;
  let rsa: KeyObject;
  let ec: KeyObject;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sign-threads-'));
    m = Pkcs11Module.open(dir);
    const { n, e } = await m.token('a').generateRsa('01', 'rsa', 2048, Buffer.from([1, 0, 1]), { sign: true });
    rsa = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
    const point = await m.token('b').generateEc('01', 'ec', 'P-256', { sign: true });
    ec = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') }, format: 'jwk' });
    await m.token('a').generateRsa('02', 'decrypt-only', 2048, Buffer.from([1, 0, 1]), { decrypt: true });
  });

  afterAll(() => {
    m.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('many signs at once on two tokens each come back to their caller and verify', async () => {
    const rs256 = signMechanism(SIGN_ALGS.RS256, digest);
    const jobs = Array.from({ length: 120 }, (_, i) =>
      i % 2 === 0
        ? m.token('a').sign('01', rs256.mech, rs256.data, 512).then((sig) => verify('sha256', Buffer.from('message'), rsa, sig))
        : m.token('b').sign('01', { mechanism: pkcs11js.CKM_ECDSA }, digest, 132).then((sig) => verify('sha256', Buffer.from('message'), { key: ec, dsaEncoding: 'ieee-p1363' }, sig)),
    );
    expect(await Promise.all(jobs)).toEqual(jobs.map(() => true));
  });

  test('mechanism parameters cross to the thread (RSA-PSS)', async () => {
    const ps256 = signMechanism(SIGN_ALGS.PS256, digest);
    const sig = await m.token('a').sign('01', ps256.mech, ps256.data, 512);
    expect(verify('sha256', Buffer.from('message'), { key: rsa, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig)).toBe(true);
  });

  test("a sign the token refuses rejects with the token's Pkcs11Error, and the thread goes on signing", async () => {
    const rs256 = signMechanism(SIGN_ALGS.RS256, digest);
    const refused = await m
      .token('a')
      .sign('02', rs256.mech, rs256.data, 512)
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(refused).toBeInstanceOf(pkcs11js.Pkcs11Error);
    expect((refused as pkcs11js.Pkcs11Error).code).toBe(pkcs11js.CKR_KEY_FUNCTION_NOT_PERMITTED);
    // The threads still work: more signs at once than threads, every one verified.
    const sigs = await Promise.all(Array.from({ length: 8 }, () => m.token('a').sign('01', rs256.mech, rs256.data, 512)));
    expect(sigs.every((s) => verify('sha256', Buffer.from('message'), rsa, s))).toBe(true);
  });
});

test('signing threads that cannot start fail every sign with the reason instead of leaving it waiting', async () => {
  const threads = new SignThreads('/nonexistent/libsofthsm2.so', 2);
  const outcomes = await Promise.all(
    Array.from({ length: 6 }, () =>
      threads.sign(Buffer.alloc(8), Buffer.alloc(8), { mechanism: pkcs11js.CKM_ECDSA }, Buffer.alloc(32), 132).then(
        () => 'signed',
        (err: Error) => err.message,
      ),
    ),
  );
  for (const o of outcomes) expect(o).toMatch(/^a PKCS#11 signing thread (failed: .*nonexistent|stopped)/);
  threads.close();
});

/**
 * Runs a TypeScript snippet in its own process (one PKCS#11 library per process) and returns what it printed.
 * With `cores`, the child's os.availableParallelism() reports that many cores, as a machine of that size would.
 */
function runChild(code: string, cores?: number, timeoutMs = 30_000) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sign-threads-child-'));
  const script = path.join(dir, 'child.ts');
  const preload = path.join(dir, 'cores.js');
  fs.writeFileSync(preload, `require('os').availableParallelism = () => ${cores ?? 'require("os").cpus().length'};\n`);
  fs.writeFileSync(
    script,
    `import * as pkcs11js from ${JSON.stringify(require.resolve('pkcs11js'))};\nimport * as os from 'os';\nimport { Pkcs11Module } from ${JSON.stringify(path.join(REPO, 'simulator/pkcs11/module'))};\nimport { signThreadCount, DEPTH } from ${JSON.stringify(path.join(REPO, 'simulator/pkcs11/sign-threads'))};\nconst dir = ${JSON.stringify(path.join(dir, 'token'))};\n(async () => {\n${code}\n})().catch((err) => { console.error(err); process.exitCode = 1; });\n`,
  );
  const r = spawnSync(process.execPath, ...[cores === undefined ? ['-r', 'tsx/cjs', script] : ['-r', preload, '-r', 'tsx/cjs', script]], { cwd: REPO, encoding: 'utf8', timeout: timeoutMs });
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('signing threads and the life of the process', () => {
  test.each([
    [1, 2],
    [2, 2],
    [16, 8],
  ])('with %i cores reported (%i threads), close() answers the signs the threads had taken, refuses the queued ones, and finalises cleanly', (cores, threads) => {
    const r = runChild(
      `
      const m = Pkcs11Module.open(dir);
      const t = m.token('t');
      await t.generateRsa('01', 'k', 2048, Buffer.from([1, 0, 1]), { sign: true });
      const outcomes = Array.from({ length: 40 }, () => t.sign('01', { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, Buffer.from('x'), 512).then((s) => 'signed ' + s.length, (e) => e.message));
      m.close();
      const after = await t.sign('01', { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, Buffer.from('x'), 512).then(() => 'signed', (e) => e.message);
      const counts = {};
      for (const o of [...(await Promise.all(outcomes)), after]) counts[o] = (counts[o] ?? 0) + 1;
      console.log(JSON.stringify({ cores: os.availableParallelism(), threads: signThreadCount(), depth: DEPTH, counts }));
    `,
      cores,
    );
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { threads: started, depth, counts } = JSON.parse(r.stdout) as { threads: number; depth: number; counts: Record<string, number> };
    expect(started).toBe(threads);
    // Every sign gets an answer, never a hang: a signature for each one a thread had taken before close() (each
    // thread takes `depth` at once, in order, before the stop), the closed module's error for the rest and after.
    expect(counts).toEqual({ 'signed 256': threads * depth, 'the PKCS#11 module is closed': 41 - threads * depth });
  });

  test('a process that has signed exits on its own: idle signing threads do not keep it alive', () => {
    const r = runChild(`
      const m = Pkcs11Module.open(dir);
      const t = m.token('t');
      await t.generateEc('01', 'k', 'P-256', { sign: true });
      const sig = await t.sign('01', { mechanism: pkcs11js.CKM_ECDSA }, Buffer.alloc(32, 1), 132);
      console.log(sig.length);
    `);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('64');
  });

  test('a process waiting on a sign stays alive until the answer comes', () => {
    const r = runChild(`
      const m = Pkcs11Module.open(dir);
      const t = m.token('t');
      await t.generateRsa('01', 'k', 2048, Buffer.from([1, 0, 1]), { sign: true });
      // Nothing else keeps the event loop alive while these run on the threads.
      const sigs = await Promise.all(Array.from({ length: 20 }, () => t.sign('01', { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, Buffer.from('x'), 512)));
      console.log(sigs.map((s) => s.length).join(','));
      m.close();
    `);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(Array(20).fill(256).join(','));
  });
});
