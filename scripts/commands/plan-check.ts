import { Command } from '../command';
import { emitPolicyReport, REPORT_FLAGS } from './policy-report';

export const planCheckCommand: Command = {
  details: [
    'hsmctl plan check PLAN.json, where PLAN.json is `terraform plan -out p.tfplan && terraform show -json p.tfplan`.',
    'Fails on any delete or replace of an HSM, an HSM key, an HSM Administrator role assignment, the HSM',
    'subnet or the gateway (naming the attribute that forces a replacement), and on the policy rules over',
    'the planned values. An intended deletion passes with --allow-destroy ADDRESS (one per address) and --reason.',
    'Exit 0: nothing open; 1: violations; 2: bad arguments or input.',
    'example: hsmctl plan check plan.json --format sarif --output plan.sarif',
  ].join('\n'),
  args: [{ name: 'PLAN.json', description: 'the output of terraform show -json PLANFILE' }],
  flags: {
    'allow-destroy': { type: 'list', value: 'ADDRESS...', description: 'resource addresses whose deletion or replacement is intended' },
    reason: { type: 'string', value: 'TEXT', description: 'why (required with --allow-destroy, 10+ characters)' },
    'acknowledgements-from': { type: 'string', value: 'DIR|FILE', description: 'apply the acknowledgements recorded in the cdk.tf.json (or stack folder) of the stack the plan is of' },
    ...REPORT_FLAGS,
  },
  async run(flags, positionals) {
    const { checkPlan } = require('../../policy/run-checks') as typeof import('../../policy/run-checks');
    return emitPolicyReport(flags, () =>
      checkPlan(positionals[0], {
        allowDestroy: (flags['allow-destroy'] as string[] | undefined) ?? [],
        reason: flags.reason as string | undefined,
        acknowledgementsFrom: flags['acknowledgements-from'] as string | undefined,
      }),
    );
  },
};
