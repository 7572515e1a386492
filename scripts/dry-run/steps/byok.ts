import * as path from 'path';
import { createHash, createPublicKey, verify as nodeVerify } from 'crypto';
import { CryptographyClient } from '@azure/keyvault-keys';
import { writePrivateFile } from '../../../simulator/fsutil';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf, primaryManagedHsms } from '../hsm-clients';
import { openPartition } from '../ntls-from-bundle';
import type { LunaClient } from './luna';

const KEK = 'byok-kek';
const IMPORTED = 'byok-imported';

/**
 * Step 7: Bring Your Own Key (seed 003) with a Luna partition standing in for the source HSM. A KEK (RSA-HSM,
 * key_ops import) in the Managed HSM; the target key generated in the partition; wrapped for the KEK as
 * CKM_RSA_AES_KEY_WRAP does it, composed inside the partition (an ephemeral AES key wrapped with RSA-OAEP
 * SHA-1 to the KEK, the target's PKCS#8 wrapped with AES-KWP under it); the .byok file written; imported;
 * and proven: the imported key signs what the partition's public key verifies.
 */
export function byokStep(ctx: DryRunContext): Step {
  return {
    name: 'BYOK: a Luna-generated key into the Managed HSM',
    async run({ say }) {
      const hsm = primaryManagedHsms(ctx)[0];
      const source = ((ctx.facts.lunaClients ?? []) as LunaClient[]).find((c) => c.role === 'ciphertrust') ?? (ctx.facts.lunaClients as LunaClient[] | undefined)?.[0];
      if (!hsm || !source) {
        say(`skipped: ${!hsm ? 'no Managed HSM' : 'no Luna partition with a registered client to stand in for the source HSM'}`);
        return { skipped: true };
      }
      const { keys, keyClientOptions } = hsmClients(ctx, hsmUriOf(ctx, hsm.name));
      const existing = await keys.getKey(IMPORTED).catch(() => undefined);
      if (existing) {
        say(`${hsm.name}: ${IMPORTED} was imported by an earlier run; checking it still signs`);
        await keySigns(existing.id!, ctx, keyClientOptions);
        return { imported: existing.id, earlierRun: true };
      }

      let kek = await keys.getKey(KEK).catch(() => undefined);
      if (!kek) kek = await keys.createRsaKey(KEK, { hsm: true, keySize: 4096, keyOps: ['import'] });
      if (kek.keyOperations?.length !== 1 || kek.keyOperations[0] !== 'import') throw new Error(`${KEK} must be an RSA-HSM key whose key_ops is only ["import"]; it has ${kek.keyOperations?.join(', ')}`);
      const kekPem = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(kek.key!.n!).toString('base64url'), e: Buffer.from(kek.key!.e!).toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      say(`KEK ${kek.id} (RSA-${Buffer.from(kek.key!.n!).length * 8}, key_ops import)`);

      const { ntls, session, serial } = await openPartition(source);
      let target: { id: string; publicKeyPem: string };
      let ciphertext: Buffer;
      try {
        target = await ntls.request('generate', { session, type: 'RSA', bits: 2048, label: `${IMPORTED}-source` });
        const aes = await ntls.request<{ id: string }>('generate', { session, type: 'AES', bits: 256, label: 'byok-ephemeral' });
        try {
          const wrappedAes = await ntls.request<{ wrapped: string }>('wrap', { session, wrappingPublicKeyPem: kekPem, key: aes.id });
          const wrappedTarget = await ntls.request<{ wrapped: string }>('wrap', { session, wrappingKey: aes.id, key: target.id });
          ciphertext = Buffer.concat([Buffer.from(wrappedAes.wrapped, 'base64'), Buffer.from(wrappedTarget.wrapped, 'base64')]);
        } finally {
          await ntls.request('destroy', { session, key: aes.id });
        }
      } finally {
        ntls.close();
      }
      say(`target RSA-2048 generated in partition ${source.partition} (serial ${serial}) and wrapped there for the KEK`);

      const byok = {
        schema_version: '1.0.0',
        header: { kid: kek.id, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' },
        ciphertext: ciphertext.toString('base64url'),
        generator: `azure-hsm-cdktf dry-run; Luna partition ${source.partition} (serial ${serial})`,
      };
      const byokFile = path.join(ctx.stateDir, 'ceremonies', hsm.name, 'byok', `${IMPORTED}.byok`);
      writePrivateFile(byokFile, JSON.stringify(byok));
      say(`wrote ${byokFile}`);

      const imported = await keys.importKey(IMPORTED, { kty: 'RSA-HSM', t: Buffer.from(JSON.stringify(byok)), keyOps: ['sign', 'verify'] }, { hardwareProtected: true });
      const sameKey = Buffer.from(imported.key!.n!).equals(Buffer.from(createPublicKey(target.publicKeyPem).export({ format: 'jwk' }).n as string, 'base64url'));
      if (!sameKey) throw new Error('the imported key is not the one generated in the partition');
      await keySigns(imported.id!, ctx, keyClientOptions, target.publicKeyPem);
      say(`imported ${imported.id}: same modulus as the partition's key; it signs what the partition's public key verifies`);
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
