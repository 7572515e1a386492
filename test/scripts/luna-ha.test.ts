import * as fs from 'fs';
import * as path from 'path';
import { ForkedLunaHandle, forkLunaAppliance } from '../../simulator/luna/fork';
import { pkcs11Tool, run, tempDir } from '../simulator/luna/helpers';

const HSMCTL = path.resolve(__dirname, '..', '..', 'scripts', 'hsmctl.js');

/**
 * HA groups over two appliances (each in its own process, as behind a Dedicated HSM HA pair): hsmctl luna ha
 * create clones the partition and turns replication on through the appliances; pkcs11-tool through the
 * client's bundle sees objects made on either member on the other, keeps working with one member stopped, and
 * sees what was made meanwhile once it is back; an appliance of another cloning domain is refused.
 */
describe('hsmctl luna ha', () => {
  const env = { TA_PW: 'Tenant-Adm1n-pw', SO_PW: 'So-Passw0rd-x', DOM: 'clone-domain-1', OTHER: 'clone-domain-2', PO: 'po-Passw0rd', CO: 'co-Passw0rd' };
  let dir: string;
  let a: ForkedLunaHandle;
  let b: ForkedLunaHandle;
  let c: ForkedLunaHandle;
  let bundle: string;
  /** B's log: a refused exchange shows there. */
  const bLog: string[] = [];
  const hsmctl = (...args: string[]) => run('node', [HSMCTL, ...args], { cwd: dir, env, timeoutMs: 90_000 });
  const member = (h: ForkedLunaHandle) => `127.0.0.1:${h.sshPort}:${h.ntlsPort}`;
  const init = (h: ForkedLunaHandle, domainVar: string) =>
    hsmctl('luna', 'init', '--hsm', '127.0.0.1', '--ssh-port', String(h.sshPort), '--password-env', 'TA_PW', '--so-password-env', 'SO_PW', '--domain-env', domainVar, '--label', 'LunaHSM', '--partition', 'ha_part');
  /** A copy of the bundle whose group lists only one member: what that appliance alone holds. */
  const only = (h: ForkedLunaHandle, name: string): string => {
    const d = path.join(dir, name);
    fs.cpSync(bundle, d, { recursive: true });
    const j = JSON.parse(fs.readFileSync(path.join(d, 'bundle.json'), 'utf8'));
    j.ha.members = j.ha.members.filter((m: { ntlsPort: number }) => m.ntlsPort === h.ntlsPort);
    fs.writeFileSync(path.join(d, 'bundle.json'), JSON.stringify(j));
    return d;
  };
  const labels = async (b1: string) => {
    const r = await pkcs11Tool(b1, ['--login', '--pin', env.CO, '--list-objects', '--type', 'privkey']);
    if (r.code !== 0) throw new Error(r.stderr);
    return [...r.stdout.matchAll(/label:\s+(\S+)/g)].map((m) => m[1]);
  };
  /** Replication runs right after a change (or at a member's start): wait until the label shows (or goes), up to 30 s. */
  const eventually = async (b1: string, label: string, present = true) => {
    for (let i = 0; i < 60; i++) {
      if ((await labels(b1)).includes(label) === present) return true;
      await new Promise((r) => setTimeout(r, 500));
    }
    return false;
  };

  beforeAll(async () => {
    dir = tempDir('luna-ha-');
    const logger = { info: (m: string) => bLog.push(m), error: (m: string) => bLog.push(m) };
    [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n, i) => forkLunaAppliance({ stateDir: path.join(dir, n), ip: `10.2.1.${8 + i}`, logger: n === 'b' ? logger : undefined })));
    const inits = await Promise.all([init(a, 'DOM'), init(b, 'DOM'), init(c, 'OTHER')]);
    for (const r of inits) expect(r.code).toBe(0);
    const reg = await hsmctl('luna', 'register-client', '--hsm', '127.0.0.1', '--ssh-port', String(a.sshPort), '--ntls-port', String(a.ntlsPort), '--password-env', 'TA_PW', '--client', 'ctm', '--ip', '10.2.0.10', '--partition', 'ha_part', '--key-type', 'ec', '--out', 'bundle');
    expect(reg.stderr).toBe('');
    bundle = path.join(dir, 'bundle');
    const pinit = await hsmctl('luna', 'partition-init', '--bundle', bundle, '--label', 'ha_part', '--po-password-env', 'PO', '--co-password-env', 'CO');
    expect(pinit.code).toBe(0);
    expect((await pkcs11Tool(bundle, ['--login', '--pin', env.CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'before-ha'])).code).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([a, b, c].map((h) => h?.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('refuses a member of another cloning domain, and changes nothing', async () => {
    const r = await hsmctl('luna', 'ha', 'create', '--label', 'bad', '--partition', 'ha_part', '--member', member(a), '--member', member(c), '--password-env', 'TA_PW', '--so-password-env', 'SO_PW');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cloning domain/);
    const show = await run('sshpass', ['-p', env.TA_PW, 'ssh', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-p', String(a.sshPort), 'tenantadmin@127.0.0.1', 'partition replication show -partition ha_part']);
    expect(show.stdout).toContain('Not replicated.');
  });

  test('ha create clones the partition to the second member; objects replicate both ways', async () => {
    const r = await hsmctl('luna', 'ha', 'create', '--label', 'ctm-ha', '--partition', 'ha_part', '--member', member(a), '--member', member(b), '--password-env', 'TA_PW', '--so-password-env', 'SO_PW', '--bundle', bundle);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cloned to 127\.0\.0\.1:\d+/);
    const onB = only(b, 'only-b');
    const onA = only(a, 'only-a');
    // The clone carried the object made before the group, and the roles: the same CO password works on B.
    expect(await labels(onB)).toContain('before-ha');
    expect((await pkcs11Tool(onA, ['--login', '--pin', env.CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'made-on-a'])).code).toBe(0);
    expect(await eventually(onB, 'made-on-a')).toBe(true);
    expect((await pkcs11Tool(onB, ['--login', '--pin', env.CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'made-on-b'])).code).toBe(0);
    expect(await eventually(onA, 'made-on-b')).toBe(true);
    // A deletion travels too.
    expect((await pkcs11Tool(onA, ['--login', '--pin', env.CO, '--delete-object', '--type', 'privkey', '--label', 'made-on-b'])).code).toBe(0);
    expect(await eventually(onB, 'made-on-b', false)).toBe(true);
    const show = await hsmctl('luna', 'ha', 'show', '--bundle', bundle, '--json');
    expect(JSON.parse(show.stdout)).toMatchObject({ label: 'ctm-ha', members: [{ up: true }, { up: true }], serving: `127.0.0.1:${a.ntlsPort}` });
  });

  test('a client of the group keeps working with one member stopped, and sees new objects when it returns', async () => {
    const aPorts = { sshPort: a.sshPort, ntlsPort: a.ntlsPort };
    await a.close();
    const show = await hsmctl('luna', 'ha', 'show', '--bundle', bundle, '--json');
    expect(JSON.parse(show.stdout)).toMatchObject({ members: [{ up: false }, { up: true }], serving: `127.0.0.1:${b.ntlsPort}` });
    // The group's bundle fails over to B.
    expect((await pkcs11Tool(bundle, ['--login', '--pin', env.CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'made-while-a-down'])).code).toBe(0);
    expect(await labels(bundle)).toEqual(expect.arrayContaining(['before-ha', 'made-on-a', 'made-while-a-down']));
    a = await forkLunaAppliance({ stateDir: path.join(dir, 'a'), ip: '10.2.1.8', ...aPorts });
    expect(await eventually(only(a, 'only-a-again'), 'made-while-a-down')).toBe(true);
  });

  test('ten wrong PO passwords on one member zeroize its partition alone: it leaves the group, the other member keeps every object; it can join again', async () => {
    const onA = only(a, 'only-a-zeroized');
    const onB = only(b, 'only-b-kept');
    const before = await labels(onB);
    expect(before).toEqual(expect.arrayContaining(['before-ha', 'made-on-a', 'made-while-a-down']));
    for (let i = 0; i < 10; i++) await pkcs11Tool(onA, ['--login', '--login-type', 'so', '--so-pin', `wrong-Passw0rd-${i}`, '-O']);
    const zeroized = await pkcs11Tool(onA, ['--login', '--pin', env.CO, '--list-objects']);
    expect(zeroized.stderr).toContain('CKR_USER_PIN_NOT_INITIALIZED');
    const show = await run('sshpass', ['-p', env.TA_PW, 'ssh', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-p', String(a.sshPort), 'tenantadmin@127.0.0.1', 'partition replication show -partition ha_part']);
    expect(show.stdout).toContain('Not replicated.');
    // A change on B starts an exchange with A: A refuses it (B is no longer its peer: cut at the TLS handshake)
    // instead of answering that every object is gone. Wait for B to log the refusal (or, were it broken, to lose objects).
    bLog.length = 0;
    expect((await pkcs11Tool(onB, ['--login', '--pin', env.CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'after-zeroize'])).code).toBe(0);
    for (let i = 0; i < 60 && !bLog.some((l) => l.startsWith('luna replication: ha_part:')) && (await labels(onB)).includes('before-ha'); i++) {
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(bLog.some((l) => l.startsWith('luna replication: ha_part:'))).toBe(true);
    expect(await labels(onB)).toEqual(expect.arrayContaining([...before, 'after-zeroize']));
    // Emptied, A joins the group again: ha create clones B's partition (objects and roles) to it.
    const again = await hsmctl('luna', 'ha', 'create', '--label', 'ctm-ha', '--partition', 'ha_part', '--member', member(a), '--member', member(b), '--password-env', 'TA_PW', '--so-password-env', 'SO_PW', '--bundle', bundle);
    expect(again.stderr).toBe('');
    expect(again.stdout).toMatch(/cloned from 127\.0\.0\.1:\d+/);
    expect(await labels(onA)).toEqual(expect.arrayContaining([...before, 'after-zeroize']));
  });
});
