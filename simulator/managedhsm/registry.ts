import { Journal } from '../store/journal';
import { Pkcs11Module } from '../pkcs11/module';
import { HttpsListener } from '../http/server';
import { errors } from '../http/errors';
import { Logger } from '../logger';
import { Principals, GUID } from '../identity/principals';
import { InstanceRecord, collections } from './model';
import { ManagedHsmInstance } from './instance';
import { DataPlaneDeps, managedHsmApp } from './app';
import { checkHsmName } from './names';
import { faultPoint } from './faults';
import { SimulatorClock } from '../clock';
import { KeyedMutex } from '../keyed-mutex';

/** What declares a Managed HSM: at start (a JSON file) or at runtime (the ARM plane). */
export interface ManagedHsmSpec {
  name: string;
  /** Object ids that hold Administrator at "/" (initialAdminObjectIds). */
  administrators: string[];
  /** 7-90, default 90. */
  softDeleteRetentionDays?: number;
  /** Default false, as on the service; once on it cannot be turned off. */
  purgeProtection?: boolean;
}

export interface RegistryDeps {
  store: Journal;
  module: Pkcs11Module;
  tls: { key: string; cert: string };
  dataPlane: DataPlaneDeps;
  principals: Principals;
  log: Logger;
  /** Called after the set of instances (or their endpoints) changed, e.g. to rewrite endpoints.json. */
  onChange: () => void;
  sessionsPerToken: number;
  /** The simulator's clock (wall time when absent). */
  clock?: SimulatorClock;
}

/**
 * All Managed HSM instances of the simulator. Each has its own SoftHSM2 token (label "mhsm-<name>") and its own
 * HTTPS port (hsmUri https://127.0.0.1:<port>/), reused across restarts when free. Instances can be added while
 * running; every one stored is reopened at start, except soft-deleted ones: their data plane stays closed (keys,
 * roles and security domain kept) until recovered or purged. A purge destroys the token's objects and every record
 * of the HSM; begun, it is finished at the next start. Create, start, soft delete, recover and purge of one name run
 * one at a time (each checks the stored record, then acts over several awaits): two at once could otherwise open two
 * data planes for one name, one of them never closed, or open one for an HSM being purged.
 */
export class InstanceRegistry {
  private readonly open = new Map<string, { instance: ManagedHsmInstance; listener: HttpsListener }>();
  private readonly lock = new KeyedMutex();
  private readonly clock: SimulatorClock;

  constructor(private readonly deps: RegistryDeps) {
    this.clock = deps.clock ?? SimulatorClock.wall();
  }

  static validate(spec: ManagedHsmSpec): Required<ManagedHsmSpec> {
    if (typeof spec?.name !== 'string') throw errors.badParameter('A Managed HSM needs a name.');
    const why = checkHsmName(spec.name);
    if (why) throw errors.badParameter(why);
    if (!Array.isArray(spec.administrators) || spec.administrators.length === 0 || spec.administrators.some((a) => typeof a !== 'string' || !GUID.test(a))) {
      throw errors.badParameter(`Managed HSM ${spec.name}: administrators must be a non-empty list of object ids (GUIDs).`);
    }
    const days = spec.softDeleteRetentionDays ?? 90;
    if (!Number.isInteger(days) || days < 7 || days > 90) throw errors.badParameter(`Managed HSM ${spec.name}: softDeleteRetentionDays must be an integer from 7 to 90; got ${String(spec.softDeleteRetentionDays)}.`);
    if (spec.purgeProtection !== undefined && typeof spec.purgeProtection !== 'boolean') throw errors.badParameter(`Managed HSM ${spec.name}: purgeProtection must be a boolean.`);
    return { name: spec.name.toLowerCase(), administrators: spec.administrators.map((a) => a.toLowerCase()), softDeleteRetentionDays: days, purgeProtection: spec.purgeProtection ?? false };
  }

  /** Reopens every stored instance (token reconcile, listener); finishes purges a crash interrupted. */
  async openStored(): Promise<void> {
    for (const r of this.deps.store.list<InstanceRecord>(collections.instances)) {
      if (r.purging) await this.purge(r.name);
      else if (!r.deleted) await this.lock.run(r.name, () => this.start(r.name));
    }
  }

  /** The stored record of a name, live or soft-deleted (names stay taken while deleted). */
  stored(name: string): InstanceRecord | undefined {
    return this.deps.store.get<InstanceRecord>(collections.instances, name.toLowerCase());
  }

  /** Soft delete: records the dates, then closes the data plane. Repeating it changes nothing. */
  async softDelete(name: string, deleted: { deletionDate: number; scheduledPurgeDate: number }): Promise<void> {
    const key = name.toLowerCase();
    return this.lock.run(key, async () => {
      const rec = this.stored(key);
      if (!rec) throw errors.notFound(`No Managed HSM named ${key.slice(0, 40)}.`);
      if (!rec.deleted) await this.deps.store.commit([{ c: collections.instances, id: key, v: { ...rec, deleted } }]);
      await this.stop(key);
    });
  }

  /** Recover: clears the deletion and opens the data plane again (same port when free), keys and domain as they were. */
  async recover(name: string): Promise<ManagedHsmInstance> {
    const key = name.toLowerCase();
    return this.lock.run(key, async () => {
      const rec = this.stored(key);
      if (!rec || rec.purging) throw errors.notFound(`No deleted Managed HSM named ${key.slice(0, 40)}.`);
      if (rec.deleted) {
        const { deleted: _gone, ...live } = rec;
        await this.deps.store.commit([{ c: collections.instances, id: key, v: live }]);
      }
      return this.start(key);
    });
  }

