import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Command } from '../command';
import { ENVIRONMENT_FLAGS, loadEnvironment } from '../environment';
import { CeremonyError } from '../failure';
import { buildApp } from '../../stacks/app';
import { ConfigError } from '../../stacks/environment-config';
import { formatSummary, summarizeSynthOutput } from '../synth-summary';

export const summaryCommand: Command = {
  details: [
    'Synthesizes the environment (policy checks included) and prints the resource counts by type, the HSMs, the',
    'admin CIDRs and the backend. The environment it read is named first, on stderr.',
    '',
    'example: hsmctl summary --env example',
    '         HSM_CONFIG=./my-env.json hsmctl summary --json',
  ].join('\n'),
  flags: {
    ...ENVIRONMENT_FLAGS,
    outdir: { type: 'string', value: 'DIR', description: 'keep the synthesized JSON here; default a temporary folder' },
    json: { type: 'boolean', description: 'print the summary as JSON' },
  },
  async run(flags) {
    const { config } = loadEnvironment(flags, (line) => console.error(line));
    const outdir = (flags.outdir as string | undefined) ?? mkdtempSync(join(tmpdir(), 'hsm-synth-'));
    try {
      buildApp(config, outdir).app.synth();
      const summaries = summarizeSynthOutput(outdir);
      console.log(flags.json ? JSON.stringify(summaries, null, 2) : formatSummary(summaries));
      return 0;
    } catch (err) {
      if (err instanceof ConfigError) throw new CeremonyError(err.message);
      throw new CeremonyError(`synth failed:\n${(err as Error).message ?? String(err)}`);
    } finally {
      if (!flags.outdir) rmSync(outdir, { recursive: true, force: true });
    }
  },
};
