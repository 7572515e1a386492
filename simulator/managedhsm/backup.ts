import { randomBytes } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { errors } from '../http/errors';
import { KeyService, DOMAIN_KEY_ID } from './keys';
import { KeyRecord, VersionRecord } from './model';
import { isTokenRefusal } from './crypto-ops';
import { usageFor } from './key-material';

const MAGIC = 'mhsm-sim-key-backup-1';
const AAD = Buffer.from(MAGIC);

interface Sealed {
  key: KeyRecord;
  versions: Array<{ rec: VersionRecord; wrapped: string }>;
}

/**
 * Single-key backup blobs. Every version's private or secret key is wrapped (AES-KWP) under the instance's
 * domain key inside the token, and the whole record is sealed with AES-GCM under the same key, also inside the
 * token. Only an HSM holding the same domain key (the same security domain) can restore the blob.
 */
export async function backupKey(keys: KeyService, name: string): Promise<Buffer> {
  const k = keys.record(name);
  if (!k || k.deleted) throw errors.keyNotFound(`A key with (name/id) ${name} was not found in this key vault.`);
  const sealed: Sealed = { key: { name: k.name, versions: k.versions, rotationPolicy: k.rotationPolicy }, versions: [] };
  for (const v of k.versions) {
    const rec = keys.versionRecord(v)!;
    sealed.versions.push({ rec, wrapped: (await keys.wrapForBackup(v)).toString('base64url') });
  }
  const iv = randomBytes(12);
  const ct = await keys.token.encrypt(DOMAIN_KEY_ID, gcm(iv), Buffer.from(JSON.stringify(sealed)));
  return Buffer.from(JSON.stringify({ kind: MAGIC, iv: iv.toString('base64url'), ct: ct.toString('base64url') }));
}

export async function restoreKey(keys: KeyService, blob: Buffer): Promise<VersionRecord> {
  const bad = () => errors.badParameter('Backup blob could not be restored: it is corrupt, or it was made by an HSM with another security domain.');
  let outer: { kind?: unknown; iv?: unknown; ct?: unknown };
  try {
    outer = JSON.parse(blob.toString('utf8'));
  } catch {
    throw bad();
  }
  if (outer?.kind !== MAGIC || typeof outer.iv !== 'string' || typeof outer.ct !== 'string') throw bad();
  let sealed: Sealed;
  try {
    const pt = await keys.token.decrypt(DOMAIN_KEY_ID, gcm(Buffer.from(outer.iv, 'base64url')), Buffer.from(outer.ct, 'base64url'));
    sealed = JSON.parse(pt.toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError || isTokenRefusal(err)) throw bad();
    throw err;
  }
  const name = sealed.key.name;
  return keys.lock.run(name.toLowerCase(), async () => {
    if (keys.record(name)) throw errors.conflict(`Key ${name} already exists (live or soft-deleted); restore refuses to overwrite it.`);
    for (const { rec } of sealed.versions) if (keys.token.has(rec.version)) throw errors.conflict(`Key version ${rec.version} already exists in this HSM.`);
    try {
      for (const { rec, wrapped } of sealed.versions) {
        const kind = rec.kty === 'oct' ? ({ cls: 'secret' } as const) : ({ cls: 'private', keyType: rec.kty } as const);
        const usage = usageFor(rec.kty);
        await keys.token.unwrapKey(DOMAIN_KEY_ID, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, Buffer.from(wrapped, 'base64url'), rec.version, `${name}/${rec.version}`, kind, usage);
        if (rec.pub) {
          const p = rec.pub;
          await keys.token.addPublic(rec.version, `${name}/${rec.version}`, 'n' in p ? { n: Buffer.from(p.n, 'base64url'), e: Buffer.from(p.e, 'base64url') } : { curve: p.crv, point: Buffer.concat([Buffer.from([4]), Buffer.from(p.x, 'base64url'), Buffer.from(p.y, 'base64url')]) });
        }
      }
      await keys.commitRestored(sealed.key, sealed.versions.map((x) => x.rec));
    } catch (err) {
      for (const { rec } of sealed.versions) await keys.token.destroy(rec.version);
      throw err;
    }
    return keys.get(name);
  });
}

function gcm(iv: Buffer): pkcs11js.Mechanism {
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad: AAD, ivBits: 96, tagBits: 128 } as pkcs11js.AesGCM };
}
