import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';

const REPO = path.resolve(__dirname, '../..');

describe('simulator logging', () => {
  test('a simulator whose stdout and stderr readers went away still stops cleanly (no EPIPE crash)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logger-'));
    const child = spawn(process.execPath, ['scripts/hsmctl.js', 'simulator', 'start', '--state-dir', path.join(dir, 'state')], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // Wait for the last line of the start banner, then close both pipes' reading ends.
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (/^endpoints: /m.test(out)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before it was ready`)));
      });
      child.stdout.destroy();
      child.stderr.destroy();
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
      // Stopping writes "simulator stopped" to the closed stdout.
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the guard is added once per stream, however many times the module is loaded (jest: per test file, each with its own process object)', () => {
    const realProcess = global.process;
    const before = realProcess.stdout.listenerCount('error');
    try {
      for (let i = 0; i < 12; i++) {
        // A fresh process object over the same streams, as each jest test file gets.
        global.process = Object.create(realProcess);
        jest.isolateModules(() => {
          (require('../../simulator/logger') as typeof import('../../simulator/logger')).guardStdio();
        });
      }
    } finally {
      global.process = realProcess;
    }
    expect(realProcess.stdout.listenerCount('error') - before).toBeLessThanOrEqual(1);
  });
});
