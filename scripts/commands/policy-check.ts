import { Command } from '../command';
import { emitPolicyReport, REPORT_FLAGS } from './policy-report';

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
  flags: REPORT_FLAGS,
  async run(flags, positionals) {
    const { checkTerraformJson } = require('../../policy/run-checks') as typeof import('../../policy/run-checks');
    return emitPolicyReport(flags, () => checkTerraformJson(positionals[0]));
  },
};