  /**
   * Purge, for good: marks the record (so a crash finishes the job at the next start), closes the data plane,
   * destroys every object of the token, then drops every record of the HSM in one commit.
   */
  async purge(name: string): Promise<void> {
    const key = name.toLowerCase();
    return this.lock.run(key, () => this.purgeNow(key));
  }

  private async purgeNow(key: string): Promise<void> {
    const rec = this.stored(key);
    if (!rec) return;
    if (!rec.purging) await this.deps.store.commit([{ c: collections.instances, id: key, v: { ...rec, purging: true } }]);
    await this.stop(key);
    const destroyed = await this.deps.module.token(`mhsm-${key}`, this.deps.sessionsPerToken).destroyAll();
    await faultPoint('purge-before-records');
    const ops = this.deps.store.collections(`mhsm/${key}/`).flatMap((c) => this.deps.store.entries(c).map(([id]) => ({ c, id })));
    await this.deps.store.commit([...ops, { c: collections.instances, id: key }]);
    this.deps.log.info(`${key}: purged (${destroyed} token object(s) destroyed, ${ops.length} record(s) dropped)`);
    this.deps.onChange();
  }

  /** Turns purge protection on (it can never be turned off again). */
  async enablePurgeProtection(name: string): Promise<void> {
    return this.lock.run(name.toLowerCase(), async () => {
      const rec = this.stored(name);
      if (!rec) throw errors.notFound(`No Managed HSM named ${name.slice(0, 40)}.`);
      if (!rec.purgeProtection) await this.deps.store.commit([{ c: collections.instances, id: rec.name, v: { ...rec, purgeProtection: true } }]);
    });
  }

  /**
   * What the service does on its own schedule, run when simulator time moves: deleted keys whose retention has ended
   * are purged, and keys whose rotation policy is due are rotated.
   */
  async sweep(): Promise<void> {
    for (const { instance } of this.open.values()) {
      await instance.keys.sweepDeleted();
      const rotated = await instance.keys.rotateDue().catch((err: Error) => {
        this.deps.log.error(`${instance.name}: automatic rotation failed: ${err.message}`);
        return [];
      });
      if (rotated.length) this.deps.log.info(`${instance.name}: rotated by policy: ${rotated.join(', ')}`);
    }
  }

  private async stop(key: string): Promise<void> {
    const o = this.open.get(key);
    if (!o) return;
    this.open.delete(key);
    await o.listener.close();
    await o.instance.backups.drain();
    this.deps.onChange();
  }

  /** Creates a new instance; a name in use is a Conflict. */
  async create(spec: ManagedHsmSpec): Promise<ManagedHsmInstance> {
    const s = InstanceRegistry.validate(spec);
    return this.lock.run(s.name, () => this.createNow(s));
  }

  private async createNow(s: Required<ManagedHsmSpec>): Promise<ManagedHsmInstance> {
    const have = this.stored(s.name);
    if (have) throw errors.conflict(`A Managed HSM named ${s.name} already exists${have.deleted ? ' in a deleted state (recover or purge it first)' : ''}.`);
    const rec: InstanceRecord = { ...s, activated: false, created: this.clock.nowSeconds() };
    await this.deps.store.commit([{ c: collections.instances, id: s.name, v: rec }]);
    return this.start(s.name);
  }

  /**
   * Declared at start: created when missing, left as stored otherwise (a differing declaration is reported). A
   * soft-deleted one stays deleted: the declaration does not undo a delete made through ARM.
   */
  async ensure(spec: ManagedHsmSpec): Promise<ManagedHsmInstance | undefined> {
    const s = InstanceRegistry.validate(spec);
    return this.lock.run(s.name, async () => {
      const existing = this.deps.store.get<InstanceRecord>(collections.instances, s.name);
      if (!existing) return this.createNow(s);
      if (existing.deleted || existing.purging) {
        this.deps.log.info(`${s.name}: declared at start but soft-deleted; left deleted (recover it through ARM with createMode 'recover')`);
        return undefined;
      }
      if (existing.purgeProtection !== s.purgeProtection || existing.softDeleteRetentionDays !== s.softDeleteRetentionDays) {
        this.deps.log.info(`${s.name}: declared settings differ from the stored instance; keeping the stored ones`);
      }
      return this.open.get(s.name)?.instance ?? this.start(s.name);
    });
  }

  get(name: string): ManagedHsmInstance | undefined {
    return this.open.get(name.toLowerCase())?.instance;
  }

  list(): ManagedHsmInstance[] {
    return [...this.open.values()].map((o) => o.instance);
  }

  /** Opens an instance's data plane; callers hold the name's lock. */
  private async start(name: string): Promise<ManagedHsmInstance> {
    const have = this.open.get(name);
    if (have) return have.instance;
    const token = this.deps.module.token(`mhsm-${name}`, this.deps.sessionsPerToken);
    const instance = new ManagedHsmInstance(this.deps.store, name, token, this.clock);
    await instance.keys.reconcile((m) => this.deps.log.info(m));
    await instance.reconcile((m) => this.deps.log.info(m));
    await instance.rbac.ensureAdministrators();
    for (const a of instance.record().administrators) await this.deps.principals.ensure(a);
    const listener = new HttpsListener(this.deps.tls, managedHsmApp(instance, this.deps.dataPlane), this.deps.log, `mhsm ${name}`);
    const wanted = instance.record().port ?? 0;
    let port: number;
    try {
      port = await listener.listen(wanted);
    } catch {
      port = await listener.listen(0);
    }
    if (port !== wanted) await instance.update({ port });
    instance.hsmUri = `https://127.0.0.1:${port}/`;
    this.open.set(name, { instance, listener });
    this.deps.onChange();
    return instance;
  }

  async close(): Promise<void> {
    for (const { listener, instance } of this.open.values()) {
      await listener.close();
      await instance.backups.drain();
    }
    this.open.clear();
  }
}
