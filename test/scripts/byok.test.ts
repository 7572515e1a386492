import * as fs from 'fs';
import * as path from 'path';
import { execFile, execFileSync } from 'child_process';
import { createHash, createPublicKey, verify as nodeVerify, KeyObject } from 'crypto';
import { Harness, CRYPTO_USER } from '../simulator/harness';

const ROOT = path.resolve(__dirname, '..', '..');
const SOFTHSM = process.env.SOFTHSM2_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '246810';

/**
 * hsmctl byok end to end, as an operator runs it: a source token (SoftHSM2 standing in for a Luna partition,
 * reached through its PKCS#11 library) and the simulator's Managed HSM; hsmctl runs as its own process.
 * What was imported is checked with tools that share no code with hsmctl: pkcs11-tool reads the token's public
 * key, the Azure SDK signs in the Managed HSM, Node's crypto verifies.
 */
describe('hsmctl byok', () => {
  let h: Harness;
  let tokenDir: string;
  let env: NodeJS.ProcessEnv;
  let target: string[];
  let source: string[];

  beforeAll(async () => {
    h = await Harness.start();
    await h.assignRole(h.admin.objectId, CRYPTO_USER, '/keys');
    // A 2048-bit KEK made up front: the default of 4096 bits costs seconds of key generation in every run.
    await h.keyClient().createRsaKey('byok-kek', { hsm: true, keySize: 2048, keyOps: ['import'] });
    tokenDir = Harness.tempDir('byok-source-');
    fs.mkdirSync(path.join(tokenDir, 'tokens'));
    fs.writeFileSync(path.join(tokenDir, 'softhsm2.conf'), `directories.tokendir = ${tokenDir}/tokens\nobjectstore.backend = file\n`);
    env = { ...process.env, SOFTHSM2_CONF: path.join(tokenDir, 'softhsm2.conf'), SRC_PIN: PIN };
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'src-part', '--so-pin', '13579', '--pin', PIN], { env, stdio: 'pipe' });
    target = ['--simulator', h.dir, '--hsm', 'hsm1'];
    source = ['--pkcs11-module', SOFTHSM, '--token', 'src-part', '--pin-env', 'SRC_PIN'];
  });
  afterAll(async () => {
    await h.close();
    fs.rmSync(tokenDir, { recursive: true, force: true });
  });

  /** hsmctl as its own process, asynchronously: the simulator serving it runs in this one. */
  const hsmctl = (args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'scripts', 'hsmctl.js'), ...args], { cwd: h.dir, env, encoding: 'utf8' }, (err, out, errText) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errText });
      });
    });

  /** The token's public key as pkcs11-tool exports it. */
  const tokenPublicKey = (label: string): KeyObject => {
    const file = path.join(tokenDir, `${label}.pub.der`);
    execFileSync('pkcs11-tool', ['--module', SOFTHSM, '--token-label', 'src-part', '--login', '--pin', PIN, '--read-object', '--type', 'pubkey', '--label', label, '-o', file], { env, stdio: 'pipe' });
    return createPublicKey({ key: fs.readFileSync(file), format: 'der', type: 'spki' });
  };

  const absent = async (name: string) => expect(await h.keyClient().getKey(name).then(() => 'present', (e) => e.statusCode)).toBe(404);

  test.each([
    ['RSA-2048', 'RS256', 'sha256', undefined],
    ['EC-P256', 'ES256', 'sha256', 'ieee-p1363'],
  ] as const)('GIVEN a %s key generated in the token WHEN hsmctl byok imports it THEN the Managed HSM holds the same key: its signature verifies with the token\'s public key', async (type, alg, hash, dsaEncoding) => {
    const name = `byok-${type.toLowerCase()}`;
    const out = path.join(h.dir, `${name}.byok`);
    const r = await hsmctl(['byok', name, ...target, ...source, '--key-label', name, '--generate', type, '--out', out, '--expires', 'P1Y']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`generated ${type} "${name}" in token src-part`));
    expect(r.out).toMatch(/imported https:\/\/.*\/keys\/byok-[a-z0-9-]+\/[0-9a-f]{32}: its public key is the token's/);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const byok = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(byok).toMatchObject({ schema_version: '1.0.0', header: { alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP', kid: expect.stringMatching(/\/keys\/byok-kek\/[0-9a-f]{32}$/) } });

    const key = await h.keyClient().getKey(name);
    expect(key.keyType).toBe(type.startsWith('RSA') ? 'RSA-HSM' : 'EC-HSM');
    expect(key.properties.expiresOn).toBeDefined();
    const message = Buffer.from(`signed in the Managed HSM for ${name}`);
    const digest = createHash(hash).update(message).digest();
    const signature = Buffer.from((await h.cryptoClient(key.id!).sign(alg, digest)).result);
    expect(nodeVerify(hash, message, dsaEncoding ? { key: tokenPublicKey(name), dsaEncoding } : tokenPublicKey(name), signature)).toBe(true);
    expect(nodeVerify(hash, Buffer.from('another message'), dsaEncoding ? { key: tokenPublicKey(name), dsaEncoding } : tokenPublicKey(name), signature)).toBe(false);
  });

  test('an AES-256 key of the token arrives as an oct-HSM key of 256 bits', async () => {
    const r = await hsmctl(['byok', 'byok-aes', ...target, ...source, '--key-label', 'byok-aes', '--generate', 'AES-256', '--out', path.join(h.dir, 'aes.byok'), '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.slice(r.out.indexOf('{')))).toMatchObject({ name: 'byok-aes', kty: 'oct-HSM' });
  });

  test('a .byok made elsewhere is imported with --byok-file; a tampered one is refused by the HSM and nothing is imported', async () => {
    const made = path.join(h.dir, 'byok-rsa-2048.byok');
    const ok = await hsmctl(['byok', 'from-file', ...target, '--byok-file', made, '--kty', 'RSA-HSM']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^imported from-file from .*byok-rsa-2048\.byok \(KEK byok-kek\)/);

    const blob = JSON.parse(fs.readFileSync(made, 'utf8'));
    const ct = Buffer.from(blob.ciphertext, 'base64url');
    ct[ct.length - 5] ^= 0x01; // inside the AES-wrapped key: its integrity check must fail
    const tampered = path.join(h.dir, 'tampered.byok');
    fs.writeFileSync(tampered, JSON.stringify({ ...blob, ciphertext: ct.toString('base64url') }));
    const bad = await hsmctl(['byok', 'tampered', ...target, '--byok-file', tampered, '--kty', 'RSA-HSM']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^hsmctl byok: the HSM refused: 400 \w+/);
    await absent('tampered');
  });

  test.each([
    [{ header: undefined }, /not a valid \.byok file: .*header\.kid must be the KEK's versioned key id/],
    [{ schema_version: '2.0' }, /schema_version must be "1\.0\.0"/],
    [{ header: { kid: 'https://other.managedhsm.azure.net/keys/byok-kek/0123456789abcdef0123456789abcdef', alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' } }, /made for a KEK of other\.managedhsm\.azure\.net/],
  ])('a .byok file with %j is refused before the HSM is asked (exit 1), nothing imported', async (change, message) => {
    const blob = { ...JSON.parse(fs.readFileSync(path.join(h.dir, 'byok-rsa-2048.byok'), 'utf8')), ...change };
    const file = path.join(h.dir, 'changed.byok');
    fs.writeFileSync(file, JSON.stringify(blob));
    const r = await hsmctl(['byok', 'changed', ...target, '--byok-file', file, '--kty', 'RSA-HSM']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    await absent('changed');
  });

  test.each([
    ['kek-signing', { kty: 'RSA', keySize: 2048, keyOps: ['sign', 'verify'] }, /key kek-signing cannot be the key exchange key: its key_ops are \[sign, verify\]; a KEK has key_ops \["import"\] only/],
    ['kek-ec', { kty: 'EC', curve: 'P-256', keyOps: ['sign', 'verify'] }, /key kek-ec cannot be the key exchange key: it is EC-HSM; a KEK is RSA-HSM/],
  ])('a KEK that is not one (%s) is refused (exit 1) before a key is generated in the token; nothing imported', async (kek, spec, message) => {
    const s = spec as { kty: string; keySize?: number; curve?: string; keyOps: string[] };
    await (s.kty === 'RSA' ? h.keyClient().createRsaKey(kek, { hsm: true, keySize: s.keySize, keyOps: s.keyOps as never }) : h.keyClient().createEcKey(kek, { hsm: true, curve: s.curve as never, keyOps: s.keyOps as never }));
    const r = await hsmctl(['byok', `with-${kek}`, ...target, ...source, '--kek', kek, '--key-label', `with-${kek}`, '--generate', 'RSA-2048', '--out', path.join(h.dir, `${kek}.byok`)]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    await absent(`with-${kek}`);
    expect(fs.existsSync(path.join(h.dir, `${kek}.byok`))).toBe(false);
    // Nothing was made in the token either: the KEK is checked before the key is generated.
    const objects = execFileSync('pkcs11-tool', ['--module', SOFTHSM, '--token-label', 'src-part', '--login', '--pin', PIN, '--list-objects'], { env, encoding: 'utf8' });
    expect(objects).not.toContain(`with-${kek}`);
  });

  test.each([
    [['--kek-size', '1024'], /--kek-size must be an integer from 2048 to 4096; got 1024/],
    [['--generate', 'DSA-1024'], /--generate DSA-1024: allowed RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384, EC-P521, AES-256/],
    [['--byok-file', 'x.byok'], /--pkcs11-module wraps a key here; with --byok-file the key is already wrapped/],
  ])('usage errors exit 2 before anything is touched: %j', async (extra, message) => {
    const r = await hsmctl(['byok', 'usage', ...target, ...source, '--key-label', 'usage', ...(extra as string[])]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message as RegExp);
    await absent('usage');
  });

  test('a wrong PIN is refused by the token with its reason (exit 1)', async () => {
    const r = await hsmctl(['byok', 'wrong-pin', ...target, ...source.map((a) => (a === 'SRC_PIN' ? 'WRONG_PIN' : a)), '--key-label', 'x', '--generate', 'RSA-2048']);
    expect(r.code).toBe(2); // WRONG_PIN is not set: a usage error naming the variable
    expect(r.err).toMatch(/--pin-env: the environment variable WRONG_PIN .* is not set or empty/);
    env.WRONG_PIN = '000000';
    const refused = await hsmctl(['byok', 'wrong-pin', ...target, ...source.map((a) => (a === 'SRC_PIN' ? 'WRONG_PIN' : a)), '--key-label', 'x', '--generate', 'RSA-2048']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/token "src-part" refused the login: CKR_PIN_INCORRECT/);
    await absent('wrong-pin');
  });

  test('a name already taken is refused unless --new-version; --generate does not reuse an existing token key', async () => {
    const taken = await hsmctl(['byok', 'byok-rsa-2048', ...target, ...source, '--key-label', 'byok-rsa-2048']);
    expect(taken.code).toBe(1);
    expect(taken.err).toMatch(/a key named byok-rsa-2048 already exists .* give --new-version/);
    const again = await hsmctl(['byok', 'byok-second', ...target, ...source, '--key-label', 'byok-rsa-2048', '--generate', 'RSA-2048']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already holds a key labelled "byok-rsa-2048"; drop --generate/);
    const version = await hsmctl(['byok', 'byok-rsa-2048', ...target, ...source, '--key-label', 'byok-rsa-2048', '--new-version', '--out', path.join(h.dir, 'v2.byok')]);
    expect(version.code).toBe(0);
    const versions: string[] = [];
    for await (const v of h.keyClient().listPropertiesOfKeyVersions('byok-rsa-2048')) versions.push(v.version!);
    expect(versions).toHaveLength(2);
  });
});
