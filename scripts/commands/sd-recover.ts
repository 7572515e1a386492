import { Command } from '../command';
import { UsageError } from '../flags';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { withAdminClient } from '../clients/mhsm-admin';
import { loadWrappingKeys, readTextFile, recoverSecurityDomain } from '../ceremonies/security-domain';
import { required } from '../ceremonies/run';

/** `hsmctl sd recover`: init-recovery, restore-blob and upload in one go. */
export const sdRecoverCommand: Command = {
  details: [
    'Checks offline that the keys open the file (quorum, matching certificates, integrity) before contacting the',
    'HSM; then fetches its exchange key (recovery mode), makes the restore blob here, uploads it and waits.',
    'Afterwards the HSM holds the same domain as the original and can restore its backups.',
    '',
    'example: hsmctl sd recover --hsm https://hsm2.managedhsm.azure.net --sd-file sd/security-domain.json --keys sd/cert_0.key sd/cert_1.key',
  ].join('\n'),
  flags: {
    ...TARGET_FLAGS,
    'sd-file': { type: 'string', value: 'FILE', description: 'the security-domain file of the original HSM (required)' },
    keys: { type: 'list', value: 'KEY...', description: 'private key files, at least the quorum; each with its .cer beside it (required)' },
    'exchange-key-out': { type: 'string', value: 'FILE', description: "also save the HSM's exchange key certificate here" },
  },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  async run(flags) {
    const sdFile = required(flags, 'sd-file');
    const keyFiles = flags.keys as string[] | undefined;
    if (!keyFiles?.length) throw new UsageError('--keys is required');
    const target = resolveTarget(flags);
    const text = readTextFile(sdFile, 'security domain file');
    const keys = loadWrappingKeys(keyFiles, (m) => console.error(m));
    return withAdminClient(target, async (client) => {
      const s = await recoverSecurityDomain(client, text, keys, flags['exchange-key-out'] as string | undefined);
      console.log(`${target.hsmUri}: security domain uploaded: ${s.status}${s.status_details ? ` (${s.status_details})` : ''}`);
      return 0;
    });
  },
};
