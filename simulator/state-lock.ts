import * as fs from 'fs';
import * as path from 'path';

/**
 * One process owns a state folder (SoftHSM2 tokens must not be written by two processes). The lock file holds
 * the owner's pid; a lock left by a dead process (kill -9) is taken over.
 */
export function lockStateDir(stateDir: string): () => void {
  const file = path.join(stateDir, 'simulator.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.unlinkSync(file);
        } catch {
          // Already gone.
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      if (pid && pid !== process.pid && alive(pid)) throw new Error(`state folder ${stateDir} is in use by process ${pid}`);
      if (pid === process.pid) throw new Error(`state folder ${stateDir} is already open in this process`);
      fs.unlinkSync(file);
    }
  }
  throw new Error(`could not lock state folder ${stateDir}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
