import * as fs from 'fs';
import * as path from 'path';
import { LunaApplianceHandle, startLunaAppliance } from '../../simulator/luna';
import { pkcs11Tool, run, ssh, tempDir } from '../simulator/luna/helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const HSMCTL = path.join(ROOT, 'scripts', 'hsmctl.js');

/**
 * hsmctl luna init and luna register-client end to end against a simulated appliance: they drive it over
 * SSH exactly as a real one (the appliance runs in this process; hsmctl in a child process).
 */
describe('hsmctl luna', () => {
  const secrets = { TA_PW: 'Tenant-Adm1n-pw', SO_PW: 'So-Passw0rd-x', DOM: 'clone-domain-1' };
  let dir: string;
  let h: LunaApplianceHandle;

  const hsmctl = (...args: string[]) => run('node', [HSMCTL, ...args], { cwd: dir, env: { ...secrets, CHECKPOINT_DISABLE: '1' }, timeoutMs: 60000 });
  const noSecrets = (r: { stdout: string; stderr: string }) => {
    for (const s of Object.values(secrets)) expect(r.stdout + r.stderr).not.toContain(s);
  };
  const initArgs = () => ['luna', 'init', '--hsm', '127.0.0.1', '--ssh-port', String(h.sshPort), '--password-env', 'TA_PW', '--so-password-env', 'SO_PW', '--domain-env', 'DOM', '--label', 'LunaHSM', '--fips', '--partition', 'luna_part', 'p2'];
  const regArgs = (ip: string, ...more: string[]) => [
    'luna', 'register-client', '--hsm', '127.0.0.1', '--ssh-port', String(h.sshPort), '--ntls-port', String(h.ntlsPort),
    '--password-env', 'TA_PW', '--client', 'cm1', '--ip', ip, '--partition', 'luna_part', '--key-type', 'ec', '--out', 'bundle', ...more,
  ];

  beforeAll(async () => {
    dir = tempDir('luna-hsmctl-');
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4' });
  });

  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('bad flags are usage errors (exit 2) and change nothing', async () => {
    const r = await hsmctl('luna', 'init', '--hsm', '127.0.0.1', '--label', 'bad label!', '--password-env', 'TA_PW');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--label must be');
    const missing = await hsmctl('luna', 'init', '--hsm', '127.0.0.1', '--ssh-port', String(h.sshPort), '--label', 'L', '--password-env', 'NOPE_UNSET', '--so-password-env', 'SO_PW', '--domain-env', 'DOM');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('NOPE_UNSET');
    const reg = await hsmctl('luna', 'register-client', '--hsm', '127.0.0.1', '--client', 'cm1', '--ip', '10.0.1.999', '--partition', 'p', '--password-env', 'TA_PW');
    expect(reg.code).toBe(2);
    expect(reg.stderr).toContain('--ip must be an IP address');
    expect(h.appliance.admin().mustChange).toBe(true);
  });

  test('luna connect, partition-init and ha create refuse bad flags (exit 2) before touching anything', async () => {
    const noBundle = await hsmctl('luna', 'connect');
    expect(noBundle.code).toBe(2);
    expect(noBundle.stderr).toContain('--bundle DIR is required');
    const missing = await hsmctl('luna', 'connect', '--bundle', 'no-such-dir');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no bundle.json there');
    const label = await hsmctl('luna', 'partition-init', '--bundle', 'b', '--label', 'bad label', '--po-password-env', 'SO_PW', '--co-password-env', 'SO_PW');
    expect(label.code).toBe(2);
    expect(label.stderr).toContain('--label must be');
    const one = await hsmctl('luna', 'ha', 'create', '--label', 'g', '--partition', 'p', '--member', '10.0.0.1', '--password-env', 'TA_PW', '--so-password-env', 'SO_PW');
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('--member must name two or more appliances');
  });

  test('luna init: first login, hsm init, FIPS, partitions; a second run changes nothing', async () => {
    const r = await hsmctl(...initArgs());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('changed the initial password of tenantadmin');
    expect(r.stdout).toContain('set FIPS 140-2 mode');
    expect(r.stdout).toContain('created partition luna_part');
    noSecrets(r);
    const a = h.appliance;
    expect(a.hsm()).toMatchObject({ initialized: true, label: 'LunaHSM' });
    expect(a.fipsMode()).toBe(true);
    expect(a.partitions().map((p) => p.name)).toEqual(['luna_part', 'p2']);
    expect(r.stdout).toContain(`partition luna_part: serial ${a.partition('luna_part')!.serial}`);

    const before = JSON.stringify([a.hsm(), a.partitions()]);
    const again = await hsmctl(...initArgs(), '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ label: 'LunaHSM', fips: true, changes: [] });
    expect(JSON.stringify([a.hsm(), a.partitions()])).toBe(before);
  });

  test('luna init refuses an HSM initialised with another label, and a wrong password', async () => {
    const other = await hsmctl(...initArgs().map((x) => (x === 'LunaHSM' ? 'OtherHSM' : x)));
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('refusing to re-initialise');
    const wrong = await run('node', [HSMCTL, ...initArgs()], { cwd: dir, env: { ...secrets, TA_PW: 'Wrong-Passw0rd' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('refused both the given password and the initial one');
    expect(wrong.stderr).not.toContain('Wrong-Passw0rd');
    expect(h.appliance.hsm().label).toBe('LunaHSM');
  });

  test('luna register-client: registers, proves NTLS, writes the bundle; re-running changes nothing', async () => {
    const r = await hsmctl(...regArgs('10.0.1.5'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    noSecrets(r);
    expect(r.stdout).toContain('registered client cm1 (10.0.1.5)');
    expect(r.stdout).toContain('assigned partition luna_part to cm1');
    const c = h.appliance.client('cm1')!;
    expect(c).toMatchObject({ ip: '10.0.1.5', partitions: ['luna_part'] });

    const out = path.join(dir, 'bundle');
    expect(fs.statSync(out).mode & 0o777).toBe(0o700);
    const files = fs.readdirSync(out).sort();
    expect(files).toEqual(['bundle.json', 'cm1.pem', 'cm1Key.pem', 'luna-env.sh', 'luna.module', 'server.pem']);
    for (const f of files) expect(fs.statSync(path.join(out, f)).mode & 0o777).toBe(0o600);
    const bundle = JSON.parse(fs.readFileSync(path.join(out, 'bundle.json'), 'utf8'));
    const part = h.appliance.partition('luna_part')!;
    expect(bundle.partition).toEqual({ name: 'luna_part', label: 'luna_part', serialNumber: part.serial });
    expect(bundle.hsm.ip).toBe('10.0.2.4');
    expect(bundle.ciphertrust.connection.partitions).toEqual([{ hostname: '10.0.2.4', partition_label: 'luna_part', serial_number: part.serial }]);
    expect(JSON.stringify(bundle)).not.toMatch(/password/i);
    expect(fs.readFileSync(path.join(out, 'server.pem'), 'utf8')).toBe(h.serverCertPem);
    expect(fs.readFileSync(path.join(out, 'cm1.pem'), 'utf8')).toBe(c.certPem);

    // The bundle works as a client would use it: pkcs11-tool through p11-kit over NTLS sees the partition.
    const listed = await pkcs11Tool(out, ['-L']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/token label\s+:\s+luna_part\b/);
    expect(listed.stdout).not.toMatch(/token label\s+:\s+p2\b/);
    const connect = await hsmctl('luna', 'connect', '--bundle', out, '--json');
    expect(connect.code).toBe(0);
    expect(JSON.parse(connect.stdout)).toMatchObject({ token: 'luna_part', env: { P11_KIT_SERVER_ADDRESS: expect.stringMatching(/^\|.*ntls-tunnel.*\.js /) } });
    // The README's `eval "$(hsmctl luna connect --bundle DIR --env)"`, then pkcs11-tool with only that environment.
    const evaluated = await run('bash', ['-c', `eval "$(node ${HSMCTL} luna connect --bundle ${out} --env)" && pkcs11-tool --module /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so -L`], { cwd: dir });
    expect(evaluated.code).toBe(0);
    expect(evaluated.stdout).toMatch(/token label\s+:\s+luna_part\b/);

    const stamp = files.map((f) => fs.statSync(path.join(out, f)).mtimeMs);
    const again = await hsmctl(...regArgs('10.0.1.5'));
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to change');
    expect(files.map((f) => fs.statSync(path.join(out, f)).mtimeMs)).toEqual(stamp);
    expect(h.appliance.client('cm1')).toEqual(c);
  });

  test('a name taken by another IP is refused unless --replace', async () => {
    const before = h.appliance.client('cm1');
    const r = await hsmctl(...regArgs('10.0.1.6'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already registered with IP 10.0.1.5');
    expect(h.appliance.client('cm1')).toEqual(before);

    const replaced = await hsmctl(...regArgs('10.0.1.6', '--replace'));
    expect(replaced.stderr).toBe('');
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).toContain('deleted the previous registration of cm1');
    const now = h.appliance.client('cm1')!;
    expect(now).toMatchObject({ ip: '10.0.1.6', partitions: ['luna_part'] });
    expect(now.fingerprint).not.toBe(before!.fingerprint);
    const show = await ssh(h.sshPort, secrets.TA_PW, 'client show -client cm1');
    expect(show.stdout).toMatch(/IPAddress:\s+10\.0\.1\.6/);
  });
});
