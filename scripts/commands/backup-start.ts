import { Command } from '../command';
import { FlagSpecs } from '../flags';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { JobStatus, ManagedHsmAdminClient, withAdminClient } from '../clients/mhsm-admin';
import { readSas, storageUrl } from '../ceremonies/run';

export const STORAGE_FLAGS: FlagSpecs = {
  'storage-url': { type: 'string', value: 'URL', description: 'the blob container: https://<account>.blob.core.windows.net/<container> (required)' },
  'sas-file': { type: 'string', value: 'FILE', description: 'file holding a SAS token for the container (permissions racwdl)' },
};

/** Prints a job's state; exit code 0 for Succeeded/InProgress, 1 for Failed. */
export function reportJob(kind: string, j: JobStatus): number {
  const took = j.endTime && j.startTime ? ` in ${j.endTime - j.startTime} s` : '';
  console.log(`${kind} job ${j.jobId}: ${j.status}${took}`);
  if (j.statusDetails) console.log(`  ${j.statusDetails}`);
  if (j.azureStorageBlobContainerUri) console.log(`  folder: ${j.azureStorageBlobContainerUri.split('/').pop()} (${j.azureStorageBlobContainerUri})`);
  if (j.status === 'Failed') {
    console.error(`  error: ${j.error?.code ?? ''} ${j.error?.message ?? ''}`.trimEnd());
    return 1;
  }
  return 0;
}

/** Runs a full backup; with wait, polls to the end and fails when the job fails. */
export async function runBackup(client: ManagedHsmAdminClient, storage: string, sas: string, wait = true): Promise<JobStatus> {
  const j = await client.startBackup(storage, sas);
  return wait ? client.waitJob('backup', j.jobId) : j;
}

export const backupStartCommand: Command = {
  details: [
    'Every key with all versions, attributes and tags, and the role assignments, written under a new folder',
    'mhsm-<name>-<timestamp> in the container, protected by the HSM\'s security domain: only an HSM holding the',
    'same domain can restore it. Needs the Administrator or Backup role.',
    '',
    'example: hsmctl backup start --hsm https://contoso.managedhsm.azure.net --storage-url https://acct.blob.core.windows.net/mhsm-backups --sas-file sas.txt',
  ].join('\n'),
  flags: { ...TARGET_FLAGS, ...STORAGE_FLAGS, 'no-wait': { type: 'boolean', description: 'print the job id and return; follow with hsmctl backup status' } },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  async run(flags) {
    const storage = storageUrl(flags);
    const sas = readSas(flags);
    const target = resolveTarget(flags);
    return withAdminClient(target, async (client) => {
      const j = await runBackup(client, storage, sas, !flags['no-wait']);
      return reportJob('backup', j);
    });
  },
};
