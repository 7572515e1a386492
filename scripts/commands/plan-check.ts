import { Command } from '../command';
import { UsageError } from '../flags';

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
    format: { type: 'string', value: 'text|json|sarif', description: 'report format; default text' },
    output: { type: 'string', value: 'FILE', description: 'write the report to FILE (the verdict still goes to stdout)' },
  },
  async run(flags, positionals) {
    const { REPORT_FORMATS, emitReport } = require('../../policy/report-output') as typeof import('../../policy/report-output');
    const format = (flags.format as string | undefined) ?? 'text';
    if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: allowed: ${REPORT_FORMATS.join(', ')}`);
    const { checkPlan } = require('../../policy/run-checks') as typeof import('../../policy/run-checks');
    const { CheckInputError } = require('../../policy/terraform-json-files') as typeof import('../../policy/terraform-json-files');
    try {
      const report = checkPlan(positionals[0], {
        allowDestroy: (flags['allow-destroy'] as string[] | undefined) ?? [],
        reason: flags.reason as string | undefined,
        acknowledgementsFrom: flags['acknowledgements-from'] as string | undefined,
      });
      return emitReport(report, format as 'text', flags.output as string | undefined);
    } catch (err) {
      if (err instanceof CheckInputError) throw new UsageError(err.message);
      throw err;
    }
  },
};
