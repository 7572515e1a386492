import { Command } from '../command';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { withAdminClient } from '../clients/mhsm-admin';
import { downloadSecurityDomain, isActivated } from '../ceremonies/security-domain';
import { CeremonyError } from '../failure';
import { required } from '../ceremonies/run';
import { KEYGEN_FLAGS, certificatesFromFlags } from './sd-activate';

/** `hsmctl sd rotate`: the same domain, downloaded again under new certificates, before the old ones expire. */
export const sdRotateCommand: Command = {
  details: [
    'For an active HSM: makes new key pairs (or takes --cert) and downloads the same security domain encrypted to',
    'them into a new --out folder, checking that it opens with a quorum of the new keys. Keys in the HSM and data',
    'encrypted with them are not affected. Keep the old file and keys until the new ones are stored and verified',
    '(e.g. with a DR drill), then retire them. Expired certificates still recover a domain; rotate anyway.',
    '',
    'example: hsmctl sd rotate --hsm https://contoso.managedhsm.azure.net --certs 3 --quorum 2 --out ./sd-2026',
  ].join('\n'),
  flags: { ...TARGET_FLAGS, ...KEYGEN_FLAGS },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  async run(flags) {
    const out = required(flags, 'out');
    const target = resolveTarget(flags);
    const spec = await certificatesFromFlags(flags);
    return withAdminClient(target, async (client) => {
      if (!(await isActivated(client))) throw new CeremonyError(`${target.hsmUri} is not activated: there is no security domain to rotate (use \`hsmctl sd activate\`, or \`hsmctl sd recover\` for a recovery). Nothing was changed.`);
      const made = spec.make ? await spec.make() : undefined;
      const r = await downloadSecurityDomain(client, { out, required: spec.quorum, made, certificates: spec.certificates });
      console.log(`security domain downloaded under new certificates: ${r.sdFile} (quorum ${r.required} of ${r.certificates})`);
      for (const f of r.keyFiles) console.log(`  wrapping key ${f.key} (0600), certificate ${f.cer}`);
      console.log('store the new file and keys, verify them (hsmctl dr-drill), then retire the old ones');
      return 0;
    });
  },
};
