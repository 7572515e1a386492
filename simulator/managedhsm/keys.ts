import { randomBytes } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { errors } from '../http/errors';
import { Journal, Op } from '../store/journal';
import { Token } from '../pkcs11/token';
import { KeyedMutex } from '../keyed-mutex';
import { InstanceRecord, KeyAttributes, KeyRecord, Kty, RotationPolicyRecord, VersionRecord, collections } from './model';
import { ecPublic, rsaPublic, usageFor } from './key-material';
import { durationDays } from './durations';
import { SimulatorClock } from '../clock';
import { checkExportable } from './release-policy';

/**
 * Token ids the key service does not own: the security domain's key (backups are sealed with it; imported when
 * the HSM gets its domain, see security-domain.ts) and the recovery exchange key.
 */
export const DOMAIN_KEY_ID = 'd0'.repeat(16);
export const EXCHANGE_KEY_ID = 'e0'.repeat(16);
const RESERVED_IDS = new Set([DOMAIN_KEY_ID, EXCHANGE_KEY_ID]);

export interface KeySpec {
  kty: Kty;
  size?: number;
  crv?: string;
  publicExponent?: number;
  keyOps: string[];
  attributes: { enabled?: boolean; nbf?: number; exp?: number; exportable?: boolean; releasePolicy?: VersionRecord['releasePolicy'] };
  tags: Record<string, string>;
}

/** The release policy creation attributes carry, as a VersionRecord field (absent for other keys). */
function releasePolicyOf(a: KeySpec['attributes']): Pick<VersionRecord, 'releasePolicy'> {
  return a.releasePolicy ? { releasePolicy: a.releasePolicy } : {};
}

export interface Deleted {
  key: KeyRecord;
  latest: VersionRecord;
}

/**
 * Key lifecycle of one Managed HSM: versions, attributes, soft delete, recovery, purge, rotation. Ordering rule
 * for crash safety: token objects are created before the metadata that names them and destroyed after it is
 * gone, so a crash leaves at most orphan token objects, which reconcile() removes at the next start.
 */
export class KeyService {
  readonly lock = new KeyedMutex();

  constructor(
    private readonly store: Journal,
    readonly token: Token,
    private readonly instance: () => InstanceRecord,
    /** Simulator time: attribute dates, soft-delete retention and purge protection read it. */
    readonly clock: SimulatorClock = SimulatorClock.wall(),
  ) {}

  /** Now in seconds, simulator time. */
  now(): number {
    return this.clock.nowSeconds();
  }

  private get hsm(): string {
    return this.instance().name;
  }

  private get kc(): string {
    return collections.keys(this.hsm);
  }

  private get vc(): string {
    return collections.versions(this.hsm);
  }

  /** Makes token and metadata agree after a start: drops orphan objects and versions whose objects are gone. */
  async reconcile(log: (m: string) => void): Promise<void> {
    const versions = new Set(this.store.list<VersionRecord>(this.vc).map((v) => v.version));
    if (this.token.tornObjects > 0) log(`${this.hsm}: discarded ${this.token.tornObjects} unreadable token object(s) left by a crash mid-write`);
    for (const id of this.token.ids()) {
      if (!RESERVED_IDS.has(id) && !versions.has(id)) {
        log(`${this.hsm}: removing token object ${id} that no metadata names (an interrupted create or purge)`);
        await this.token.destroy(id);
      }
    }
    const ops: Op[] = [];
    for (const [id, k] of this.store.entries<KeyRecord>(this.kc)) {
      const alive = k.versions.filter((v) => this.token.has(v));
      if (alive.length === k.versions.length) continue;
      log(`${this.hsm}: key ${k.name} lost ${k.versions.length - alive.length} version(s) whose token objects are missing`);
      for (const v of k.versions.filter((x) => !alive.includes(x))) ops.push({ c: this.vc, id: v });
      ops.push({ c: this.kc, id, v: alive.length ? { ...k, versions: alive } : undefined });
    }
    if (ops.length) await this.store.commit(ops);
    await this.sweepDeleted();
  }

