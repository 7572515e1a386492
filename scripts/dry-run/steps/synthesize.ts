import { buildApp } from '../../../stacks/app';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { readSynthesizedEstate } from '../synthesized-estate';

/** Step 1: `cdktf synth` of the environment (policy checks included), read back as the estate to provision. */
export function synthesizeStep(ctx: DryRunContext): Step {
  return {
    name: 'synthesize the stacks',
    async run({ say }) {
      const { stacks, app } = buildApp(ctx.config, ctx.outdir);
      app.synth();
      const estate = readSynthesizedEstate(ctx.outdir, ctx.subscriptionId);
      ctx.estate = estate;
      say(`${stacks.map((s) => s.stackName).join(', ')} -> ${ctx.outdir}`);
      say(`${estate.dedicatedHsms.length} Dedicated HSM(s), ${estate.managedHsms.length} Managed HSM(s), ${estate.vms.length} VM(s)`);
      return { stacks: stacks.map((s) => s.stackName), outdir: ctx.outdir };
    },
  };
}
