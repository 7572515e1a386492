import { Command } from '../command';
import { UsageError } from '../flags';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { JobStatus, ManagedHsmAdminClient, withAdminClient } from '../clients/mhsm-admin';
import { readSas, required, storageUrl } from '../ceremonies/run';
import { STORAGE_FLAGS, reportJob } from './backup-start';

/** Full restore of a backup folder, or one key of it (selective restore); waits unless told not to. */
export async function runRestore(client: ManagedHsmAdminClient, storage: string, sas: string, folder: string, key?: string, wait = true): Promise<JobStatus> {
  const j = key ? await client.startSelectiveRestore(key, storage, sas, folder) : await client.startRestore(storage, sas, folder);
  return wait ? client.waitJob('restore', j.jobId) : j;
}

export const backupRestoreCommand: Command = {
  details: [
    'A full restore makes the HSM\'s keys (all versions, attributes, tags) and role assignments those of the',
    'backup; its administrators keep Administrator. --key restores one key that must not exist in the HSM.',
    'The HSM must hold the security domain of the one that made the backup (hsmctl sd recover); any other HSM',
    'refuses, and a refused or failed restore changes nothing.',
    '',
    'example: hsmctl backup restore --hsm https://hsm2.managedhsm.azure.net --storage-url https://acct.blob.core.windows.net/mhsm-backups --sas-file sas.txt --folder mhsm-contoso-2026011512000000',
  ].join('\n'),
  flags: {
    ...TARGET_FLAGS,
    ...STORAGE_FLAGS,
    folder: { type: 'string', value: 'NAME', description: 'the backup folder in the container (printed by backup start) (required)' },
    key: { type: 'string', value: 'NAME', description: 'restore only this key (selective restore)' },
    'no-wait': { type: 'boolean', description: 'print the job id and return; follow with hsmctl backup status --restore' },
  },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  async run(flags) {
    const storage = storageUrl(flags);
    const sas = readSas(flags);
    const folder = required(flags, 'folder');
    if (folder.includes('/')) throw new UsageError('--folder is the folder name (mhsm-<name>-<timestamp>), not a URL or path');
    const target = resolveTarget(flags);
    return withAdminClient(target, async (client) => {
      const j = await runRestore(client, storage, sas, folder, flags.key as string | undefined, !flags['no-wait']);
      return reportJob('restore', j);
    });
  },
};
