import * as fs from 'fs';
import * as path from 'path';
import { Command } from '../command';
import { ParsedFlags, UsageError } from '../flags';
import { TARGET_FLAGS, keyClientFor, resolveTarget } from '../clients/target';
import { Pkcs11Token, SOURCE_KEY_CHOICES, SourceKey } from '../clients/pkcs11-token';
import { KEK_SIZES, byokFileOf, ensureKek, importByok, kekOfFile, readByokFile, samePublicKey } from '../ceremonies/byok';
import { intFlag, required } from '../ceremonies/run';
import { CeremonyError } from '../failure';
import { writeFileAtomic } from '../../files/private-files';
import { keySpecFromFlags } from './keys-create';
import { keyName } from './key-name';
import { describeKey } from './keys-show';
import { secretFrom } from './luna-ssh';

/** `hsmctl byok NAME`: BYOK as seed 003 runs it, with the source key in a PKCS#11 token (a Luna partition). */
export const byokCommand: Command = {
  details: [
    'From a PKCS#11 token (a Luna partition through the Luna client library, or the module `hsmctl luna connect` prints):',
    '  1. the key exchange key (KEK) --kek in the Managed HSM: reused if it is RSA-HSM with key_ops ["import"] only,',
    '     created so if it does not exist, refused otherwise;',
    '  2. the source key: --key-label names an extractable key in the token, or --generate makes one there;',
    '  3. the token wraps it for the KEK (CKM_RSA_AES_KEY_WRAP: RSA-OAEP SHA-1 of a temporary AES-256 key, then the',
    '     key\'s PKCS#8 under AES key wrap with padding); the .byok file is written (0600) to --out;',
    '  4. the Managed HSM imports it as NAME (RSA-HSM, EC-HSM or oct-HSM), and hsmctl checks that the imported',
    '     public key is the token\'s.',
    'With --byok-file a .byok made elsewhere (CipherTrust, the Luna BYOK tool) is checked and imported instead.',
    'The PIN (the partition\'s Crypto Officer) comes from --pin-env NAME or --pin-file FILE, never from a flag value.',
    '',
    'example: CO_PIN=... hsmctl byok app-cmk --from-outputs outputs.json --pkcs11-module /usr/safenet/lunaclient/lib/libCryptoki2_64.so \\',
    '           --token ctm_part --pin-env CO_PIN --generate RSA-3072 --key-label app-cmk --ops wrapKey unwrapKey --expires P1Y',
    '         hsmctl byok app-cmk --from-outputs outputs.json --byok-file app-cmk.byok --kty RSA-HSM',
  ].join('\n'),
  args: [{ name: 'NAME', description: 'the name of the key in the Managed HSM' }],
  flags: {
    ...TARGET_FLAGS,
    kek: { type: 'string', value: 'NAME', description: 'the key exchange key in the Managed HSM (default byok-kek)' },
    'kek-size': { type: 'string', value: 'BITS', description: `RSA size of a KEK made here: ${KEK_SIZES.join(', ')} (default 4096)` },
    'pkcs11-module': { type: 'string', value: 'PATH', description: 'the PKCS#11 library of the source HSM (required unless --byok-file)' },
    token: { type: 'string', value: 'LABEL', description: 'the token (Luna partition) label (required unless --byok-file)' },
    'pin-env': { type: 'string', value: 'NAME', description: 'environment variable holding the token user\'s PIN' },
    'pin-file': { type: 'string', value: 'FILE', description: 'file whose first line is the token user\'s PIN' },
    'key-label': { type: 'string', value: 'LABEL', description: 'the source key\'s label in the token (required unless --byok-file)' },
    generate: { type: 'string', value: 'TYPE', description: `make the source key in the token first: ${SOURCE_KEY_CHOICES.join(', ')}` },
    'byok-file': { type: 'string', value: 'FILE', description: 'import this .byok file instead of wrapping a key here (needs --kty)' },
    kty: { type: 'string', value: 'TYPE', description: 'with --byok-file: RSA-HSM, EC-HSM or oct-HSM' },
    curve: { type: 'string', value: 'CURVE', description: 'with --byok-file and EC-HSM: P-256, P-384 or P-521' },
    out: { type: 'string', value: 'FILE', description: 'where to write the .byok file (default NAME.byok); an existing file is not overwritten' },
    ops: { type: 'list', value: 'OP...', description: 'operations of the imported key (default: all its type allows)' },
    expires: { type: 'string', value: 'DATE|DURATION', description: 'expiry of the imported key: a date or a duration such as P1Y' },
    'not-before': { type: 'string', value: 'DATE|DURATION', description: 'not usable before this date' },
    tag: { type: 'list', value: 'KEY=VALUE...', description: 'tags (at most 15)' },
    'new-version': { type: 'boolean', description: 'import as a new version of an existing key NAME (default: refuse an existing name)' },
    json: { type: 'boolean', description: 'print the imported key as JSON' },
  },
  needs: { role: 'Managed HSM Crypto User', scope: '/keys' },
  async run(flags, positionals) {
    const name = keyName(positionals, 'byok');
    const fromFile = flags['byok-file'] as string | undefined;
    if (fromFile) for (const f of ['pkcs11-module', 'token', 'key-label', 'generate', 'pin-env', 'pin-file', 'out']) if (flags[f] !== undefined) throw new UsageError(`--${f} wraps a key here; with --byok-file the key is already wrapped`);
    if (!fromFile) for (const f of ['kty', 'curve']) if (flags[f] !== undefined) throw new UsageError(`--${f} goes with --byok-file (a key wrapped here has its type from the token)`);
    const generate = flags.generate as string | undefined;
    if (generate !== undefined && !(SOURCE_KEY_CHOICES as readonly string[]).includes(generate)) throw new UsageError(`--generate ${generate}: allowed ${SOURCE_KEY_CHOICES.join(', ')}`);
    const kekSize = intFlag(flags, 'kek-size', 4096, 2048, 4096);
    if (!KEK_SIZES.includes(kekSize)) throw new UsageError(`--kek-size ${kekSize}: allowed ${KEK_SIZES.join(', ')}`);
    const kekName = (flags.kek as string | undefined) ?? 'byok-kek';
    keyName([kekName], 'byok --kek');

    const target = resolveTarget(flags);
    const keys = keyClientFor(target);
    const existing = await keys.getKey(name).catch((err) => {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    });
    if (existing && !flags['new-version']) throw new CeremonyError(`a key named ${name} already exists in ${target.hsmUri}; give --new-version to import a new version of it, or another NAME. Nothing was imported`);

    if (fromFile) {
      const spec = keySpecFromFlags({ ...flags, kty: required(flags, 'kty', 'with --byok-file') });
      const byok = readByokFile(fromFile);
      const kek = await kekOfFile(keys, target.hsmUri, byok);
      const imported = await importByok(keys, name, byok, spec);
      report(flags, imported, `imported ${name} from ${fromFile} (KEK ${kek.name}) into ${target.hsmUri}`);
      return 0;
    }

    const pin = secretFrom(flags, 'pin', 'the token user\'s PIN (a Luna partition\'s Crypto Officer)');
    const out = path.resolve((flags.out as string | undefined) ?? `${name}.byok`);
    if (fs.existsSync(out)) throw new UsageError(`--out ${out} exists; choose another file (a .byok is not overwritten)`);
    const token = Pkcs11Token.open(required(flags, 'pkcs11-module', 'to wrap a key here'), required(flags, 'token', 'to wrap a key here'), pin);
    try {
      token.checkCanWrap();
      const label = required(flags, 'key-label', 'to wrap a key here');
      let source: SourceKey | undefined = token.findKey(label);
      if (source && generate) throw new CeremonyError(`token "${token.label}" already holds a key labelled "${label}"; drop --generate to import it, or choose another --key-label. Nothing was changed`);
      if (!source && !generate) throw new CeremonyError(`token "${token.label}" holds no key labelled "${label}"; give --generate TYPE to make one there`);
      // The key's flags and the KEK first: a bad --ops, a KEK that cannot serve or a 403 must stop the ceremony
      // before a key is made in the token.
      const spec = keySpecFromFlags({ ...flags, ...(source ? sourceKty(source) : choiceKty(generate!)) });
      const { kek, created } = await ensureKek(keys, kekName, kekSize);
      console.log(`${created ? 'created' : 'using'} KEK ${kek.id} (RSA-HSM, key_ops import)`);
      if (!source) {
        source = token.generate(label, generate as (typeof SOURCE_KEY_CHOICES)[number]);
        console.log(`generated ${generate} "${label}" in token ${token.label} (serial ${token.serial})`);
      }
      const ciphertext = token.wrapForKek({ n: Buffer.from(kek.key!.n!), e: Buffer.from(kek.key!.e!) }, source);
      const byok = byokFileOf(kek, ciphertext, `hsmctl byok; PKCS#11 token ${token.label} (serial ${token.serial})`);
      writeFileAtomic(out, JSON.stringify(byok, null, 2), 0o600);
      console.log(`wrapped "${label}" in the token for the KEK; wrote ${out} (0600)`);
      const imported = await importByok(keys, name, byok, spec);
      const pub = token.publicOf(source);
      if (pub && !samePublicKey(imported, pub)) throw new CeremonyError(`the HSM imported ${imported.id}, but its public key is not the token's "${label}": do not use it; delete it with the key's owner`);
      report(flags, imported, `imported ${imported.id}${pub ? ': its public key is the token\'s' : ''}`);
      return 0;
    } finally {
      token.close();
    }
  },
};

/** The Managed HSM type of the key --generate will make. */
function choiceKty(choice: string): ParsedFlags {
  const [family, size] = choice.split('-');
  if (family === 'RSA') return { kty: 'RSA-HSM', size, curve: undefined };
  if (family === 'EC') return { kty: 'EC-HSM', curve: `P-${size.slice(1)}`, size: undefined };
  return { kty: 'oct-HSM', size, curve: undefined };
}

function sourceKty(source: SourceKey): ParsedFlags {
  if (source.type === 'RSA') return { kty: 'RSA-HSM', size: String(source.bits), curve: undefined };
  if (source.type === 'EC') return { kty: 'EC-HSM', curve: source.curve, size: undefined };
  return { kty: 'oct-HSM', size: String(source.bits), curve: undefined };
}

function report(flags: ParsedFlags, imported: import('@azure/keyvault-keys').KeyVaultKey, line: string): void {
  if (flags.json) console.log(JSON.stringify(describeKey(imported), null, 2));
  else console.log(line);
}
