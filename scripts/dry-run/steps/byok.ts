import * as path from 'path';
import { KeyObject, constants, createCipheriv, createHash, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes, verify as nodeVerify } from 'crypto';
import { CryptographyClient } from '@azure/keyvault-keys';
import { byokFileOf, ensureKek, importByok, samePublicKey } from '../../ceremonies/byok';
import { writePrivateFile } from '../../../files/private-files';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf, primaryManagedHsms } from '../hsm-clients';
import { PartitionSession } from '../ntls-from-bundle';
import { lunaSecrets } from '../luna-secrets';
import { LunaClient, lunaDir } from './luna';

const KEK = 'byok-kek';
const IMPORTED = 'byok-imported';
/** CipherTrust Manager's root-of-trust key pair in its Luna partition. */
const ROOT_OF_TRUST = 'ctm-root-of-trust';

/**
 * Step 7: Bring Your Own Key (seeds 001 and 003) as CipherTrust Manager does it with its Luna partition as root
 * of trust. CipherTrust's keystore key is sealed by an RSA key pair that lives in the partition (RSA-OAEP
 * inside the partition, through PKCS#11 over NTLS with the CipherTrust client's bundle, logged in as the Crypto
 * Officer); CipherTrust generates the target key, keeps it sealed under that keystore key, and wraps it for the
 * Managed HSM's KEK (RSA-HSM, key_ops import) with CKM_RSA_AES_KEY_WRAP; the .byok file is written, imported,
 * and proven: the imported key signs what the target's public key verifies.
 *
 * The wrap is CipherTrust's, not the partition's: p11-kit 0.24's RPC carries no AES key wrap (README of
 * simulator/luna), so CKM_RSA_AES_KEY_WRAP cannot run inside a partition reached through p11-kit.
 */
export function byokStep(ctx: DryRunContext): Step {
  return {
    name: 'BYOK: a CipherTrust key (Luna partition as root of trust) into the Managed HSM',
    async run({ say, skip }) {
      const hsm = primaryManagedHsms(ctx)[0];
      const source = ((ctx.facts.lunaClients ?? []) as LunaClient[]).find((c) => c.role === 'ciphertrust') ?? (ctx.facts.lunaClients as LunaClient[] | undefined)?.[0];
      if (!hsm || !source) return skip(!hsm ? 'no Managed HSM' : 'no Luna partition with a registered client to stand in for the source HSM');
      const { keys, keyClientOptions } = hsmClients(ctx, hsmUriOf(ctx, hsm.name));
      const existing = await keys.getKey(IMPORTED).catch(() => undefined);
      if (existing) {
        say(`${hsm.name}: ${IMPORTED} was imported by an earlier run; checking it still signs`);
        await keySigns(existing.id!, ctx, keyClientOptions);
        return { imported: existing.id, earlierRun: true };
      }

      // The KEK, the .byok file and the import are hsmctl byok's own (scripts/ceremonies/byok.ts).
      const { kek } = await ensureKek(keys, KEK, 4096);
      const kekPub = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(kek.key!.n!).toString('base64url'), e: Buffer.from(kek.key!.e!).toString('base64url') }, format: 'jwk' });
      say(`KEK ${kek.id} (RSA-${Buffer.from(kek.key!.n!).length * 8}, key_ops import)`);

      // CipherTrust's keystore: its key sealed by the root-of-trust key pair in the Luna partition.
      const dir = path.join(ctx.stateDir, 'ceremonies', hsm.name, 'byok');
      const { co } = lunaSecrets(lunaDir(ctx, source.hsm));
      const partition = await PartitionSession.open(source, co);
      let target: { privateKey: KeyObject; publicKey: KeyObject };
      try {
        const root = partition.ensureRsaKeyPair(ROOT_OF_TRUST);
        const keystoreKey = randomBytes(32);
        const sealed = partition.encrypt(ROOT_OF_TRUST, keystoreKey);
        if (!partition.decrypt(ROOT_OF_TRUST, sealed).equals(keystoreKey)) throw new Error(`the partition ${source.partition} does not unseal what it sealed`);
        target = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const iv = randomBytes(12);
        const gcm = createCipheriv('aes-256-gcm', keystoreKey, iv);
        const body = Buffer.concat([gcm.update(target.privateKey.export({ type: 'pkcs8', format: 'der' })), gcm.final()]);
        writePrivateFile(path.join(dir, `${IMPORTED}.keystore.json`), JSON.stringify({ sealedKey: sealed.toString('base64'), iv: iv.toString('base64'), tag: gcm.getAuthTag().toString('base64'), body: body.toString('base64') }));
        say(`CipherTrust keystore sealed by ${ROOT_OF_TRUST} in partition ${partition.token} (PKCS#11 over NTLS${root.created ? ', key pair generated now' : ''}); target RSA-2048 generated and kept there`);
      } finally {
        partition.close();
      }

      // CKM_RSA_AES_KEY_WRAP: an ephemeral AES-256 key under RSA-OAEP (SHA-1) to the KEK, the target's PKCS#8 under AES-KWP (RFC 5649).
      const ephemeral = randomBytes(32);
      const wrappedAes = publicEncrypt({ key: kekPub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, ephemeral);
      const kwp = createCipheriv('id-aes256-wrap-pad', ephemeral, Buffer.from('A65959A6', 'hex'));
      const wrappedTarget = Buffer.concat([kwp.update(target.privateKey.export({ type: 'pkcs8', format: 'der' })), kwp.final()]);
      ephemeral.fill(0);
      const byok = byokFileOf(kek, Buffer.concat([wrappedAes, wrappedTarget]), `azure-hsm-cdktf dry-run; CipherTrust with Luna partition ${source.partition} as root of trust`);
      const byokFile = path.join(dir, `${IMPORTED}.byok`);
      writePrivateFile(byokFile, JSON.stringify(byok));
      say(`wrote ${byokFile}`);

      const targetPem = target.publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const imported = await importByok(keys, IMPORTED, byok, { kty: 'RSA-HSM', keyOps: ['sign', 'verify'] });
      const jwk = target.publicKey.export({ format: 'jwk' });
      if (!samePublicKey(imported, { kty: 'RSA', n: Buffer.from(jwk.n!, 'base64url'), e: Buffer.from(jwk.e!, 'base64url') })) throw new Error('the imported key is not the one CipherTrust generated');
      await keySigns(imported.id!, ctx, keyClientOptions, targetPem);
      say(`imported ${imported.id}: same modulus as CipherTrust's key; it signs what that key's public half verifies`);
      return { kek: kek.id, imported: imported.id, byokFile, partition: source.partition };
    },
  };
}

/** The key signs a fresh digest in the HSM; the signature verifies with `publicKeyPem` (or the key's own JWK). */
async function keySigns(keyId: string, ctx: DryRunContext, options: unknown, publicKeyPem?: string): Promise<void> {
  const message = Buffer.from(`dry-run ${new Date().toISOString()}`);
  const cc = new CryptographyClient(keyId, ctx.operator!.credential, options as never);
  const sig = Buffer.from((await cc.sign('RS256', createHash('sha256').update(message).digest())).result);
  const ok = publicKeyPem ? nodeVerify('sha256', message, publicKeyPem, sig) : (await cc.verify('RS256', createHash('sha256').update(message).digest(), sig)).result;
  if (!ok) throw new Error(`${keyId}: its signature does not verify`);
}
