import { Command } from '../command';
import { FlagSpecs, ParsedFlags, UsageError } from '../flags';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { withAdminClient } from '../clients/mhsm-admin';
import { MIN_KEY_BITS, downloadSecurityDomain, isActivated, makeWrappingKeys, readCertificateFile } from '../ceremonies/security-domain';
import { CeremonyError } from '../failure';
import { intFlag, required } from '../ceremonies/run';

export const KEYGEN_FLAGS: FlagSpecs = {
  certs: { type: 'string', value: 'N', description: 'make N RSA key pairs and self-signed certificates, 3-10 (default 3)' },
  quorum: { type: 'string', value: 'M', description: 'keys needed to recover the domain, 2-10 and at most N (default 2)' },
  cert: { type: 'list', value: 'FILE...', description: 'use these certificates (PEM/DER) instead of making key pairs; their private keys stay with you' },
  'key-size': { type: 'string', value: 'BITS', description: `RSA key size of the key pairs made, at least ${MIN_KEY_BITS} (default 4096)` },
  days: { type: 'string', value: 'D', description: 'validity of the certificates made, in days (default 365)' },
  out: { type: 'string', value: 'DIR', description: 'folder for cert_<i>.key (0600), cert_<i>.cer and security-domain.json (0600); created 0700 (required)' },
};

/** Shared by activate and rotate: the certificates (made here or given) and the quorum. */
export async function certificatesFromFlags(flags: ParsedFlags) {
  const given = flags.cert as string[] | undefined;
  if (given && (flags.certs !== undefined || flags['key-size'] !== undefined || flags.days !== undefined)) throw new UsageError('--cert takes existing certificates: --certs, --key-size and --days apply only to key pairs made here');
  const n = given ? given.length : intFlag(flags, 'certs', 3, 3, 10);
  if (given && (n < 3 || n > 10)) throw new UsageError(`--cert needs 3 to 10 certificates; got ${n}`);
  const quorum = intFlag(flags, 'quorum', 2, 2, 10);
  if (quorum > n) throw new UsageError(`--quorum ${quorum} cannot exceed the number of certificates (${n})`);
  const bits = intFlag(flags, 'key-size', 4096, MIN_KEY_BITS, 16384);
  const days = intFlag(flags, 'days', 365, 1, 36500);
  return {
    quorum,
    certificates: given?.map(readCertificateFile),
    make: given ? undefined : () => makeWrappingKeys(n, bits, days),
  };
}

/** `hsmctl sd activate`: the activation ceremony (Export-AzKeyVaultSecurityDomain / az keyvault security-domain download). */
export const sdActivateCommand: Command = {
  details: [
    'Makes N RSA key pairs with self-signed certificates (4096 bits by default, as `openssl req -newkey rsa:4096 -x509`',
    'does in the runbooks) or takes the given certificates, downloads the security domain encrypted to them with',
    'quorum M, checks that the file opens with M of the keys, and waits for the download to report Success.',
    'Refuses an HSM that is already active (use `hsmctl sd rotate`) and an --out folder holding earlier files.',
    'Keep the key files and the security-domain file apart and offline: M keys and the file recover the HSM.',
    '',
    'example: hsmctl sd activate --hsm https://contoso.managedhsm.azure.net --certs 3 --quorum 2 --out ./sd',
    '         hsmctl sd activate --simulator .hsm-state --hsm contoso-hsm --cert a.cer b.cer c.cer --quorum 2 --out ./sd',
  ].join('\n'),
  flags: { ...TARGET_FLAGS, ...KEYGEN_FLAGS },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  async run(flags) {
    const out = required(flags, 'out');
    const target = resolveTarget(flags);
    const spec = await certificatesFromFlags(flags);
    return withAdminClient(target, async (client) => {
      if (await isActivated(client)) throw new CeremonyError(`${target.hsmUri} is already activated; to download its security domain under new certificates use \`hsmctl sd rotate\`. Nothing was changed.`);
      const t0 = Date.now();
      const made = spec.make ? await spec.make() : undefined;
      if (made) console.log(`made ${made.length} RSA key pairs and certificates in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const r = await downloadSecurityDomain(client, { out, required: spec.quorum, made, certificates: spec.certificates });
      console.log(`security domain downloaded: ${r.sdFile} (quorum ${r.required} of ${r.certificates})`);
      for (const f of r.keyFiles) console.log(`  wrapping key ${f.key} (0600), certificate ${f.cer}`);
      console.log(`${target.hsmUri}: ${r.status.status}${r.status.status_details ? ` (${r.status.status_details})` : ''}`);
      return 0;
    });
  },
};