  record(name: string): KeyRecord | undefined {
    return this.store.get<KeyRecord>(this.kc, name.toLowerCase());
  }

  versionRecord(version: string): VersionRecord | undefined {
    return this.store.get<VersionRecord>(this.vc, version);
  }

  /** A live (not deleted) key's version; '' means the latest. */
  get(name: string, version = ''): VersionRecord {
    const k = this.record(name);
    if (!k || k.deleted) throw errors.keyNotFound(`A key with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`);
    const v = version === '' ? k.versions[k.versions.length - 1] : k.versions.find((x) => x === version);
    const rec = v ? this.versionRecord(v) : undefined;
    if (!rec) throw errors.keyNotFound(`A key with (name/id) ${name}/${version} was not found in this key vault.`);
    return rec;
  }

  list(): VersionRecord[] {
    return this.store
      .list<KeyRecord>(this.kc)
      .filter((k) => !k.deleted)
      .map((k) => this.versionRecord(k.versions[k.versions.length - 1])!)
      .filter(Boolean)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The versions of a live key; none for a name that is not a live key. */
  versionsOrNone(name: string): VersionRecord[] {
    const k = this.record(name);
    return !k || k.deleted ? [] : this.versions(name);
  }

  versions(name: string): VersionRecord[] {
    const k = this.record(name);
    if (!k || k.deleted) throw errors.keyNotFound(`A key with (name/id) ${name} was not found in this key vault.`);
    return k.versions.map((v) => this.versionRecord(v)!).filter(Boolean);
  }

  private newAttributes(a: KeySpec['attributes']): KeyAttributes {
    const now = this.now();
    return { enabled: a.enabled ?? true, nbf: a.nbf, exp: a.exp, created: now, updated: now, exportable: a.exportable ?? false };
  }

  /** Refuses a name that is taken, live or soft-deleted, as the service does. */
  private checkNameFree(name: string): void {
    const k = this.record(name);
    if (!k) return;
    if (k.deleted) {
      throw errors.conflict(`Key ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the key can only be recovered or purged.`);
    }
  }

  /** Creates a key, or a new version of an existing live key (create on an existing name adds a version). */
  async create(name: string, spec: KeySpec): Promise<VersionRecord> {
    return this.lock.run(name.toLowerCase(), async () => {
      this.checkNameFree(name);
      const version = randomBytes(16).toString('hex');
      const label = `${name}/${version}`;
      const rec: VersionRecord = { name, version, kty: spec.kty, keyOps: spec.keyOps, attributes: this.newAttributes(spec.attributes), tags: spec.tags, ...releasePolicyOf(spec.attributes) };
      if (spec.kty === 'RSA') {
        const e = Buffer.alloc(4);
        e.writeUInt32BE(spec.publicExponent ?? 65537);
        const pub = await this.token.generateRsa(version, label, spec.size!, e, usageFor('RSA'));
        rec.pub = rsaPublic(pub.n, pub.e);
        rec.size = spec.size;
      } else if (spec.kty === 'EC') {
        rec.pub = ecPublic(spec.crv!, await this.token.generateEc(version, label, spec.crv!, usageFor('EC')));
        rec.crv = spec.crv;
      } else {
        await this.token.generateAes(version, label, spec.size!, usageFor('oct'));
        rec.size = spec.size;
      }
      return this.commitVersion(name, rec);
    });
  }

  /** Records a version whose token objects exist; on failure the objects are removed again. */
  async commitVersion(name: string, rec: VersionRecord): Promise<VersionRecord> {
    const existing = this.record(name);
    const key: KeyRecord = existing ? { ...existing, versions: [...existing.versions, rec.version] } : { name, versions: [rec.version] };
    try {
      await this.store.commit([
        { c: this.vc, id: rec.version, v: rec },
        { c: this.kc, id: name.toLowerCase(), v: key },
      ]);
    } catch (err) {
      await this.token.destroy(rec.version);
      throw err;
    }
    return rec;
  }

  /** Runs fn (which puts objects under a fresh version id into the token) and records the version. */
  async addVersion(name: string, build: (version: string, label: string) => Promise<Omit<VersionRecord, 'name' | 'version' | 'attributes'>>, attrs: KeySpec['attributes']): Promise<VersionRecord> {
    return this.lock.run(name.toLowerCase(), async () => {
      this.checkNameFree(name);
      const version = randomBytes(16).toString('hex');
      let body: Omit<VersionRecord, 'name' | 'version' | 'attributes'>;
      try {
        body = await build(version, `${name}/${version}`);
      } catch (err) {
        await this.token.destroy(version);
        throw err;
      }
      return this.commitVersion(name, { ...body, name, version, attributes: this.newAttributes(attrs), ...releasePolicyOf(attrs) });
    });
  }

  async update(name: string, version: string, patch: { keyOps?: string[]; attributes?: { enabled?: boolean; nbf?: number | null; exp?: number | null }; tags?: Record<string, string>; releasePolicy?: VersionRecord['releasePolicy'] }): Promise<VersionRecord> {
    return this.lock.run(name.toLowerCase(), async () => {
      const cur = this.get(name, version);
      // Checked here, under the lock: a check before it could pass for two updates at once, the second then
      // replacing the policy the first had just made immutable.
      if (patch.releasePolicy) {
        checkExportable(cur.attributes.exportable, patch.releasePolicy);
        if (cur.releasePolicy?.immutable) throw errors.badParameter('The key release policy is immutable and cannot be changed.');
      }
      const a = patch.attributes ?? {};
      const next: VersionRecord = {
        ...cur,
        keyOps: patch.keyOps ?? cur.keyOps,
        tags: patch.tags ?? cur.tags,
        ...(patch.releasePolicy ? { releasePolicy: patch.releasePolicy } : {}),
        attributes: {
          ...cur.attributes,
          enabled: a.enabled ?? cur.attributes.enabled,
          nbf: a.nbf === undefined ? cur.attributes.nbf : (a.nbf ?? undefined),
          exp: a.exp === undefined ? cur.attributes.exp : (a.exp ?? undefined),
          updated: this.now(),
        },
      };
      await this.store.commit([{ c: this.vc, id: cur.version, v: next }]);
      return next;
    });
  }

  async delete(name: string): Promise<Deleted> {
    return this.lock.run(name.toLowerCase(), async () => {
      const latest = this.get(name);
      const k = this.record(name)!;
      const now = this.now();
      const key: KeyRecord = { ...k, deleted: { deletedDate: now, scheduledPurgeDate: now + this.instance().softDeleteRetentionDays * 86400 } };
      await this.store.commit([{ c: this.kc, id: name.toLowerCase(), v: key }]);
      return { key, latest };
    });
  }

  getDeleted(name: string): Deleted {
    const k = this.record(name);
    if (!k || !k.deleted) throw errors.keyNotFound(`Deleted Key not found: ${name}`);
    return { key: k, latest: this.versionRecord(k.versions[k.versions.length - 1])! };
  }

  listDeleted(): Deleted[] {
    return this.store
      .list<KeyRecord>(this.kc)
      .filter((k) => k.deleted)
      .map((k) => ({ key: k, latest: this.versionRecord(k.versions[k.versions.length - 1])! }))
      .sort((a, b) => a.key.name.localeCompare(b.key.name));
  }

  async recover(name: string): Promise<VersionRecord> {
    return this.lock.run(name.toLowerCase(), async () => {
      const { key } = this.getDeleted(name);
      const { deleted: _gone, ...live } = key;
      await this.store.commit([{ c: this.kc, id: name.toLowerCase(), v: live }]);
      return this.get(name);
    });
  }

  /** Purges a soft-deleted key; refused while purge protection holds it (until its scheduled purge date). */
  async purge(name: string, force = false): Promise<void> {
    return this.lock.run(name.toLowerCase(), async () => {
      const { key } = this.getDeleted(name);
      if (!force && this.instance().purgeProtection && this.now() < key.deleted!.scheduledPurgeDate) {
        throw errors.forbidden(
          `Operation "purge" is not allowed because purge protection is enabled for this HSM. The key will be purged automatically after its retention period (scheduled ${new Date(key.deleted!.scheduledPurgeDate * 1000).toISOString()}).`,
          'PurgeProtectionEnabled',
        );
      }
      await this.store.commit([{ c: this.kc, id: name.toLowerCase() }, ...key.versions.map((v) => ({ c: this.vc, id: v }))]);
      for (const v of key.versions) await this.token.destroy(v);
    });
  }

  /** Purges soft-deleted keys whose retention has ended (the service does this on its own schedule). */
  async sweepDeleted(): Promise<void> {
    const now = this.now();
    for (const d of this.listDeleted()) if (d.key.deleted!.scheduledPurgeDate <= now) await this.purge(d.key.name, true).catch(() => undefined);
  }

  /**
   * Rotates the live keys whose rotation policy's Rotate action is due by simulator time: timeAfterCreate after the
   * latest version's creation, or timeBeforeExpiry before its expiry. One rotation per key per call (the new version
   * restarts the count). Notify actions have nowhere to go here (no Event Grid) and are not run.
   */
  async rotateDue(): Promise<string[]> {
    const now = this.now();
    const rotated: string[] = [];
    for (const k of this.store.list<KeyRecord>(this.kc)) {
      const action = k.rotationPolicy?.lifetimeActions.find((a) => a.action.type === 'Rotate');
      if (k.deleted || !action) continue;
      const latest = this.versionRecord(k.versions[k.versions.length - 1]);
      if (!latest) continue;
      const { timeAfterCreate, timeBeforeExpiry } = action.trigger;
      const days = durationDays((timeAfterCreate ?? timeBeforeExpiry)!);
      if (days === undefined) continue;
      const due = timeAfterCreate !== undefined ? latest.attributes.created + days * 86400 : latest.attributes.exp !== undefined ? latest.attributes.exp - days * 86400 : undefined;
      if (due === undefined || now < due) continue;
      await this.rotate(k.name);
      rotated.push(k.name);
    }
    return rotated;
  }

  async rotate(name: string): Promise<VersionRecord> {
    const cur = this.get(name);
    const k = this.record(name)!;
    const expiryDays = k.rotationPolicy?.expiryTime ? durationDays(k.rotationPolicy.expiryTime) : undefined;
    const exp = expiryDays ? this.now() + Math.round(expiryDays * 86400) : undefined;
    return this.create(cur.name, { kty: cur.kty, size: cur.size, crv: cur.crv, keyOps: cur.keyOps, attributes: { exportable: cur.attributes.exportable, exp, releasePolicy: cur.releasePolicy }, tags: cur.tags });
  }

  getPolicy(name: string): RotationPolicyRecord | undefined {
    this.get(name);
    return this.record(name)!.rotationPolicy;
  }

  async putPolicy(name: string, p: Omit<RotationPolicyRecord, 'created' | 'updated'>): Promise<RotationPolicyRecord> {
    return this.lock.run(name.toLowerCase(), async () => {
      this.get(name);
      const k = this.record(name)!;
      const now = this.now();
      const policy: RotationPolicyRecord = { ...p, created: k.rotationPolicy?.created ?? now, updated: now };
      await this.store.commit([{ c: this.kc, id: name.toLowerCase(), v: { ...k, rotationPolicy: policy } }]);
      return policy;
    });
  }

  /** Records a restored key whose token objects the caller has just created (the caller holds the name lock). */
  async commitRestored(key: KeyRecord, versions: VersionRecord[]): Promise<void> {
    await this.store.commit([
      ...versions.map((v) => ({ c: this.vc, id: v.version, v })),
      { c: this.kc, id: key.name.toLowerCase(), v: { name: key.name, versions: key.versions, rotationPolicy: key.rotationPolicy } },
    ]);
  }

  /** Domain key AES-KWP, used by backup/restore: wraps a version's private or secret key inside the token. */
  wrapForBackup(version: string): Promise<Buffer> {
    return this.token.wrapKey(DOMAIN_KEY_ID, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, version);
  }
}
