import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'ssh2';
import { LunaApplianceHandle, startLunaAppliance } from '../../../simulator/luna';
import { SSH_OPTS, makeClientCert, results, run, scp, ssh, tempDir } from './helpers';

/**
 * The appliance through a real OpenSSH client (ssh + sshpass, scp, a key), following the seed's procedure:
 * first login and forced password change, hsm show / init / login / changePolicy 12 0 (zeroizes), partition
 * create / list / show, server.pem by scp, the client certificate copied and registered.
 */
describe('Luna appliance over SSH', () => {
  const NEW = 'N3w-Passw0rd';
  let dir: string;
  let h: LunaApplianceHandle;

  beforeAll(async () => {
    dir = tempDir('luna-ssh-');
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4' });
  });

  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('before the first login, commands are refused until the password is changed in a session', async () => {
    const exec = await ssh(h.sshPort, 'PASSWORD', 'hsm show');
    expect(exec.code).not.toBe(0);
    expect(exec.stdout).toContain('Password change required but no TTY available.');

    const bad = await ssh(h.sshPort, 'PASSWORD', undefined, 'PASSWORD\nshort\nshort\n');
    expect(bad.stdout).toContain('passwd: Authentication token manipulation error');
    expect(h.appliance.admin().mustChange).toBe(true);

    const first = await ssh(h.sshPort, 'PASSWORD', undefined, `PASSWORD\n${NEW}\n${NEW}\nhsm show\nexit\n`);
    expect(first.stdout).toContain('You are required to change your password immediately');
    expect(first.stdout).toContain('passwd: all authentication tokens updated successfully.');
    expect(first.stdout).toContain('HSM IS ZEROIZED');
    expect(results(first.stdout)).toEqual(['0 (Success)']);
    expect(first.stdout).not.toContain(NEW);

    // The factory password no longer opens a session; the new one does.
    expect((await ssh(h.sshPort, 'PASSWORD', 'hsm show')).code).toBe(5);
    expect((await ssh(h.sshPort, NEW, 'hsm show')).code).toBe(0);
  });

  test("runs the seed's command sequence in one shell session", async () => {
    const script = [
      'network show',
      'hsm show',
      'hsm init -label LunaHSM -password mystrongpassword -domain domain1',
      'proceed',
      'hsm show',
      'hsm login',
      'mystrongpassword',
      'hsm changePolicy -policy 12 -value 0',
      'proceed',
      'hsm show',
      'partition create -p luna_part -s 10000',
      'hsm init -label LunaHSM -password mystrongpassword -domain domain1 -force',
      'hsm login -password mystrongpassword',
      'partition create -p luna_part -s 10000',
      'proceed',
      'partition list',
      'partition show -p luna_part',
      'hsm showPolicies',
      'exit',
    ].join('\n');
    const r = await ssh(h.sshPort, NEW, undefined, `${script}\n`);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain('IP Address:         10.0.2.4');
    expect(out).toMatch(/HSM Label:\s+LunaHSM/);
    expect(out).toContain("'hsm login' successful.");
    expect(out).toContain('The HSM has been zeroized');
    expect(out).toContain('The HSM is in FIPS 140-2 approved operation mode.');
    // partition create right after the zeroizing policy change: the HSM must be initialised again.
    expect(out).toContain('The HSM is not initialized');
    expect(out).toMatch(/Partition SN:\s+\d{13}/);
    expect(out).toMatch(/12: Allow non-FIPS algorithms : 0/);
    const rs = results(out);
    expect(rs).toHaveLength(14);
    expect(rs.filter((x) => x !== '0 (Success)')).toEqual(['225 (CKR_TOKEN_NOT_RECOGNIZED)']);
    const part = h.appliance.partition('luna_part')!;
    expect(out).toMatch(new RegExp(`^${part.serial}\\s+luna_part\\s+0\\s+10000`, 'm'));
    expect(h.appliance.fipsMode()).toBe(true);
  });

  test('server.pem comes down with scp (SFTP and legacy -O); a client certificate goes up and is registered', async () => {
    const local = path.join(dir, 'server.pem');
    const r1 = await scp(h.sshPort, NEW, [`tenantadmin@127.0.0.1:server.pem`, local]);
    expect(r1.code).toBe(0);
    expect(fs.readFileSync(local, 'utf8')).toBe(h.serverCertPem);
    const legacy = path.join(dir, 'server-legacy.pem');
    expect((await scp(h.sshPort, NEW, ['-O', `tenantadmin@127.0.0.1:server.pem`, legacy])).code).toBe(0);
    expect(fs.readFileSync(legacy, 'utf8')).toBe(h.serverCertPem);
    const subject = await run('openssl', ['x509', '-in', local, '-noout', '-subject']);
    expect(subject.stdout).toContain('CN = 10.0.2.4');

    const cert = await makeClientCert(dir, '10.0.1.5');
    expect((await scp(h.sshPort, NEW, [cert.certFile, 'tenantadmin@127.0.0.1:'])).code).toBe(0);
    const other = await makeClientCert(dir, '10.0.1.6');
    expect((await scp(h.sshPort, NEW, ['-O', other.certFile, 'tenantadmin@127.0.0.1:10.0.1.6.pem'])).code).toBe(0);

    const r = await ssh(
      h.sshPort,
      NEW,
      undefined,
      [
        'client register -client cm1 -ip 10.0.1.5',
        'client assignPartition -client cm1 -partition luna_part',
        'client show -c cm1',
        'client register -client cm1 -ip 10.0.1.6',
        'client assignPartition -client cm1 -partition nosuch',
        'client fingerprint -client cm1',
        'client list',
        'exit',
      ].join('\n'),
    );
    expect(results(r.stdout)).toEqual(['0 (Success)', '0 (Success)', '0 (Success)', '65535 (Luna Shell execution)', '65535 (Luna Shell execution)', '0 (Success)', '0 (Success)']);
    expect(r.stdout).toMatch(/ClientID:\s+cm1\s+IPAddress:\s+10\.0\.1\.5[\s\S]*Partitions:\s+"luna_part"/);
    expect(r.stdout).toContain("A client named 'cm1' is already registered");
    expect(r.stdout).toContain("Partition 'nosuch' does not exist");
    expect(r.stdout).toContain('registered client 1: cm1');
    const fp = await run('openssl', ['x509', '-in', cert.certFile, '-noout', '-fingerprint', '-sha256']);
    expect(r.stdout).toContain(`Certificate fingerprint: ${fp.stdout.split('=')[1].trim()}`);
  });

  test('injection, long lines, unknown commands and bad arguments give Luna errors and the session goes on', async () => {
    const lines = [
      'foo',
      'hsm frobnicate',
      'client register -client "a; rm -rf /" -ip 10.0.0.9',
      'client register -client $(reboot) -ip 10.0.0.9',
      'client show -client ../../etc/passwd',
      'partition create -partition `id`',
      'client register -client x -ip 10.0.0.9 -evil 1',
      'client register -client x -ip not-an-ip',
      'client show',
      'hsm changePolicy -policy 12 -value 0',
      'partition delete -partition luna_part',
      'client show -client "unterminated',
      'x'.repeat(10000),
      `client show -client ${'\u001b[31m'}red`,
      'partition replication add -partition luna_part -peer not-an-ip -certificate peer.pem',
      'partition replication add -partition luna_part -peer 10.0.0.9 -port 99999 -certificate peer.pem',
      'partition replication add -partition luna_part -peer 10.0.0.9 -certificate nosuch.pem',
      'partition replication show -partition nosuch',
      'client list',
      'exit',
    ];
    const r = await ssh(h.sshPort, NEW, undefined, `${lines.join('\n')}\n`);
    expect(r.code).toBe(0);
    const rs = results(r.stdout);
    expect(rs).toHaveLength(lines.length - 1);
    expect(rs.slice(0, -1).every((x) => x !== '0 (Success)')).toBe(true);
    expect(rs[rs.length - 1]).toBe('0 (Success)');
    expect(r.stdout).toContain("Error: 'foo' is not a valid command.");
    expect(r.stdout).toContain("Error: 'hsm frobnicate' is not a valid command.");
    expect(r.stdout).toContain("Invalid value 'a; rm -rf /' for -client");
    expect(r.stdout).toContain("Invalid option '-evil'");
    expect(r.stdout).toContain("Invalid value 'not-an-ip' for -ip");
    expect(r.stdout).toContain("'client show' needs the option -client.");
    expect(r.stdout).toContain("'hsm login' must be done before 'hsm changePolicy'");
    expect(r.stdout).toContain('The command line is too long');
    expect(r.stdout).toContain('\\x1b[31mred');
    expect(r.stdout).not.toContain('\u001b[31m');
    expect(r.stdout).toContain("Invalid value 'not-an-ip' for -peer");
    expect(r.stdout).toContain('Invalid value 99999 for -port');
    expect(r.stdout).toContain("'hsm login' must be done before 'partition replication add'");
    expect(r.stdout).toContain("Partition 'nosuch' does not exist");
    expect(h.appliance.replicas()).toEqual([]);
    // Nothing changed: still one client, the partition is there.
    expect(h.appliance.clients().map((c) => c.name)).toEqual(['cm1']);
    expect(h.appliance.partition('luna_part')).toBeDefined();
  });

  test('a public key added with my public-key add logs in without a password', async () => {
    const key = path.join(dir, 'id_ed25519');
    expect((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key])).code).toBe(0);
    const batch = ['-o', 'BatchMode=yes', '-o', 'PasswordAuthentication=no', '-i', key, '-p', String(h.sshPort), 'tenantadmin@127.0.0.1', 'hsm show'];
    expect((await run('ssh', [...SSH_OPTS, ...batch])).code).toBe(255);
    expect((await scp(h.sshPort, NEW, [`${key}.pub`, 'tenantadmin@127.0.0.1:admin.pub'])).code).toBe(0);
    const add = await ssh(h.sshPort, NEW, 'my public-key add -name laptop -file admin.pub');
    expect(results(add.stdout)).toEqual(['0 (Success)']);
    const r = await run('ssh', [...SSH_OPTS, ...batch]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/HSM Label:\s+LunaHSM/);
  });

  test('several sessions at once, each connection with its own hsm login', async () => {
    const loggedIn = ssh(h.sshPort, NEW, undefined, 'hsm login -password mystrongpassword\npartition showContents -partition luna_part\nexit\n');
    const others = Array.from({ length: 4 }, (_, i) => ssh(h.sshPort, NEW, i % 2 ? 'client list' : 'partition showContents -partition luna_part'));
    const [a, ...rest] = await Promise.all([loggedIn, ...others]);
    expect(results(a.stdout)).toEqual(['0 (Success)', '0 (Success)']);
    expect(rest.map((r) => r.code)).toEqual([1, 0, 1, 0]);
    expect(rest[0].stdout).toContain("'hsm login' must be done before 'partition showContents'");
  });

  test('a terminal session (pty) echoes typing, hides passwords, and handles backspace and arrows', async () => {
    const c = new Client();
    await new Promise<void>((resolve, reject) => c.once('ready', () => resolve()).once('error', reject).connect({ host: '127.0.0.1', port: h.sshPort, username: 'tenantadmin', password: NEW }));
    // Each line is typed once the appliance shows the prompt it answers: driven by the output, not by timers.
    const out = await new Promise<string>((resolve, reject) =>
      c.shell({ term: 'xterm', rows: 24, cols: 80 }, (err, ch) => {
        if (err) return reject(err);
        let text = '';
        const script: Array<[RegExp, string]> = [
          [/lunash:>$/, 'hsm shox\x7fw\x1b[A\r'],
          [/Command Result : 0 \(Success\)\r\n\r?\n?.*lunash:>$/s, 'hsm login\r'],
          [/enter the HSM Administrators' password:\r\n  > $/, 'mystrongpassword\r'],
          [/'hsm login' successful\.[\s\S]*lunash:>$/, 'exit\r'],
        ];
        ch.on('data', (d: Buffer) => {
          text += d.toString();
          const next = script[0];
          if (next && next[0].test(text)) {
            script.shift();
            ch.write(next[1]);
          }
        });
        ch.on('close', () => resolve(text));
      }),
    );
    c.end();
    expect(out).toContain('hsm shox\b \bw\r\n');
    expect(out).toMatch(/HSM Label:\s+LunaHSM\r\n/);
    expect(out).toContain("'hsm login' successful.");
    expect(out).not.toContain('mystrongpassword');
  });

  test('pkcs11-tool sees each partition as a SoftHSM2 token, and a deleted partition is gone', async () => {
    const conf = path.join(dir, 'state', 'pkcs11', 'softhsm2.conf');
    const slots = await run('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--list-token-slots'], { env: { SOFTHSM2_CONF: conf } });
    expect(slots.code).toBe(0);
    expect(slots.stdout).toMatch(/token label\s+:\s+luna_part/);
    const r = await ssh(h.sshPort, NEW, undefined, 'hsm login -password mystrongpassword\npartition create -partition tmp1 -force\npartition delete -partition tmp1 -force\nexit\n');
    expect(results(r.stdout)).toEqual(['0 (Success)', '0 (Success)', '0 (Success)']);
    const after = await run('pkcs11-tool', ['--module', '/usr/lib/softhsm/libsofthsm2.so', '--list-token-slots'], { env: { SOFTHSM2_CONF: conf } });
    expect(after.stdout).not.toContain('tmp1');
    expect(after.stdout).toMatch(/token label\s+:\s+luna_part/);
  });

  test('a restart keeps the password, the HSM, partitions and clients', async () => {
    const serial = h.appliance.partition('luna_part')!.serial;
    await h.close();
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4' });
    const r = await ssh(h.sshPort, NEW, undefined, 'hsm show\npartition list\nclient show -client cm1\nexit\n');
    expect(results(r.stdout)).toEqual(['0 (Success)', '0 (Success)', '0 (Success)']);
    expect(r.stdout).toMatch(/HSM Label:\s+LunaHSM/);
    expect(r.stdout).toContain('The HSM is in FIPS 140-2 approved operation mode.');
    expect(r.stdout).toMatch(new RegExp(`^${serial}\\s+luna_part`, 'm'));
    expect(r.stdout).toContain('Partitions:        "luna_part"');
    expect(fs.statSync(path.join(dir, 'state')).mode & 0o777).toBe(0o700);
  });
});
