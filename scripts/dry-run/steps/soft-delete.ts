import { runSoftDeleteDrill } from '../../ceremonies/soft-delete-drill';
import { readEndpoints } from '../../clients/target';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { armClients } from '../arm-clients';
import { hsmClients, primaryManagedHsms } from '../hsm-clients';

/**
 * Step 9b: the soft-delete drill on the primary Managed HSM, through the real ARM client as against Azure: delete,
 * see it listed as deleted with its purge date, purge refused under purge protection, recover, and the same key
 * versions and activated domain back.
 */
export function softDeleteStep(ctx: DryRunContext): Step {
  return {
    name: 'rehearse deleting and recovering the Managed HSM (purge refused)',
    async run({ say, skip }) {
      const m = primaryManagedHsms(ctx)[0];
      if (!m) return skip('no Managed HSM');
      const arm = armClients(ctx.operator!.credential, ctx.subscriptionId, { endpoint: ctx.endpoints!.armEndpoint!, ca: ctx.ca, pollMs: 50 });
      const report = await runSoftDeleteDrill({
        arm: arm.keyVault,
        resourceGroup: m.resourceGroup,
        name: m.name,
        pollOptions: arm.pollOptions,
        inventory: async (hsmUri) => {
          const { keys } = hsmClients(ctx, hsmUri);
          const out: string[] = [];
          for await (const k of keys.listPropertiesOfKeys()) {
            for await (const v of keys.listPropertiesOfKeyVersions(k.name)) out.push(`${k.name}/${v.version}`);
          }
          return out.sort();
        },
        log: say,
      });
      // The recovered HSM may listen elsewhere: later steps read its hsmUri afresh.
      ctx.endpoints = readEndpoints(ctx.simulatorDir);
      return report;
    },
  };
}
