import * as path from 'path';
import { ensurePrivateDir } from '../../files/private-files';
import { Logger, silentLogger } from '../logger';
import { Appliance } from './appliance';
import { ensureHostKey, ensureServerCert, isIp } from './certs';
import { NtlsServer } from './ntls';
import { Replicator } from './replication';
import { LunaSshServer } from './ssh-server';
import { LUNA_SSH_POLICY, SshPolicy } from './ssh-policy';
import { NTLS_LIMITS, NtlsLimits } from './ntls-limits';

export interface LunaApplianceOptions {
  /** This appliance's own folder (0700): state journal, token folder, host key, server certificate. */
  stateDir: string;
  /** The private IP the appliance stands for (the Dedicated HSM's networkProfile IP): in server.pem and `network show`. */
  ip: string;
  /** SSH port; default 0 (any free port). A real appliance listens on 22. */
  sshPort?: number;
  /** NTLS port; default 0 (any free port). A real appliance listens on 1792. */
  ntlsPort?: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Shown in the LunaSH prompt and `network show`; default local_host, as on a fresh appliance. */
  hostname?: string;
  logger?: Logger;
  /** SSH hardening (ssh-policy.ts); default Luna's documented values. Tests shorten the deadlines. */
  sshPolicy?: Partial<SshPolicy>;
  /** NTLS connection limits (ntls-limits.ts); default ours. Tests shorten them. */
  ntlsLimits?: Partial<NtlsLimits>;
  /** The clock of lockouts; default Date.now. Tests move it instead of waiting. */
  now?: () => number;
}

export interface LunaApplianceHandle {
  sshPort: number;
  ntlsPort: number;
  /** The appliance's server.pem (what `scp tenantadmin@hsm:server.pem .` fetches). */
  serverCertPem: string;
  /** The appliance's own state (HSM, partitions, clients), for the ARM plane (e.g. "zeroized before delete?"). */
  appliance: Appliance;
  /** The SSH face, for its counters. */
  ssh: LunaSshServer;
  /** The HA replication, for tests that drive a join directly. */
  replicator: Replicator;
  close(): Promise<void>;
}

/**
 * Starts one simulated Luna Network HSM appliance: the LunaSH SSH server and the NTLS link over its own
 * SoftHSM2 token folder. State survives a restart with the same stateDir.
 *
 * The partitions' tokens live in a PKCS#11 library that a process can hold open over one token folder only
 * (simulator/pkcs11/module.ts): run one appliance per process, or use forkLunaAppliance (fork.ts) to run
 * each in a child process next to a simulator that already holds the library.
 */
export async function startLunaAppliance(o: LunaApplianceOptions): Promise<LunaApplianceHandle> {
  if (!isIp(o.ip)) throw new Error(`startLunaAppliance: ip must be an IP address, got ${JSON.stringify(o.ip)}`);
  const logger = o.logger ?? silentLogger;
  ensurePrivateDir(o.stateDir);
  const host = o.host ?? '127.0.0.1';
  const hostKey = ensureHostKey(path.join(o.stateDir, 'ssh'));
  const identity = ensureServerCert(path.join(o.stateDir, 'server'), o.ip);
  const appliance = await Appliance.open(o.stateDir, o.ip, o.hostname ?? 'local_host');
  const replicator = new Replicator(appliance, identity, logger);
  const ssh = new LunaSshServer(appliance, hostKey, identity.certPem, logger, { ...LUNA_SSH_POLICY, ...o.sshPolicy }, o.now, replicator);
  const ntls = new NtlsServer(appliance, identity, logger, replicator, { ...NTLS_LIMITS, ...o.ntlsLimits });
  let sshPort: number;
  let ntlsPort: number;
  try {
    sshPort = await ssh.listen(o.sshPort ?? 0, host);
    ntlsPort = await ntls.listen(o.ntlsPort ?? 0, host);
  } catch (err) {
    await ssh.close().catch(() => undefined);
    await ntls.close().catch(() => undefined);
    await appliance.close();
    throw err;
  }
  logger.info(`luna appliance ${o.ip}: ssh on ${host}:${sshPort}, ntls on ${host}:${ntlsPort}`);
  replicator.start();
  let closing: Promise<void> | undefined;
  return {
    sshPort,
    ntlsPort,
    serverCertPem: identity.certPem,
    appliance,
    ssh,
    replicator,
    close: () =>
      (closing ??= (async () => {
        await replicator.close();
        await ntls.close();
        await ssh.close();
        await appliance.close();
      })()),
  };
}
