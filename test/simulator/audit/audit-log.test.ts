import * as os from 'os';
import * as path from 'path';
import { AuditLog } from '../../../simulator/audit/audit-log';

// The module object audit-log.ts calls through (spied on below); the test's own file work uses it too.
const fs: typeof import('fs') = require('fs');

describe('the local audit log', () => {
  test('closing its files to open another never closes one under a running disk sync: it is closed once the sync ends', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-log-'));
    const log = new AuditLog(path.join(dir, 'audit'));
    const realSync = fs.fdatasync;
    const realClose = fs.closeSync;
    let heldFd = -1;
    let syncRunning = false;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const syncEntered = new Promise<void>((r) => (entered = r));
    const closedMidSync: number[] = [];
    const closedAfterSync: number[] = [];
    // The first background sync is held until the test lets it go: a slow disk.
    const sync = jest.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (heldFd >= 0) return realSync(fd, cb);
      heldFd = fd;
      syncRunning = true;
      entered();
      void released.then(() =>
        realSync(fd, (err) => {
          syncRunning = false;
          cb(err);
        }),
      );
    }) as typeof fs.fdatasync);
    const close = jest.spyOn(fs, 'closeSync').mockImplementation((fd: number) => {
      if (fd === heldFd) (syncRunning ? closedMidSync : closedAfterSync).push(fd);
      return realClose(fd);
    });
    try {
      // As many hour files as the log keeps open; their sync starts (and is held) after the writes.
      for (let i = 0; i < 32; i++) await log.append(`r/h=${String(i).padStart(2, '0')}/PT1H.json`, { i });
      await syncEntered;
      // One more file: the log closes the open ones first, all but the one under the sync.
      log.append('r/h=99/PT1H.json', { i: 99 });
      release();
      await log.close();
      expect(closedMidSync).toEqual([]);
      expect(closedAfterSync).toEqual([heldFd]);
      expect(fs.readFileSync(path.join(dir, 'audit', 'r', 'h=99', 'PT1H.json'), 'utf8')).toBe('{"i":99}\n');
    } finally {
      sync.mockRestore();
      close.mockRestore();
      release();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
