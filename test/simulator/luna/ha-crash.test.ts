import * as fs from 'fs';
import * as path from 'path';
import { ForkedLunaHandle, forkLunaAppliance } from '../../../simulator/luna/fork';
import { pkcs11Tool, run, tempDir } from './helpers';

const HSMCTL = path.resolve(__dirname, '..', '..', '..', 'scripts', 'hsmctl.js');

/**
 * kill -9 in the middle of the two steps that replace a partition's token wholesale, each parked at its fault
 * point (MHSM_SIM_FAULT, simulator/managedhsm/faults.ts) so the kill lands exactly there: a member taking its HA
 * peer's clone, and the PO lockout's zeroize. Each is finished at the next start: no mix of two tokens, no old key
 * in a zeroized partition. Two appliances, each in its own process; set up with hsmctl as an operator would.
 */
describe('Luna appliance: kill -9 while a partition token is replaced', () => {
  const env = { TA_PW: 'Tenant-Adm1n-pw', SO_PW: 'So-Passw0rd-x', DOM: 'clone-domain-1', PO: 'po-Passw0rd', CO: 'co-Passw0rd' };
  let dir: string;
  let a: ForkedLunaHandle;
  let b: ForkedLunaHandle;
  let bPorts: { sshPort: number; ntlsPort: number };
  let bundle: string;
  const hsmctl = (...args: string[]) => run('node', [HSMCTL, ...args], { cwd: dir, env, timeoutMs: 90_000 });
  const member = (h: ForkedLunaHandle) => `127.0.0.1:${h.sshPort}:${h.ntlsPort}`;
  const haCreate = () =>
    hsmctl('luna', 'ha', 'create', '--label', 'crash-ha', '--partition', 'ha_part', '--member', member(a), '--member', member(b), '--password-env', 'TA_PW', '--so-password-env', 'SO_PW', '--bundle', bundle);
  /** B alone, its ports as they were (A's replication record names them). */
  const startB = (fault?: string) =>
    forkLunaAppliance({ stateDir: path.join(dir, 'b'), ip: '10.2.1.9', ...bPorts, env: fault ? { ...process.env, MHSM_SIM_FAULT: fault } : undefined });
  /** A copy of the bundle whose group lists only B. */
  const onlyB = (name: string): string => {
    const d = path.join(dir, name);
    fs.cpSync(bundle, d, { recursive: true });
    const j = JSON.parse(fs.readFileSync(path.join(d, 'bundle.json'), 'utf8'));
    j.ha.members = j.ha.members.filter((m: { ntlsPort: number }) => m.ntlsPort === bPorts.ntlsPort);
    fs.writeFileSync(path.join(d, 'bundle.json'), JSON.stringify(j));
    return d;
  };
  /** Resolves once the fault point wrote its marker (bounded: 2400 looks, 25 ms apart). */
  const reached = async (marker: string) => {
    for (let i = 0; i < 2400 && !fs.existsSync(marker); i++) await new Promise((r) => setTimeout(r, 25));
    return fs.existsSync(marker);
  };
  const kill9 = async (h: ForkedLunaHandle) => {
    process.kill(h.pid, 'SIGKILL');
    await h.close();
  };

  beforeAll(async () => {
    dir = tempDir('luna-crash-');
    [a, b] = await Promise.all(['a', 'b'].map((n, i) => forkLunaAppliance({ stateDir: path.join(dir, n), ip: `10.2.1.${8 + i}` })));
    bPorts = { sshPort: b.sshPort, ntlsPort: b.ntlsPort };
    const init = (h: ForkedLunaHandle) =>
      hsmctl('luna', 'init', '--hsm', '127.0.0.1', '--ssh-port', String(h.sshPort), '--password-env', 'TA_PW', '--so-password-env', 'SO_PW', '--domain-env', 'DOM', '--label', 'LunaHSM', '--partition', 'ha_part');
    for (const r of await Promise.all([init(a), init(b)])) expect(r.stderr).toBe('');
    const reg = await hsmctl('luna', 'register-client', '--hsm', '127.0.0.1', '--ssh-port', String(a.sshPort), '--ntls-port', String(a.ntlsPort), '--password-env', 'TA_PW', '--client', 'ctm', '--ip', '10.2.0.10', '--partition', 'ha_part', '--key-type', 'ec', '--out', 'bundle');
    expect(reg.stderr).toBe('');
    bundle = path.join(dir, 'bundle');
    expect((await hsmctl('luna', 'partition-init', '--bundle', bundle, '--label', 'ha_part', '--po-password-env', 'PO', '--co-password-env', 'CO')).code).toBe(0);
    expect((await pkcs11Tool(bundle, ['--login', '--pin', env.CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'k-before'])).code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a, b].map((h) => h?.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a member killed while taking the clone finishes taking it at its next start: roles and objects, not a mix', async () => {
    await b.close();
    const marker = path.join(dir, 'adopt.marker');
    b = await startB(`luna-adopt-before-commit=${marker}`);
    const creating = haCreate();
    expect(await reached(marker)).toBe(true);
    await kill9(b);
    expect((await creating).code).not.toBe(0);
    b = await startB();
    // Run again, ha create finds both members holding the same partition and registers the client on B.
    const again = await haCreate();
    expect(again.stderr).toBe('');
    const r = await pkcs11Tool(onlyB('only-b'), ['--login', '--pin', env.CO, '--list-objects', '--type', 'privkey']);
    expect(r.stderr).not.toContain('CKR_USER_PIN_NOT_INITIALIZED');
    expect(r.stdout).toMatch(/label:\s+k-before/);
  });

  test('a kill -9 during the PO lockout zeroize, after its record and before the token is erased: the next start erases it', async () => {
    await b.close();
    const marker = path.join(dir, 'zeroize.marker');
    b = await startB(`luna-zeroize-before-erase=${marker}`);
    const only = onlyB('only-b-zeroize');
    for (let i = 0; i < 9; i++) await pkcs11Tool(only, ['--login', '--login-type', 'so', '--so-pin', `wrong-Passw0rd-${i}`, '-O']);
    const tenth = pkcs11Tool(only, ['--login', '--login-type', 'so', '--so-pin', 'wrong-Passw0rd-9', '-O']);
    expect(await reached(marker)).toBe(true);
    await kill9(b);
    await tenth;
    b = await startB();
    // Whoever is assigned the partition may initialise it again: it must find no key of before.
    expect((await pkcs11Tool(only, ['--init-token', '--label', 'ha_part', '--so-pin', 'po-Passw0rd-2'])).code).toBe(0);
    expect((await pkcs11Tool(only, ['--login', '--login-type', 'so', '--so-pin', 'po-Passw0rd-2', '--init-pin', '--new-pin', 'co-Passw0rd-2'])).code).toBe(0);
    const listed = await pkcs11Tool(only, ['--login', '--pin', 'co-Passw0rd-2', '--list-objects']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain('k-before');
    // A, its peer, keeps its objects (the zeroized member left the group).
    const onA = await pkcs11Tool(bundle, ['--login', '--pin', env.CO, '--list-objects', '--type', 'privkey']);
    expect(onA.stdout).toMatch(/label:\s+k-before/);
  });
});
