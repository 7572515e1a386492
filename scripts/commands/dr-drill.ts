import * as fs from 'fs';
import { Command } from '../command';
import { UsageError } from '../flags';
import { writeFileAtomic } from '../../files/private-files';
import { MIN_KEY_BITS } from '../ceremonies/security-domain';
import { runDrDrill } from '../ceremonies/dr-drill';
import { intFlag, readSas } from '../ceremonies/run';

/** `hsmctl dr-drill`: the Managed HSM disaster-recovery drill, every step timed. */
export const drDrillCommand: Command = {
  details: [
    'By default starts its own simulator in --state-dir DIR (Azurite included, in DIR/azurite) with two new HSMs.',
    'With --simulator DIR it uses the running simulator of that folder and its HSMs --source and --target (the',
    'target must not be activated; an already active source needs its security domain in --sd-dir).',
    'Steps: activate the source (sd activate), create RSA/EC/AES keys with several versions and sample',
    'signatures/ciphertexts, full backup to blob storage, recover the domain into the target with a quorum of',
    'keys, restore the backup, and prove every version on the target signs verifiably (the source\'s public keys',
    'check it) and decrypts what the source encrypted. Prints each step with its time; exit 0 only if all pass.',
    '',
    'example: hsmctl dr-drill --state-dir .dr-drill',
  ].join('\n'),
  flags: {
    'state-dir': { type: 'string', value: 'DIR', description: 'start a simulator and Azurite in this folder (default mode)' },
    simulator: { type: 'string', value: 'DIR', description: 'use the simulator running from this folder instead' },
    source: { type: 'string', value: 'NAME', description: 'with --simulator: the HSM to back up' },
    target: { type: 'string', value: 'NAME', description: 'with --simulator: the HSM to recover into (not activated)' },
    'sd-dir': { type: 'string', value: 'DIR', description: 'folder for (or of) the source security-domain file and keys (default DIR/dr-drill-<source>)' },
    'storage-url': { type: 'string', value: 'URL', description: 'use this blob container instead of a local Azurite (with --sas-file or $AZURE_STORAGE_SAS_TOKEN)' },
    'sas-file': { type: 'string', value: 'FILE', description: 'SAS token file for --storage-url' },
    certs: { type: 'string', value: 'N', description: 'security-domain certificates to make, 3-10 (default 3)' },
    quorum: { type: 'string', value: 'M', description: 'quorum, 2-10 (default 2)' },
    'key-size': { type: 'string', value: 'BITS', description: `RSA size of the security-domain key pairs, at least ${MIN_KEY_BITS} (default 4096)` },
    report: { type: 'string', value: 'FILE', description: 'also write the report as JSON' },
  },
  async run(flags) {
    const stateDir = flags['state-dir'] as string | undefined;
    const simulatorDir = flags.simulator as string | undefined;
    if (!!stateDir === !!simulatorDir) throw new UsageError('give --state-dir DIR (a simulator started here) or --simulator DIR (a running one)');
    if (stateDir && (flags.source || flags.target)) throw new UsageError('--source and --target go with --simulator');
    if (simulatorDir && (!flags.source || !flags.target)) throw new UsageError('--simulator needs --source and --target');
    if (simulatorDir && !fs.existsSync(simulatorDir)) throw new UsageError(`--simulator ${simulatorDir}: no such folder`);
    const certs = intFlag(flags, 'certs', 3, 3, 10);
    const quorum = intFlag(flags, 'quorum', 2, 2, 10);
    if (quorum > certs) throw new UsageError(`--quorum ${quorum} cannot exceed --certs ${certs}`);
    const keySize = intFlag(flags, 'key-size', 4096, MIN_KEY_BITS, 16384);
    const storage = flags['storage-url'] ? { containerUri: (flags['storage-url'] as string).replace(/\/+$/, ''), sas: readSas(flags) } : undefined;
    console.log(`dr-drill: ${stateDir ? `own simulator in ${stateDir}` : `simulator ${simulatorDir}`}`);
    const t0 = Date.now();
    const report = await runDrDrill({ stateDir, simulatorDir, source: flags.source as string, target: flags.target as string, sdDir: flags['sd-dir'] as string, storage, certs, quorum, keySize, log: (l) => console.log(l) });
    if (flags.report) writeFileAtomic(flags.report as string, JSON.stringify(report, null, 2) + '\n', 0o644);
    const total = ((Date.now() - t0) / 1000).toFixed(1);
    if (!report.ok) {
      console.error(`dr-drill FAILED after ${total} s: ${report.error}`);
      return 1;
    }
    console.log(`dr-drill passed in ${total} s: ${report.target} holds ${report.source}'s security domain and keys (${report.versionsChecked} versions checked)`);
    return 0;
  },
};
