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
}

/**
 * All Managed HSM instances of the simulator. Each has its own SoftHSM2 token (label "mhsm-<name>") and its own
 * HTTPS port (hsmUri https://127.0.0.1:<port>/), reused across restarts when free. Instances can be added while
 * running; every one stored is reopened at start.
 */
export class InstanceRegistry {
  private readonly open = new Map<string, { instance: ManagedHsmInstance; listener: HttpsListener }>();

  constructor(private readonly deps: RegistryDeps) {}

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

  /** Reopens every stored instance (token reconcile, listener). */
  async openStored(): Promise<void> {
    for (const r of this.deps.store.list<InstanceRecord>(collections.instances)) await this.start(r.name);
  }

  /** Creates a new instance; a name in use is a Conflict. */
  async create(spec: ManagedHsmSpec): Promise<ManagedHsmInstance> {
    const s = InstanceRegistry.validate(spec);
    if (this.deps.store.get(collections.instances, s.name)) throw errors.conflict(`A Managed HSM named ${s.name} already exists.`);
    const rec: InstanceRecord = { ...s, activated: false, created: Math.floor(Date.now() / 1000) };
    await this.deps.store.commit([{ c: collections.instances, id: s.name, v: rec }]);
    return this.start(s.name);
  }

  /** Declared at start: created when missing, left as stored otherwise (a differing declaration is reported). */
  async ensure(spec: ManagedHsmSpec): Promise<ManagedHsmInstance> {
    const s = InstanceRegistry.validate(spec);
    const existing = this.deps.store.get<InstanceRecord>(collections.instances, s.name);
    if (!existing) return this.create(s);
    if (existing.purgeProtection !== s.purgeProtection || existing.softDeleteRetentionDays !== s.softDeleteRetentionDays) {
      this.deps.log.info(`${s.name}: declared settings differ from the stored instance; keeping the stored ones`);
    }
    return this.open.get(s.name)?.instance ?? this.start(s.name);
  }

  get(name: string): ManagedHsmInstance | undefined {
    return this.open.get(name.toLowerCase())?.instance;
  }

  list(): ManagedHsmInstance[] {
    return [...this.open.values()].map((o) => o.instance);
  }

  private async start(name: string): Promise<ManagedHsmInstance> {
    const have = this.open.get(name);
    if (have) return have.instance;
    const token = this.deps.module.token(`mhsm-${name}`, this.deps.sessionsPerToken);
    const instance = new ManagedHsmInstance(this.deps.store, name, token);
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
