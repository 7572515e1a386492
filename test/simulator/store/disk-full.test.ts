import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { randomUUID } from 'crypto';
import { Harness, CRYPTO_USER, testLogger } from '../harness';
import { startSimulator } from '../../../simulator';

const REPO = path.resolve(__dirname, '../../..');
/** Mounting a tmpfs needs root, which CI has (the suite runs as root there). */
const asRoot = process.getuid?.() === 0;

/** Fills the file system holding `dir` to the last byte; returns the filler file to delete for space back. */
function fillDisk(dir: string): string {
  const filler = path.join(dir, `filler-${randomUUID()}`);
  const fd = fs.openSync(filler, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const block = Buffer.alloc(size, 0x5a);
      try {
        for (;;) fs.writeSync(fd, block);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

(asRoot ? describe : describe.skip)('state folder on a full disk (a 24 MiB tmpfs mounted by the test)', () => {
  let mount: string;
  let dir: string;

  beforeAll(() => {
    mount = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', mount]);
    dir = path.join(mount, 'sim');
  });

  afterAll(() => {
    spawnSync('umount', [mount]);
    fs.rmSync(mount, { recursive: true, force: true });
  });

  test('writes fail with a 503 naming the full disk, nothing acknowledged is lost, writes work again once space is back', async () => {
    const adminId = randomUUID();
    let h = await Harness.start({ dir, adminId });
    let filler: string | undefined;
    try {
      await h.assignRole(adminId, CRYPTO_USER);
      const kc = h.keyClient();
      const before = await kc.createEcKey('before', { curve: 'P-256', hsm: true });

      filler = fillDisk(mount);
      // A new key needs new token files: refused at once, and the key does not exist afterwards.
      const create = await kc.createEcKey('while-full', { curve: 'P-256', hsm: true }).catch((e) => e);
      expect(create.statusCode).toBe(503);
      expect(create.code).toBe('ServiceUnavailable');
      expect(create.message).toMatch(/^The simulator's state disk is full: \d+ bytes free under .*sim\b.*The request was not carried out; free space on that disk and retry\.$/);
      // Metadata writes fit until the journal's last page is used up; each one acknowledged must survive.
      let lastTag = '';
      let patch: any;
      for (let i = 0; i < 40 && !patch; i++) {
        const tag = `v${i}`;
        patch = await kc.updateKeyProperties('before', before.properties.version!, { tags: { n: tag } }).then(
          () => void (lastTag = tag),
          (e) => e,
        );
      }
      expect(patch?.statusCode).toBe(503);
      expect(patch.message).toMatch(/^The simulator's state disk is full: writing under .*sim\/state failed with ENOSPC \(no space left on device\)\. The request was not carried out/);
      // Role assignments alike (a small record may still fit in the page the refused patch left).
      const assigned: string[] = [];
      let role: { status: number; body: any } | undefined;
      for (let i = 0; i < 40 && (!role || role.status === 201); i++) {
        const id = randomUUID();
        role = await h.request('PUT', `/providers/Microsoft.Authorization/roleAssignments/${id}?api-version=7.4`, {
          properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_USER}`, principalId: randomUUID() },
        });
        if (role.status === 201) assigned.push(id);
      }
      expect(role?.status).toBe(503);
      expect(role?.body.error).toEqual({ code: 'ServiceUnavailable', message: expect.stringMatching(/^The simulator's state disk is full: writing under .*sim\/state failed with ENOSPC/) });
      // Reads still work on a full disk.
      expect((await kc.getKey('before')).properties.tags).toEqual(lastTag ? { n: lastTag } : undefined);

      fs.rmSync(filler);
      filler = undefined;
      const after = await kc.createEcKey('after', { curve: 'P-256', hsm: true });
      await kc.updateKeyProperties('before', before.properties.version!, { tags: { n: 'after-recovery' } });
      await h.assignRole(randomUUID(), CRYPTO_USER);

      // A restart reads back everything acknowledged, before and after the full disk.
      await h.sim.close();
      h = await Harness.start({ dir, adminId, activate: false });
      const kc2 = h.keyClient();
      expect((await kc2.getKey('before')).properties.tags).toEqual({ n: 'after-recovery' });
      expect((await kc2.getKey('after')).key?.x).toEqual(after.key?.x);
      await expect(kc2.getKey('while-full')).rejects.toMatchObject({ statusCode: 404 });
      for (const id of assigned) expect((await h.request('GET', `/providers/Microsoft.Authorization/roleAssignments/${id}?api-version=7.4`)).status).toBe(200);
    } finally {
      if (filler) fs.rmSync(filler, { force: true });
      await h.sim.close();
    }
  });

  test('refuses to start on a full disk, naming the folder and the space needed, and starts once space is back', async () => {
    const filler = fillDisk(mount);
    try {
      await expect(startSimulator({ stateDir: dir, logger: testLogger })).rejects.toThrow(
        new RegExp(`^the simulator cannot start: the disk holding its state folder ${dir} is full \\(\\d+ KiB free, at least \\d+ KiB needed`),
      );
      const cli = spawnSync(process.execPath, ['scripts/hsmctl.js', 'simulator', 'start', '--state-dir', dir], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
      expect(cli.status).toBe(1);
      expect(cli.stderr).toMatch(new RegExp(`^hsmctl simulator start: failed: the simulator cannot start: the disk holding its state folder ${dir} is full`));
      expect(cli.stderr).not.toMatch(/at .*\.ts:\d+/);
    } finally {
      fs.rmSync(filler);
    }
    const sim = await startSimulator({ stateDir: dir, logger: testLogger });
    await sim.close();
  });
});
