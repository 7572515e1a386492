import * as fs from 'fs';
import * as path from 'path';
import { ChildProcess, spawn } from 'child_process';
import type { Endpoints } from '../../simulator';

const REPO = path.resolve(__dirname, '../..');

/**
 * `hsmctl simulator start` in a child process, as an operator runs it; resolves with its endpoints when it prints
 * that it is ready, and rejects with what it printed if it exits first. Driven by the child's own output, not by
 * polling for a file within a time window: a loaded machine only makes it slower.
 */
export async function startSimulatorProcess(stateDir: string, specFile: string, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; endpoints: Endpoints }> {
  const child = spawn(process.execPath, ['scripts/hsmctl.js', 'simulator', 'start', '--state-dir', stateDir, '--instances', specFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      out += c;
      if (/^endpoints: /m.test(out)) {
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null, signal: string | null) => reject(new Error(`the simulator exited (${code ?? signal}) before it was ready:\n${out}`));
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c));
    child.once('exit', onExit);
  });
  // Keep draining its output so it never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, endpoints: JSON.parse(fs.readFileSync(path.join(stateDir, 'endpoints.json'), 'utf8')) as Endpoints };
}

/** SIGKILL, and wait until the process is gone. */
export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}
