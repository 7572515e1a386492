import * as fs from 'fs';
import { Command } from '../command';
import { UsageError } from '../flags';
import { writePrivateFile } from '../../files/private-files';
import { loadWrappingKeys, readCertificateFile, readTextFile, restoreBlob } from '../ceremonies/security-domain';
import { CeremonyError } from '../failure';
import { required } from '../ceremonies/run';

/** `hsmctl sd restore-blob`: offline, as `az keyvault security-domain restore-blob`. */
export const sdRestoreBlobCommand: Command = {
  details: [
    'Recovers the domain with M of the wrapping keys (each key.key needs its key.cer beside it), re-encrypts it',
    'under a new key wrapped to the target HSM\'s exchange key (from `az keyvault security-domain init-recovery`',
    'or `hsmctl sd recover --exchange-key-out`), and writes the blob 0600. Upload it with',
    '`az keyvault security-domain upload --restore-blob` (or use `hsmctl sd recover`, which does every step).',
    '',
    'example: hsmctl sd restore-blob --sd-file sd/security-domain.json --exchange-key hsm2-sde.cer --keys sd/cert_0.key sd/cert_1.key --out restore_blob.json',
  ].join('\n'),
  flags: {
    'sd-file': { type: 'string', value: 'FILE', description: 'the security-domain file (required)' },
    'exchange-key': { type: 'string', value: 'CERT', description: "the target HSM's exchange key certificate (required)" },
    keys: { type: 'list', value: 'KEY...', description: 'private key files (PEM), at least the quorum; each with its .cer beside it (required)' },
    out: { type: 'string', value: 'FILE', description: 'where to write the restore blob (0600; must not exist) (required)' },
  },
  async run(flags) {
    const sdFile = required(flags, 'sd-file');
    const exchangeFile = required(flags, 'exchange-key');
    const out = required(flags, 'out');
    const keyFiles = flags.keys as string[] | undefined;
    if (!keyFiles?.length) throw new UsageError('--keys is required (the private keys of at least the quorum of certificates)');
    if (fs.existsSync(out)) throw new CeremonyError(`refusing to overwrite ${out}`);
    const text = readTextFile(sdFile, 'security domain file');
    const exchange = readCertificateFile(exchangeFile);
    const keys = loadWrappingKeys(keyFiles, (m) => console.error(m));
    const blob = restoreBlob(text, exchange, keys);
    writePrivateFile(out, blob);
    console.log(`restore blob written: ${out} (for the exchange key ${exchangeFile})`);
    return 0;
  },
};
