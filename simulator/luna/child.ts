import { LunaApplianceHandle, LunaApplianceOptions, startLunaAppliance } from './index';

/** The child side of forkLunaAppliance: options in, ports out over IPC; 'close' (or a lost parent) stops it. */
let handle: LunaApplianceHandle | undefined;
const send = (m: unknown) => process.send?.(m);

async function stop(): Promise<void> {
  await handle?.close().catch(() => undefined);
  process.exit(0);
}

process.on('message', (m: unknown) => {
  if (m === 'close') {
    void stop();
    return;
  }
  const opts = m as Omit<LunaApplianceOptions, 'logger'>;
  startLunaAppliance({
    ...opts,
    logger: { info: (msg) => send({ log: { level: 'info', msg } }), error: (msg) => send({ log: { level: 'error', msg } }) },
  }).then(
    (h) => {
      handle = h;
      send({ ready: { sshPort: h.sshPort, ntlsPort: h.ntlsPort, serverCertPem: h.serverCertPem } });
    },
    (err: Error) => {
      send({ failed: err.message });
      process.exit(1);
    },
  );
});
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
