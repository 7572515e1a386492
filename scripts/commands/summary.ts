import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Command } from '../command';

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
    // Loaded here, not at the top: cdktf and the provider cost every other hsmctl command half a second.
    // (require, not import(): tsx compiles this CommonJS CLI and hooks require only.)
    const { buildApp } = require('../../stacks/app') as typeof import('../../stacks/app');
    const { configPathFor } = require('../../stacks/config-path') as typeof import('../../stacks/config-path');
    const { ConfigError, loadEnvironmentConfig } = require('../../stacks/environment-config') as typeof import('../../stacks/environment-config');
    const { formatSummary, summarizeSynthOutput } = require('../synth-summary') as typeof import('../synth-summary');
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
