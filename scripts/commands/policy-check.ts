import { Command } from '../command';
import { UsageError } from '../flags';

export const policyCheckCommand: Command = {
  details: [
    'hsmctl policy check DIR|FILE: a cdk.tf.json or *.tf.json file, or a folder (every folder below it with',
    '*.tf.json files is one configuration, e.g. cdktf.out/stacks/<stack>). Acknowledgements recorded in the',
    'JSON ("//".policy.acknowledgements, written at synth by acknowledgePolicy) waive their rules; findings waived',
    'by one that names no construct, or that covers every address ("*"), are listed apart for review.',
    'Exit 0: no violation; 1: violations; 2: bad arguments or input.',
    'example: hsmctl policy check cdktf.out --format sarif --output policy.sarif',
  ].join('\n'),
  args: [{ name: 'DIR|FILE', description: 'a cdk.tf.json or *.tf.json file, or a folder such as cdktf.out' }],
  flags: {
    format: { type: 'string', value: 'text|json|sarif', description: 'report format; default text' },
    output: { type: 'string', value: 'FILE', description: 'write the report to FILE (the verdict still goes to stdout)' },
  },
  async run(flags, positionals) {
    const { REPORT_FORMATS, emitReport } = require('../../policy/report-output') as typeof import('../../policy/report-output');
    const format = (flags.format as string | undefined) ?? 'text';
    if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: allowed: ${REPORT_FORMATS.join(', ')}`);
    const { checkTerraformJson } = require('../../policy/run-checks') as typeof import('../../policy/run-checks');
    const { CheckInputError } = require('../../policy/terraform-json-files') as typeof import('../../policy/terraform-json-files');
    try {
      return emitReport(checkTerraformJson(positionals[0]), format as 'text', flags.output as string | undefined);
    } catch (err) {
      if (err instanceof CheckInputError) throw new UsageError(err.message);
      throw err;
    }
  },
};
