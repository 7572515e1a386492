import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { buildApp } from '../../stacks/app';
import { configPathFor } from '../../stacks/config-path';
import { ConfigError, loadEnvironmentConfig } from '../../stacks/environment-config';
import { Command } from '../command';
import { formatSummary, summarizeSynthOutput } from '../synth-summary';

export const summaryCommand: Command = {
  path: ['summary'],
  summary: 'synthesize an environment and print what it would deploy',
  details: 'Synthesizes config/<env>.json (policy checks included) and prints the resource counts by type, the HSMs, the admin CIDRs and the backend.',
  flags: {
    env: { type: 'string', value: 'NAME', description: 'environment (config/NAME.json); default example' },
    outdir: { type: 'string', value: 'DIR', description: 'keep the synthesized JSON here; default a temporary folder' },
    json: { type: 'boolean', description: 'print the summary as JSON' },
  },
  async run(flags) {
    const env = (flags.env as string | undefined) ?? 'example';
    const outdir = (flags.outdir as string | undefined) ?? mkdtempSync(join(tmpdir(), 'hsm-synth-'));
    try {
      buildApp(loadEnvironmentConfig(configPathFor(env)), outdir).app.synth();
      const summaries = summarizeSynthOutput(outdir);
      console.log(flags.json ? JSON.stringify(summaries, null, 2) : formatSummary(summaries));
      return 0;
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(`hsmctl summary: ${err.message}`);
        return 1;
      }
      const message = (err as Error).message ?? String(err);
      console.error(`hsmctl summary: synth failed:\n${message}`);
      return 1;
    } finally {
      if (!flags.outdir) rmSync(outdir, { recursive: true, force: true });
    }
  },
};
