import * as path from 'path';
import { Command } from '../command';
import { UsageError } from '../flags';
import { ENVIRONMENT_FLAGS, loadEnvironment } from '../environment';

export const dryRunCommand: Command = {
  details: [
    'Synthesizes config/<env>.json, starts the embedded simulator (SoftHSM2, Azurite) unless --simulator is given,',
    'creates the HSMs through its ARM plane with the synthesized properties, activates the security domains,',
    'applies role assignments and keys, initialises the Luna appliances and registers the CipherTrust Manager,',
    'the Luna client host and the firewalls, imports a Luna-generated key by BYOK, runs the firewall scenarios',
    '(PAN-OS master key and wrapping-key rotation, vSRX master encryption password), runs the disaster-recovery',
    'drill and reports the status of every HSM.',
    'Re-running is idempotent; a failed step names itself and leaves the state folder for inspection.',
  ].join('\n'),
  flags: {
    ...ENVIRONMENT_FLAGS,
    'state-dir': { type: 'string', value: 'DIR', description: 'where everything is kept; default .hsm-state/<env>' },
    simulator: { type: 'string', value: 'DIR', description: 'use the simulator already running from DIR' },
    'key-bits': { type: 'string', value: 'N', description: 'RSA size of the security-domain wrapping keys: 2048, 3072 or 4096 (default 4096)' },
    json: { type: 'boolean', description: 'print one machine-readable report on stdout (progress goes to stderr)' },
  },
  async run(flags) {
    const keyBits = flags['key-bits'] === undefined ? 4096 : Number(flags['key-bits']);
    if (![2048, 3072, 4096].includes(keyBits)) throw new UsageError(`--key-bits ${String(flags['key-bits'])}: allowed 2048, 3072 or 4096`);
    const json = flags.json === true;
    const progress = (line: string) => (json ? console.error(line) : console.log(line));
    const { config } = loadEnvironment(flags, (line) => console.error(line));
    if (flags.simulator) {
      // A simulator that is not running is named now, not after the synth.
      const { readEndpoints } = require('../clients/target') as typeof import('../clients/target');
      readEndpoints(flags.simulator as string);
    }
    const { runDryRun } = require('../dry-run/dry-run') as typeof import('../dry-run/dry-run');
    const stateDir = (flags['state-dir'] as string | undefined) ?? path.join('.hsm-state', config.name);
    const report = await runDryRun({
      env: config.name,
      config,
      stateDir,
      simulatorDir: flags.simulator as string | undefined,
      keyBits,
      progress,
    });
    if (json) console.log(JSON.stringify(report, null, 2));
    else {
      const { countSteps } = require('../dry-run/step-runner') as typeof import('../dry-run/step-runner');
      console.log(report.ok ? `\ndry-run of ${report.env}: ${countSteps(report.steps)} in ${report.seconds.toFixed(1)} s; state in ${report.stateDir}` : `\ndry-run of ${report.env} FAILED at "${report.failedStep}" (${countSteps(report.steps)}); the state is kept in ${report.stateDir} for inspection`);
      for (const s of report.steps) console.log(`  ${s.status.padEnd(7)} ${s.seconds.toFixed(2).padStart(6)} s  ${s.name}${s.reason ? ` (${s.reason})` : ''}`);
    }
    return report.ok ? 0 : 1;
  },
};
