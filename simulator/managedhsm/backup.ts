import { randomBytes } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { errors } from '../http/errors';
import { KeyService, DOMAIN_KEY_ID } from './keys';
import { KeyRecord, VersionRecord } from './model';
import { isTokenRefusal } from './crypto-ops';
import { usageFor } from './key-material';

const KEY_MAGIC = 'mhsm-sim-key-backup-1';

/** One key as backups carry it: its record and every version's key material wrapped under the domain key. */
export interface SealedKey {
  key: KeyRecord;
  versions: Array<{ rec: VersionRecord; wrapped: string }>;
}

/** The security domain id of the HSM a KeyService belongs to (registered by ManagedHsmInstance). */
const domains = new WeakMap<KeyService, () => string | undefined>();
export function registerDomain(keys: KeyService, domainId: () => string | undefined): void {
  domains.set(keys, domainId);
}
function domainOf(keys: KeyService): string | undefined {
  return domains.get(keys)?.();
}

/**
 * Seals a JSON value with AES-GCM under the HSM's domain key inside the token (the kind is the AAD). Only an HSM
 * holding the same security domain, hence the same domain key, can open it. The domain id travels in clear so
 * that a refusal can say which domain a blob belongs to.
 */
export async function seal(keys: KeyService, kind: string, value: unknown): Promise<Buffer> {
  const iv = randomBytes(12);
  const ct = await keys.token.encrypt(DOMAIN_KEY_ID, gcm(iv, kind), Buffer.from(JSON.stringify(value)));
  return Buffer.from(JSON.stringify({ kind, domain: domainOf(keys), iv: iv.toString('base64url'), ct: ct.toString('base64url') }));
}

/** Opens a sealed blob; a blob of another domain or a corrupt one is a BadParameter naming the reason. */
export async function unseal<T>(keys: KeyService, kind: string, blob: Buffer, what = 'Backup blob', corruptMessage?: string): Promise<T> {
  const bad = (why: string) => errors.badParameter(`${what} could not be restored: ${why}. Nothing was changed.`);
  const corrupt = (why: string) => (corruptMessage ? errors.badParameter(corruptMessage) : bad(why));
  let outer: { kind?: unknown; domain?: unknown; iv?: unknown; ct?: unknown };
  try {
    outer = JSON.parse(blob.toString('utf8'));
  } catch {
    throw corrupt('it is corrupt (not JSON)');
  }
  if (outer?.kind !== kind || typeof outer.iv !== 'string' || typeof outer.ct !== 'string') throw corrupt('it is corrupt or of another kind');
  const mine = domainOf(keys);
  if (typeof outer.domain === 'string' && mine && outer.domain !== mine) {
    throw bad(`it was made by an HSM holding security domain ${outer.domain.slice(0, 40)}, and this HSM holds ${mine}; only an HSM with the same security domain can restore it`);
  }
  try {
    const pt = await keys.token.decrypt(DOMAIN_KEY_ID, gcm(Buffer.from(outer.iv, 'base64url'), kind), Buffer.from(outer.ct, 'base64url'));
    return JSON.parse(pt.toString('utf8')) as T;
  } catch (err) {
    if (err instanceof SyntaxError || isTokenRefusal(err)) throw corrupt('it is corrupt, or it was made by an HSM with another security domain');
    throw err;
  }
}

/** Every version of a key, wrapped (AES-KWP) under the domain key inside the token. */
export async function sealedKey(keys: KeyService, k: KeyRecord): Promise<SealedKey> {
  const sealed: SealedKey = { key: { name: k.name, versions: k.versions, rotationPolicy: k.rotationPolicy, ...(k.deleted ? { deleted: k.deleted } : {}) }, versions: [] };
  for (const v of k.versions) {
    const rec = keys.versionRecord(v);
    if (!rec) continue;
    sealed.versions.push({ rec, wrapped: (await keys.wrapForBackup(v)).toString('base64url') });
  }
  sealed.key.versions = sealed.versions.map((x) => x.rec.version);
  return sealed;
}

/**
 * Puts a sealed key's versions into the token (those not already there: the same version id is the same key).
 * Returns the ids it created; on failure it removes them again.
 */
export async function materialize(keys: KeyService, sealed: SealedKey): Promise<string[]> {
  const created: string[] = [];
  try {
    for (const { rec, wrapped } of sealed.versions) {
      if (keys.token.has(rec.version)) continue;
      const kind = rec.kty === 'oct' ? ({ cls: 'secret' } as const) : ({ cls: 'private', keyType: rec.kty } as const);
      const label = `${sealed.key.name}/${rec.version}`;
      created.push(rec.version);
      await keys.token.unwrapKey(DOMAIN_KEY_ID, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, Buffer.from(wrapped, 'base64url'), rec.version, label, kind, usageFor(rec.kty));
      if (rec.pub) {
        const p = rec.pub;
        await keys.token.addPublic(rec.version, label, 'n' in p ? { n: Buffer.from(p.n, 'base64url'), e: Buffer.from(p.e, 'base64url') } : { curve: p.crv, point: Buffer.concat([Buffer.from([4]), Buffer.from(p.x, 'base64url'), Buffer.from(p.y, 'base64url')]) });
      }
    }
  } catch (err) {
    for (const id of created) await keys.token.destroy(id);
    throw err;
  }
  return created;
}

/**
 * Single-key backup blob (POST /keys/{name}/backup): the key's versions wrapped under the domain key, the whole
 * sealed under it too. Only an HSM holding the same security domain can restore the blob.
 */
export async function backupKey(keys: KeyService, name: string): Promise<Buffer> {
  const k = keys.record(name);
  if (!k || k.deleted) throw errors.keyNotFound(`A key with (name/id) ${name} was not found in this key vault.`);
  const s = await sealedKey(keys, k);
  delete s.key.deleted;
  return seal(keys, KEY_MAGIC, s);
}

export async function restoreKey(keys: KeyService, blob: Buffer): Promise<VersionRecord> {
  // The service's words for a blob it cannot read (Key Vault and Managed HSM alike, per the SDKs' tests).
  const sealed = await unseal<SealedKey>(keys, KEY_MAGIC, blob, 'Backup blob', 'Backup blob contains invalid or corrupt version.');
  return restoreSealedKey(keys, sealed);
}

/** Restores one key that must not exist (live or soft-deleted) in this HSM. */
export async function restoreSealedKey(keys: KeyService, sealed: SealedKey): Promise<VersionRecord> {
  const name = sealed.key.name;
  return keys.lock.run(name.toLowerCase(), async () => {
    if (keys.record(name)) throw errors.conflict(`Key ${name} already exists (live or soft-deleted); restore refuses to overwrite it.`);
    for (const { rec } of sealed.versions) if (keys.versionRecord(rec.version)) throw errors.conflict(`Key version ${rec.version} already exists in this HSM.`);
    const created = await materialize(keys, sealed);
    try {
      await keys.commitRestored({ name, versions: sealed.key.versions, rotationPolicy: sealed.key.rotationPolicy }, sealed.versions.map((x) => x.rec));
    } catch (err) {
      for (const id of created) await keys.token.destroy(id);
      throw err;
    }
    return keys.get(name);
  });
}

function gcm(iv: Buffer, kind: string): pkcs11js.Mechanism {
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad: Buffer.from(kind), ivBits: 96, tagBits: 128 } as pkcs11js.AesGCM };
}
