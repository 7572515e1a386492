import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { LunaApplianceHandle, startLunaAppliance } from '../../../simulator/luna';
import { LUNA_SSH_POLICY } from '../../../simulator/luna/ssh-policy';
import { results, ssh, tempDir } from './helpers';

/**
 * SSH hardening as the appliance does it (ssh-policy.ts): per-account lockout after failed logins, driven by
 * OpenSSH through sshpass; a flood of connections that never log in, from raw sockets on other loopback
 * addresses (127.0.0.2 and up), cannot keep the administrator (127.0.0.1) out; a connection that does not log in
 * is dropped at the deadline. Bounded: a handful of logins, at most 70 and 2000 sockets; the lockout's expiry
 * comes from a test clock, not from waiting.
 */
describe('Luna appliance SSH hardening', () => {
  const NEW = 'N3w-Passw0rd';
  let dir: string;
  let h: LunaApplianceHandle;
  let clockOffset = 0;

  beforeAll(async () => {
    dir = tempDir('luna-sshh-');
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4', now: () => Date.now() + clockOffset, sshPolicy: { loginGraceMs: 3000 } });
    const first = await ssh(h.sshPort, 'PASSWORD', undefined, `PASSWORD\n${NEW}\n${NEW}\nexit\n`);
    expect(first.stdout).toContain('all authentication tokens updated successfully');
  });

  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test(`locks tenantadmin after ${LUNA_SSH_POLICY.maxFailedAttempts} failed logins, the right password included, until the lockout ends`, async () => {
    for (let i = 0; i < LUNA_SSH_POLICY.maxFailedAttempts; i++) {
      const wrong = await ssh(h.sshPort, `Wrong-Passw0rd-${i}`, 'hsm show');
      expect(wrong.code).toBe(5);
    }
    expect(h.appliance.adminLockedUntil(Date.now())).toBeDefined();
    const right = await ssh(h.sshPort, NEW, 'hsm show');
    expect(right.code).toBe(5);
    expect(right.stdout).not.toContain('HSM Details');
    // The lockout survives a restart of the appliance (it is in the journal).
    await h.close();
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4', now: () => Date.now() + clockOffset, sshPolicy: { loginGraceMs: 3000 } });
    expect((await ssh(h.sshPort, NEW, 'hsm show')).code).toBe(5);
    // Past the lockout duration the account opens again, and the count starts over.
    clockOffset = LUNA_SSH_POLICY.lockoutMs + 1000;
    const after = await ssh(h.sshPort, NEW, 'hsm show');
    expect(after.code).toBe(0);
    expect(results(after.stdout)).toEqual(['0 (Success)']);
    expect(h.appliance.admin().loginFailures).toBeUndefined();
  });

  test('failures spread beyond the detection window do not lock', async () => {
    expect((await ssh(h.sshPort, 'Wrong-Passw0rd-a', 'hsm show')).code).toBe(5);
    expect((await ssh(h.sshPort, 'Wrong-Passw0rd-b', 'hsm show')).code).toBe(5);
    clockOffset += LUNA_SSH_POLICY.detectionWindowMs + 1000;
    expect((await ssh(h.sshPort, 'Wrong-Passw0rd-c', 'hsm show')).code).toBe(5);
    expect((await ssh(h.sshPort, NEW, 'hsm show')).code).toBe(0);
  });

  /** Opens a raw TCP connection that sends an SSH banner and nothing more; resolves once the server spoke (or closed it). */
  const idle = (from = '127.0.0.2') =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ port: h.sshPort, host: '127.0.0.1', localAddress: from });
      s.once('error', reject);
      s.once('connect', () => s.write('SSH-2.0-flood_1.0\r\n'));
      s.once('data', () => resolve(s));
      s.once('close', () => resolve(s));
    });

  test('70 connections from one address that never log in: past its share they are refused at once; the administrator gets in', async () => {
    const share = LUNA_SSH_POLICY.maxUnauthenticatedPerAddress;
    const flood: net.Socket[] = [];
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 70; i++) {
      const s = await idle();
      flood.push(s);
      closed.push(new Promise((r) => (s.destroyed ? r() : s.once('close', () => r()))));
    }
    expect(h.ssh.unauthenticatedCount).toBeLessThanOrEqual(share);
    const admin = await ssh(h.sshPort, NEW, 'hsm show');
    expect(admin.code).toBe(0);
    expect(admin.stdout).toContain('HSM Details');
    // Every flood connection past the address's share was closed by the server.
    expect(await Promise.all(closed.slice(share))).toHaveLength(70 - share);
    for (const s of flood) s.destroy();
  });

  test('a flood from other addresses while the administrator logs in neither evicts nor crowds out the administrator', async () => {
    const flood: net.Socket[] = [];
    let flooding = true;
    let opened = 0;
    let most = 0;
    // Four addresses: their shares together exceed the cap of all waiting connections.
    const flooder = (async () => {
      while (flooding && opened < 2000) {
        flood.push(await idle(`127.0.0.${2 + (opened++ % 4)}`));
        most = Math.max(most, h.ssh.unauthenticatedCount);
      }
    })();
    try {
      const admin = await ssh(h.sshPort, NEW, 'hsm show');
      expect(admin.stderr).toBe('');
      expect(admin.code).toBe(0);
      expect(admin.stdout).toContain('HSM Details');
    } finally {
      flooding = false;
      await flooder;
      for (const s of flood) s.destroy();
    }
    // The flood ran all along the login, and the cap held.
    expect(opened).toBeGreaterThan(LUNA_SSH_POLICY.maxUnauthenticated);
    expect(most).toBeLessThanOrEqual(LUNA_SSH_POLICY.maxUnauthenticated);
  });

  test('a connection that does not log in is dropped at the login deadline', async () => {
    const s = await idle();
    await new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
    expect(s.destroyed).toBe(true);
  });
});
