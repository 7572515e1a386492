import { ChildProcess, fork } from 'child_process';
import * as path from 'path';
import { LunaApplianceOptions } from './index';
import { compiledEntry } from '../compiled';

/** The handle of an appliance running in a child process (no in-process `appliance` object). */
export interface ForkedLunaHandle {
  sshPort: number;
  ntlsPort: number;
  serverCertPem: string;
  pid: number;
  close(): Promise<void>;
}

type ChildMessage = { ready: { sshPort: number; ntlsPort: number; serverCertPem: string } } | { failed: string } | { log: { level: 'info' | 'error'; msg: string } };

/**
 * Runs startLunaAppliance in a child process of its own. A process can hold the SoftHSM2 library open over
 * one token folder only, so a simulator that already serves Managed HSMs from its own folder starts each
 * Dedicated HSM's appliance this way. The child ends when close() is called or when this process exits.
 */
export async function forkLunaAppliance(
  o: Omit<LunaApplianceOptions, 'logger'> & { logger?: LunaApplianceOptions['logger']; /** The child's environment; default this process's. */ env?: NodeJS.ProcessEnv },
): Promise<ForkedLunaHandle> {
  const { logger, env, ...opts } = o;
  // Precompiled: no TypeScript transform in the child (simulator/compiled.ts).
  const child: ChildProcess = fork(await compiledEntry(path.join(__dirname, 'child.ts')), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: env ?? process.env });
  const exitWithParent = () => child.kill('SIGTERM');
  process.once('exit', exitWithParent);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the Luna appliance process exited (code ${code}) before it was ready`)));
    child.on('message', (m: ChildMessage) => {
      if ('log' in m) logger?.[m.log.level](m.log.msg);
      else if ('failed' in m) reject(new Error(`the Luna appliance did not start: ${m.failed}`));
      else if ('ready' in m) {
        child.removeAllListeners('exit');
        resolve({
          ...m.ready,
          pid: child.pid!,
          close: () =>
            new Promise<void>((done) => {
              process.off('exit', exitWithParent);
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              // A child killed a moment ago has lost its channel: its exit is all there is to wait for.
              if (child.connected) child.send('close');
            }),
        });
      }
    });
    child.send(opts);
  });
}
