/**
 * The process of one Luna appliance behind a Dedicated HSM resource (see LunaProcessLauncher in launcher.ts).
 * It starts simulator/luna's appliance, reports its ports over IPC, answers "is the HSM zeroized?", and stops
 * when told to or when its parent goes away.
 */
import { startLunaAppliance, LunaApplianceHandle } from '../luna';

export type ChildRequest =
  | { type: 'start'; stateDir: string; ip: string; hostname: string; sshPort?: number; ntlsPort?: number }
  | { type: 'isZeroized'; call: number }
  | { type: 'stop' };

export type ChildReply =
  | { type: 'ready'; sshPort: number; ntlsPort: number }
  | { type: 'failed'; message: string }
  | { type: 'log'; level: 'info' | 'error'; message: string }
  | { type: 'reply'; call: number; value: boolean; error?: undefined }
  | { type: 'reply'; call: number; value?: undefined; error: string };

function send(m: ChildReply): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(m, undefined, {}, () => resolve());
  });
}

const logger = {
  info: (message: string) => void send({ type: 'log', level: 'info', message }),
  error: (message: string) => void send({ type: 'log', level: 'error', message }),
};

let handle: LunaApplianceHandle | undefined;
let stopping: Promise<void> | undefined;

function stop(): Promise<void> {
  return (stopping ??= (async () => {
    try {
      await handle?.close();
    } finally {
      process.exit(0);
    }
  })());
}

/** The ports wanted first (those of the last run), then any free ones when they are taken. */
async function start(req: Extract<ChildRequest, { type: 'start' }>): Promise<LunaApplianceHandle> {
  const base = { stateDir: req.stateDir, ip: req.ip, hostname: req.hostname, logger };
  if (req.sshPort || req.ntlsPort) {
    try {
      return await startLunaAppliance({ ...base, sshPort: req.sshPort, ntlsPort: req.ntlsPort });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  return startLunaAppliance(base);
}

if (require.main === module) {
  process.on('disconnect', () => void stop());
  process.on('message', (m: ChildRequest) => {
    if (m.type === 'start' && !handle) {
      start(m).then(
        (h) => {
          handle = h;
          void send({ type: 'ready', sshPort: h.sshPort, ntlsPort: h.ntlsPort });
        },
        async (err) => {
          await send({ type: 'failed', message: (err as Error).message });
          void stop();
        },
      );
    } else if (m.type === 'isZeroized') {
      if (!handle) void send({ type: 'reply', call: m.call, error: 'the appliance is not started' });
      else void send({ type: 'reply', call: m.call, value: !handle.appliance.hsm().initialized });
    } else if (m.type === 'stop') void stop();
  });
}
