import * as net from 'net';
import { Command } from '../command';
import { UsageError } from '../flags';
import { TARGET_FLAGS } from '../clients/target';
import { intFlag, readSas, storageUrl } from '../ceremonies/run';

/** `hsmctl status`: the post-deploy health report, against Azure (--from-outputs / --hsm URL) or the simulator. */
export const statusCommand: Command = {
  details: [
    'Reports every HSM of the Terraform outputs (--from-outputs), of the simulator (--simulator DIR), or the one --hsm names.',
    'Managed HSM: reachable (it answers), what it denies this credential (and the role that would let it read),',
    'activated (its security domain downloaded, or uploaded by a recovery),',
    'keys and those expiring within --expiring-days, and with --storage-url the newest backup folder (mhsm-<name>-<time>)',
    'in that container. Dedicated HSM: its SSH port reachable; with tenantadmin\'s password (--luna-password-env NAME or',
    '--luna-password-file FILE) the clients LunaSH `client list` shows; otherwise its clients are reported "not checked".',
    'The quorum of a security domain is not reported: the service does not say it.',
    'Exit 0 when every HSM answered and let the credential read everything, 1 otherwise, 2 on a usage error.',
    '',
    'example: hsmctl status --from-outputs outputs.json --luna-password-env TA_PW',
    '         hsmctl status --simulator .hsm-state --json',
  ].join('\n'),
  flags: {
    ...TARGET_FLAGS,
    'expiring-days': { type: 'string', value: 'N', description: 'report keys expiring within N days, 1-3650 (default 30)' },
    'luna-password-env': { type: 'string', value: 'NAME', description: "environment variable holding the Dedicated HSMs' tenantadmin password (for client list)" },
    'luna-password-file': { type: 'string', value: 'FILE', description: "file whose first line is the Dedicated HSMs' tenantadmin password" },
    'host-key-sha256': { type: 'string', value: 'SHA256:...', description: "pin the appliance's SSH host key (one HSM)" },
    'storage-url': { type: 'string', value: 'URL', description: 'backup container (https://<account>.blob.core.windows.net/<container>) to find the last backup in' },
    'sas-file': { type: 'string', value: 'FILE', description: 'with --storage-url: file holding a SAS token with list permission' },
    json: { type: 'boolean', description: 'print {ok, hsms: [...]} as JSON' },
  },
  async run(flags) {
    const { resolveAllTargets, keyClientFor } = require('../clients/target') as typeof import('../clients/target');
    const { ManagedHsmAdminClient } = require('../clients/mhsm-admin') as typeof import('../clients/mhsm-admin');
    const { formatStatus, managedHsmStatus, parseClientList, statusOk } = require('../ceremonies/status') as typeof import('../ceremonies/status');
    const days = intFlag(flags, 'expiring-days', 30, 1, 3650);
    const storage = flags['storage-url'] ? { url: storageUrl(flags), sas: readSas(flags) } : undefined;
    if (!storage && flags['sas-file']) throw new UsageError('--sas-file goes with --storage-url');
    const lunaPassword = lunaPasswordOf(flags);
    const targets = resolveAllTargets(flags);
    if (targets.managed.length + targets.dedicated.length === 0) throw new UsageError('no HSM to report on: the outputs or the simulator hold none');

    const rows: import('../ceremonies/status').HsmStatus[] = [];
    for (const t of targets.managed) {
      const admin = new ManagedHsmAdminClient(t.hsmUri, t.credential, { ca: t.ca });
      try {
        let lastBackup: string | undefined;
        let backupProblem: string | undefined;
        if (storage) {
          try {
            lastBackup = (await lastBackupIn(storage.url, storage.sas, t.name)) ?? 'none found';
          } catch (err) {
            backupProblem = `last backup not found: ${String((err as Error).message).split(storage.sas).join('<sas>')}`;
          }
        }
        const row = await managedHsmStatus({ name: t.name, admin, keys: keyClientFor(t), lastBackup, expiringDays: days });
        rows.push(backupProblem ? { ...row, notChecked: backupProblem } : storage ? row : { ...row, notChecked: 'last backup (give --storage-url and a SAS to look for it)' });
      } finally {
        admin.close();
      }
    }
    for (const d of targets.dedicated) rows.push(await dedicatedStatus(d, lunaPassword, flags['host-key-sha256'] as string | undefined, parseClientList));

    const ok = rows.every(statusOk);
    if (flags.json) console.log(JSON.stringify({ ok, hsms: rows }, null, 2));
    else for (const r of rows) console.log(formatStatus(r, days));
    return ok ? 0 : 1;
  },
};

function lunaPasswordOf(flags: Record<string, unknown>): string | undefined {
  if (!flags['luna-password-env'] && !flags['luna-password-file']) return undefined;
  const { secretFrom } = require('./luna-ssh') as typeof import('./luna-ssh');
  return secretFrom(flags, 'luna-password', "the Dedicated HSMs' tenantadmin password");
}

async function dedicatedStatus(
  d: import('../clients/target').DedicatedTarget,
  password: string | undefined,
  hostKeySha256: string | undefined,
  parseClientList: (out: string) => string[],
): Promise<import('../ceremonies/status').HsmStatus> {
  const base = { hsm: d.name, kind: 'Dedicated HSM' as const };
  if (!d.port) return { ...base, reachable: false, problem: `no Luna appliance answers for it (${d.where})` };
  if (!password) {
    const reachable = await tcpReachable(d.host, d.port, 5000);
    return reachable
      ? { ...base, reachable: true, notChecked: "registered clients (give tenantadmin's password: --luna-password-env NAME or --luna-password-file FILE)" }
      : { ...base, reachable: false, problem: `SSH ${d.host}:${d.port} does not answer` };
  }
  const { LunaSession } = require('./luna-ssh') as typeof import('./luna-ssh');
  let s: import('./luna-ssh').LunaSession | undefined;
  try {
    s = await LunaSession.connect({ host: d.host, port: d.port, username: 'tenantadmin', password, hostKeySha256, timeoutMs: 15000 });
    const clients = parseClientList(await s.lunash('client list'));
    return { ...base, reachable: true, registeredClients: clients };
  } catch (err) {
    return { ...base, reachable: false, problem: (err as Error).message };
  } finally {
    s?.close();
  }
}

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** The newest backup folder of the HSM in the container: mhsm-<name>-<yyyyMMddHHmmssCC>, as "<ISO time> (<folder>)". */
async function lastBackupIn(url: string, sas: string, hsmName: string): Promise<string | undefined> {
  const { ContainerClient } = require('@azure/storage-blob') as typeof import('@azure/storage-blob');
  const container = new ContainerClient(`${url}?${sas}`);
  const prefix = `mhsm-${hsmName}-`;
  const folders: string[] = [];
  for await (const item of container.listBlobsByHierarchy('/', { prefix })) {
    if (item.kind === 'prefix' && /^mhsm-.+-\d{16}\/$/.test(item.name)) folders.push(item.name.replace(/\/$/, ''));
  }
  const newest = folders.sort().pop();
  if (!newest) return undefined;
  const t = /(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\d{2}$/.exec(newest)!;
  return `${t[1]}-${t[2]}-${t[3]}T${t[4]}:${t[5]}:${t[6]}Z (${newest})`;
}
