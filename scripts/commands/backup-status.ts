import { Command } from '../command';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { withAdminClient } from '../clients/mhsm-admin';
import { required } from '../ceremonies/run';
import { reportJob } from './backup-start';

export const backupStatusCommand: Command = {
  flags: {
    ...TARGET_FLAGS,
    job: { type: 'string', value: 'ID', description: 'the job id printed by backup start / backup restore (required)' },
    restore: { type: 'boolean', description: 'the job is a restore (full or selective)' },
  },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  async run(flags) {
    const job = required(flags, 'job');
    const target = resolveTarget(flags);
    return withAdminClient(target, async (client) => {
      const j = flags.restore ? await client.restoreStatus(job) : await client.backupStatus(job);
      return reportJob(flags.restore ? 'restore' : 'backup', j);
    });
  },
};
