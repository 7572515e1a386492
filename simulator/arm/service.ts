import { randomUUID } from 'crypto';
import { Journal, Op } from '../store/journal';
import { KeyedMutex } from '../keyed-mutex';
import { Logger } from '../logger';
import { ServiceError } from '../http/errors';
import { ManagedHsmSpec } from '../managedhsm/registry';
import { ApplianceLauncher } from './launcher';
import { ArmCodes, armErrors, shown } from './errors';
import { locationName } from './locations';
import {
  DEDICATED_CREATE_STATES,
  DeletedManagedHsmRecord,
  OperationRecord,
  RESOURCE_TYPES,
  ResourceKind,
  ResourceRecord,
  collections,
  deletedManagedHsmId,
  isTerminal,
  resourceId,
  resourceKey,
} from './model';
import { DedicatedHsmInput, ManagedHsmInput, ManagedHsmRecoverInput } from './validate';
import { RegistrationService } from './registrations';
import { SimulatorClock } from '../clock';

/** The Managed HSM data plane as the ARM plane sees it (wired to the InstanceRegistry in simulator/index.ts). */
export interface ManagedHsmBackend {
  create(spec: ManagedHsmSpec): Promise<void>;
  /** A live instance (its data plane answering). */
  lookup(name: string): { hsmUri: string; activated: boolean } | undefined;
  /** Whether an instance holds the name, live or soft-deleted. */
  taken(name: string): boolean;
  /** Closes the data plane, keeping keys, roles and domain (dates in seconds). Idempotent. */
  softDelete(name: string, dates: { deletionDate: number; scheduledPurgeDate: number }): Promise<void>;
  /** Opens it again as it was. Idempotent. */
  recover(name: string): Promise<void>;
  /** Destroys it for good: token objects and every record. Idempotent. */
  purge(name: string): Promise<void>;
  enablePurgeProtection(name: string): Promise<void>;
}

export interface ArmServiceDeps {
  store: Journal;
  /** Simulator time: provisioning steps, registrations, soft-delete retention and timestamps read it. */
  clock: SimulatorClock;
  launcher: ApplianceLauncher;
  managedHsms: ManagedHsmBackend;
  tenantId: string;
  /** How long each provisioning state lasts, in ms (a real Dedicated HSM takes 25-35 minutes in all). */
  stepMs: number;
  log: Logger;
  /** Called when resources or their appliance ports changed (endpoints.json). */
  onChange: () => void;
}

export interface ResourceRef {
  subscriptionId: string;
  resourceGroup: string;
  kind: ResourceKind;
  name: string;
}

/** Completed operations are kept this long for late pollers, then dropped at the next start. */
const OPERATION_RETENTION_MS = 24 * 3600 * 1000;

/** Between advances of the clock, soft-deleted HSMs past their retention are looked for this often (wall time). */
const SWEEP_EVERY_MS = 60_000;

/** Timers of soft-deleted Managed HSMs (a purge) are keyed apart from resource keys. */
const DELETED_PREFIX = 'deleted:';

/**
 * The resource service and its provisioning state machine. Requests validate, then change records under one lock
 * and return at once; a long-running PUT or DELETE leaves an operation record that timers advance through the
 * resource type's real provisioning states, doing the real work (starting a Luna appliance, creating a Managed
 * HSM instance, destroying an appliance) at the right step. Everything is in the journal: after a restart the
 * machine resumes where it stopped and running appliances are started again.
 */
export class ArmService {
  private readonly mutex = new KeyedMutex();
  private readonly timers = new Map<string, () => void>();
  private readonly inFlight = new Set<Promise<void>>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;

  /** Feature and resource provider registrations of each subscription (Microsoft.Features, Microsoft.Resources). */
  readonly registrations: RegistrationService;

  constructor(private readonly deps: ArmServiceDeps) {
    this.registrations = new RegistrationService({ store: deps.store, stepMs: deps.stepMs, now: () => deps.clock.now() });
    deps.clock.onAdvance(() => this.sweep());
  }

  private nowIso(): string {
    return this.deps.clock.nowIso();
  }

  private lock<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run('arm', fn);
  }

  private record(key: string): ResourceRecord | undefined {
    return this.deps.store.get<ResourceRecord>(collections.resources, key);
  }

  operationRecord(id: string): OperationRecord | undefined {
    return this.deps.store.get<OperationRecord>(collections.operations, id);
  }

  /** Resumes unfinished operations, starts the appliances of provisioned Dedicated HSMs, purges what has expired. */
  async start(): Promise<void> {
    const now = this.deps.clock.now();
    const stale = this.deps.store
      .list<OperationRecord>(collections.operations)
      .filter((o) => o.status !== 'InProgress' && o.endTime && now - Date.parse(o.endTime) > OPERATION_RETENTION_MS);
    if (stale.length) await this.deps.store.commit(stale.map((o) => ({ c: collections.operations, id: o.id })));
    const all = this.deps.store.list<ResourceRecord>(collections.resources);
    await Promise.all(
      all
        .filter((r) => r.kind === 'dedicatedHSMs' && (r.provisioningState === 'Succeeded' || (r.provisioningState === 'Deleting' && r.dedicated?.sshPort)))
        .map((r) => this.restartAppliance(r)),
    );
    for (const r of all) if (r.operationId) this.schedule(r.key);
    for (const d of this.deletedRecords()) if (d.operationId) this.schedule(DELETED_PREFIX + d.name.toLowerCase());
    await this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
    this.deps.onChange();
  }

  private async restartAppliance(r: ResourceRecord): Promise<void> {
    const d = r.dedicated!;
    try {
      const ports = await this.deps.launcher.start({ id: d.applianceId, ip: d.privateIpAddress, hostname: r.name, sshPort: d.sshPort, ntlsPort: d.ntlsPort });
      if (ports.sshPort !== d.sshPort || ports.ntlsPort !== d.ntlsPort) {
        await this.lock(async () => {
          const cur = this.record(r.key);
          if (cur?.dedicated) await this.commit([{ c: collections.resources, id: r.key, v: { ...cur, dedicated: { ...cur.dedicated, ...ports } } }]);
        });
      }
    } catch (err) {
      this.deps.log.error(`Dedicated HSM ${r.name}: its Luna appliance did not start again: ${(err as Error).message}`);
    }
  }

  get(ref: ResourceRef): ResourceRecord {
    const r = this.record(resourceKey(ref.subscriptionId, ref.resourceGroup, ref.kind, ref.name));
    if (!r) throw armErrors.resourceNotFound(RESOURCE_TYPES[ref.kind].fullType, ref.name, ref.resourceGroup);
    return r;
  }

  list(subscriptionId: string, kind: ResourceKind, resourceGroup?: string): ResourceRecord[] {
    return this.deps.store
      .list<ResourceRecord>(collections.resources)
      .filter((r) => r.kind === kind && r.subscriptionId === subscriptionId && (!resourceGroup || r.resourceGroup.toLowerCase() === resourceGroup.toLowerCase()))
      .sort((a, b) => a.key.localeCompare(b.key));
  }

  all(): ResourceRecord[] {
    return this.deps.store.list<ResourceRecord>(collections.resources).sort((a, b) => a.key.localeCompare(b.key));
  }

  /** PUT: creates (201 + operation), retries a Failed resource (201 + operation) or updates tags (200). */
  async put(
    ref: ResourceRef,
    given: DedicatedHsmInput | ManagedHsmInput | ManagedHsmRecoverInput,
    caller: string,
  ): Promise<{ status: 200 | 201; record: ResourceRecord; operation?: OperationRecord }> {
    if ('createMode' in given && given.createMode === 'recover') return this.recover(ref, given, caller);
    const input = given as DedicatedHsmInput | ManagedHsmInput;
    return this.lock(async () => {
      const key = resourceKey(ref.subscriptionId, ref.resourceGroup, ref.kind, ref.name);
      const existing = this.record(key);
      const now = this.nowIso();
      if (existing && !isTerminal(existing.provisioningState)) throw armErrors.operationInProgress(resourceId(existing), existing.provisioningState);
      if (existing && existing.location !== input.location) throw armErrors.invalidLocation(existing.name, existing.location, existing.resourceGroup, input.location);
      if (ref.kind === 'dedicatedHSMs') this.checkIpFree(key, input as DedicatedHsmInput);
      else this.checkManagedNameFree(key, ref.name);

      if (existing && existing.provisioningState === 'Succeeded') {
        if (ref.kind === 'dedicatedHSMs') checkDedicatedUnchanged(existing, input as DedicatedHsmInput);
        const managed = ref.kind === 'managedHSMs' ? mergeManaged(existing, input as ManagedHsmInput) : undefined;
        // Turning purge protection on reaches the instance first: a crash before the record leaves it protected, never less.
        if (managed && managed.enablePurgeProtection && !existing.managed!.enablePurgeProtection) await this.deps.managedHsms.enablePurgeProtection(existing.name);
        const updated: ResourceRecord = {
          ...existing,
          tags: input.tags,
          ...(managed ? { managed } : {}),
          systemData: { ...existing.systemData, lastModifiedBy: caller, lastModifiedAt: now },
        };
        await this.commit([{ c: collections.resources, id: key, v: updated }]);
        return { status: 200, record: updated };
      }

      // A new resource, or a Failed one provisioned again with this body.
      const op: OperationRecord = {
        id: randomUUID(),
        resourceKey: key,
        action: 'create',
        subscriptionId: ref.subscriptionId,
        namespace: RESOURCE_TYPES[ref.kind].namespace,
        location: input.location,
        status: 'InProgress',
        startTime: now,
      };
      const base = {
        key,
        kind: ref.kind,
        subscriptionId: ref.subscriptionId,
        resourceGroup: existing?.resourceGroup ?? ref.resourceGroup,
        name: existing?.name ?? ref.name,
        location: input.location,
        tags: input.tags,
        operationId: op.id,
        systemData: {
          createdBy: existing?.systemData.createdBy ?? caller,
          createdByType: 'Application' as const,
          createdAt: existing?.systemData.createdAt ?? now,
          lastModifiedBy: caller,
          lastModifiedByType: 'Application' as const,
          lastModifiedAt: now,
        },
      };
      let record: ResourceRecord;
      if (ref.kind === 'dedicatedHSMs') {
        const d = input as DedicatedHsmInput;
        record = {
          ...base,
          provisioningState: DEDICATED_CREATE_STATES[0],
          statusMessage: 'Checking the subscription quota for Dedicated HSMs.',
          dedicated: {
            skuName: d.skuName,
            zones: d.zones,
            stampId: d.stampId,
            subnetId: d.subnetId,
            privateIpAddress: d.privateIpAddress,
            applianceId: existing?.dedicated?.applianceId ?? randomUUID(),
          },
        };
      } else {
        const { location: _l, tags: _t, createMode: _c, ...managed } = input as ManagedHsmInput;
        record = { ...base, provisioningState: 'Provisioning', statusMessage: 'The Managed HSM is being provisioned.', managed };
      }
      await this.commit([
        { c: collections.operations, id: op.id, v: op },
        { c: collections.resources, id: key, v: record },
      ]);
      this.schedule(key);
      return { status: 201, record, operation: op };
    });
  }

  async patchTags(ref: ResourceRef, tags: Record<string, string>, caller: string): Promise<ResourceRecord> {
    return this.lock(async () => {
      const r = this.get(ref);
      if (r.provisioningState === 'Deleting') throw armErrors.operationInProgress(resourceId(r), r.provisioningState);
      const updated: ResourceRecord = { ...r, tags, systemData: { ...r.systemData, lastModifiedBy: caller, lastModifiedAt: this.nowIso() } };
      await this.commit([{ c: collections.resources, id: r.key, v: updated }]);
      return updated;
    });
  }

  /**
   * DELETE: 204 when there is nothing to delete, else 202 + operation. A Dedicated HSM must be zeroized first; a
   * provisioned Managed HSM is soft-deleted (deletedManagedHSMs) for its retention period.
   */
  async delete(ref: ResourceRef, caller: string): Promise<{ status: 202 | 204; operation?: OperationRecord }> {
    return this.lock(async () => {
      const key = resourceKey(ref.subscriptionId, ref.resourceGroup, ref.kind, ref.name);
      const r = this.record(key);
      if (!r) return { status: 204 };
      if (r.provisioningState === 'Deleting' && r.operationId) return { status: 202, operation: this.operationRecord(r.operationId) };
      if (!isTerminal(r.provisioningState)) throw armErrors.operationInProgress(resourceId(r), r.provisioningState);
      if (r.kind === 'dedicatedHSMs' && r.provisioningState === 'Succeeded') await this.checkZeroized(r);
      const op: OperationRecord = {
        id: randomUUID(),
        resourceKey: key,
        action: 'delete',
        subscriptionId: r.subscriptionId,
        namespace: RESOURCE_TYPES[r.kind].namespace,
        location: r.location,
        status: 'InProgress',
        startTime: this.nowIso(),
      };
      const updated: ResourceRecord = {
        ...r,
        provisioningState: 'Deleting',
        statusMessage: 'The resource is being deleted.',
        operationId: op.id,
        systemData: { ...r.systemData, lastModifiedBy: caller, lastModifiedAt: op.startTime },
      };
      await this.commit([
        { c: collections.operations, id: op.id, v: op },
        { c: collections.resources, id: key, v: updated },
      ]);
      this.schedule(key);
      return { status: 202, operation: op };
    });
  }

  private async checkZeroized(r: ResourceRecord): Promise<void> {
    let zeroized: boolean;
    try {
      zeroized = await this.deps.launcher.isZeroized(r.dedicated!.applianceId);
    } catch (err) {
      throw armErrors.conflict(`The Dedicated HSM '${r.name}' cannot be deleted now: its appliance could not be asked whether it is zeroized (${shown((err as Error).message, 200)}).`);
    }
    if (!zeroized) throw armErrors.notZeroized(r.name);
  }

  private checkIpFree(key: string, d: DedicatedHsmInput): void {
    const other = this.deps.store
      .list<ResourceRecord>(collections.resources)
      .find((r) => r.key !== key && r.dedicated && r.dedicated.subnetId.toLowerCase() === d.subnetId.toLowerCase() && r.dedicated.privateIpAddress === d.privateIpAddress);
    if (other) throw armErrors.ipInUse(d.privateIpAddress, resourceId(other));
  }

  /**
   * Managed HSM names are global (they are DNS names): another resource, a soft-deleted HSM (until it is purged), or
   * an instance declared at start holds it.
   */
  private checkManagedNameFree(key: string, name: string): void {
    const other = this.deps.store.list<ResourceRecord>(collections.resources).find((r) => r.kind === 'managedHSMs' && r.key !== key && r.name.toLowerCase() === name.toLowerCase());
    if (other) throw armErrors.conflict(`The Managed HSM name '${name}' is already in use by ${resourceId(other)}; names are global.`);
    const deleted = this.deletedRecord(name);
    if (deleted) throw armErrors.deletedNameTaken(deleted.name, deleted.location);
    if (!this.record(key) && this.deps.managedHsms.taken(name)) throw armErrors.conflict(`The Managed HSM name '${name}' is already in use (an instance the simulator was started with); names are global.`);
  }

  // ---- soft-deleted Managed HSMs ----

  private deletedRecord(name: string): DeletedManagedHsmRecord | undefined {
    return this.deps.store.get<DeletedManagedHsmRecord>(collections.deletedManagedHsms, name.toLowerCase());
  }

  private deletedRecords(): DeletedManagedHsmRecord[] {
    return this.deps.store.list<DeletedManagedHsmRecord>(collections.deletedManagedHsms).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** GET .../locations/{location}/deletedManagedHSMs/{name}: 404 in another subscription or location. */
  getDeleted(subscriptionId: string, location: string, name: string): DeletedManagedHsmRecord {
    const d = this.deletedRecord(name);
    if (!d || d.subscriptionId !== subscriptionId || d.location !== locationName(location)) throw armErrors.deletedNotFound(name, location);
    return d;
  }

  listDeleted(subscriptionId: string): DeletedManagedHsmRecord[] {
    return this.deletedRecords().filter((d) => d.subscriptionId === subscriptionId);
  }

  /** Whether a Managed HSM name is held, by a resource, a soft-deleted HSM or an instance (checkMhsmNameAvailability). */
  managedNameTaken(name: string): 'live' | 'deleted' | undefined {
    if (this.deletedRecord(name)) return 'deleted';
    const live = this.all().some((r) => r.kind === 'managedHSMs' && r.name.toLowerCase() === name.toLowerCase());
    return live || this.deps.managedHsms.taken(name) ? 'live' : undefined;
  }

  /**
   * PUT with createMode 'recover': the soft-deleted HSM of that name, in the request's subscription, location and
   * resource group, comes back with its settings, keys, roles and security domain (201 + operation).
   */
  private async recover(ref: ResourceRef, input: ManagedHsmRecoverInput, caller: string): Promise<{ status: 201; record: ResourceRecord; operation: OperationRecord }> {
    return this.lock(async () => {
      const key = resourceKey(ref.subscriptionId, ref.resourceGroup, ref.kind, ref.name);
      const existing = this.record(key);
      if (existing && !isTerminal(existing.provisioningState)) throw armErrors.operationInProgress(resourceId(existing), existing.provisioningState);
      if (existing) throw armErrors.conflict(`The Managed HSM '${existing.name}' exists and is not deleted: there is nothing to recover. Use createMode 'default' to update it.`);
      const d = this.deletedRecord(ref.name);
      // Past its scheduled purge date it is as good as purged: the sweep takes it at the next chance.
      const expired = d !== undefined && Date.parse(d.scheduledPurgeDate) <= this.deps.clock.now();
      if (!d || expired || d.subscriptionId !== ref.subscriptionId || d.location !== input.location) throw armErrors.deletedNotFound(ref.name, input.location);
      if (d.operationId) throw armErrors.operationInProgress(deletedManagedHsmId(d), 'Purging');
      if (d.resourceGroup.toLowerCase() !== ref.resourceGroup.toLowerCase()) {
        throw armErrors.invalidParameter(`The deleted Managed HSM '${d.name}' belonged to the resource group '${d.resourceGroup}'; recover it there.`);
      }
      const now = this.nowIso();
      const op: OperationRecord = {
        id: randomUUID(),
        resourceKey: key,
        action: 'recover',
        subscriptionId: ref.subscriptionId,
        namespace: RESOURCE_TYPES.managedHSMs.namespace,
        location: d.location,
        status: 'InProgress',
        startTime: now,
      };
      const record: ResourceRecord = {
        key,
        kind: 'managedHSMs',
        subscriptionId: d.subscriptionId,
        resourceGroup: d.resourceGroup,
        name: d.name,
        location: d.location,
        tags: input.tags ?? d.tags,
        provisioningState: 'Provisioning',
        statusMessage: 'The Managed HSM is being recovered.',
        operationId: op.id,
        systemData: { ...d.systemData, lastModifiedBy: caller, lastModifiedAt: now },
        managed: d.managed,
      };
      // The deleted record goes in the same commit: from here the resource record carries everything recovery needs.
      await this.commit([
        { c: collections.operations, id: op.id, v: op },
        { c: collections.resources, id: key, v: record },
        { c: collections.deletedManagedHsms, id: d.name.toLowerCase() },
      ]);
      this.schedule(key);
      return { status: 201, record, operation: op };
    });
  }

  /**
   * POST .../deletedManagedHSMs/{name}/purge: refused while purge protection holds (before the scheduled purge
   * date), else 202 + operation. A purge already running answers with its operation.
   */
  async purge(subscriptionId: string, location: string, name: string): Promise<OperationRecord> {
    return this.lock(async () => {
      const d = this.getDeleted(subscriptionId, location, name);
      if (d.operationId) {
        const running = this.operationRecord(d.operationId);
        if (running) return running;
      }
      if (d.managed.enablePurgeProtection && this.deps.clock.now() < Date.parse(d.scheduledPurgeDate)) throw armErrors.purgeProtected(d.name, d.scheduledPurgeDate);
      const op: OperationRecord = {
        id: randomUUID(),
        resourceKey: DELETED_PREFIX + d.name.toLowerCase(),
        action: 'purge',
        subscriptionId,
        namespace: RESOURCE_TYPES.managedHSMs.namespace,
        location: d.location,
        status: 'InProgress',
        startTime: this.nowIso(),
      };
      await this.commit([
        { c: collections.operations, id: op.id, v: op },
        { c: collections.deletedManagedHsms, id: d.name.toLowerCase(), v: { ...d, operationId: op.id } },
      ]);
      this.schedule(op.resourceKey);
      return op;
    });
  }

  /** The service purges a soft-deleted HSM on its own once its retention has ended; so does this, on each clock advance. */
  async sweep(): Promise<void> {
    if (this.closed) return;
    if (this.sweeping) return this.sweeping;
    this.sweeping = (async () => {
      for (const { name } of this.deletedRecords()) {
        if (this.closed) return;
        try {
          // Checked again under the lock: a recover or a purge may have taken it meanwhile.
          const purged = await this.lock(async () => {
            const d = this.deletedRecord(name);
            if (!d || d.operationId || Date.parse(d.scheduledPurgeDate) > this.deps.clock.now()) return undefined;
            await this.deps.managedHsms.purge(d.name);
            await this.commit([{ c: collections.deletedManagedHsms, id: d.name.toLowerCase() }]);
            return d;
          });
          if (purged) this.deps.log.info(`ARM: the deleted Managed HSM ${purged.name} reached its scheduled purge date (${purged.scheduledPurgeDate}) and was purged`);
        } catch (err) {
          this.deps.log.error(`ARM: purging the expired Managed HSM ${name} failed: ${(err as Error).message}`);
        }
      }
    })().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  // ---- the provisioning state machine ----

  /** The next step of key's operation, one step of simulator time from now (an advance of the clock brings it forward). */
  private schedule(key: string): void {
    if (this.closed || this.timers.has(key)) return;
    const cancel = this.deps.clock.schedule(this.deps.stepMs, () => {
      this.timers.delete(key);
      const p = this.advance(key).catch((err) => this.deps.log.error(`ARM: advancing ${key} failed: ${(err as Error).stack ?? err}`));
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
      return p;
    });
    this.timers.set(key, cancel);
  }

  /** One step of the resource's operation. Slow work (launching an appliance) runs outside the lock. */
  private async advance(key: string): Promise<void> {
    if (this.closed) return;
    if (key.startsWith(DELETED_PREFIX)) return this.purgeStep(key.slice(DELETED_PREFIX.length));
    const r = this.record(key);
    if (!r?.operationId) return;
    const op = this.operationRecord(r.operationId);
    if (!op) return;
    if (op.action === 'delete') return this.deleteStep(r, op);
    if (r.kind === 'dedicatedHSMs') {
      const i = DEDICATED_CREATE_STATES.indexOf(r.provisioningState as (typeof DEDICATED_CREATE_STATES)[number]);
      if (i >= 0 && i < DEDICATED_CREATE_STATES.length - 1) {
        const next = DEDICATED_CREATE_STATES[i + 1];
        const messages: Record<string, string> = {
          Allocating: 'Allocating an HSM device in the stamp.',
          Connecting: 'Connecting the HSM device to the subnet.',
          Provisioning: 'Starting the Luna Network HSM appliance.',
        };
        await this.update(key, (cur) => ({ ...cur, provisioningState: next, statusMessage: messages[next] }));
        this.schedule(key);
        return;
      }
      const d = r.dedicated!;
      try {
        const ports = await this.deps.launcher.start({ id: d.applianceId, ip: d.privateIpAddress, hostname: r.name, sshPort: d.sshPort, ntlsPort: d.ntlsPort });
        if (this.closed) return;
        await this.finish(key, op, undefined, (cur) => ({ ...cur, dedicated: { ...cur.dedicated!, ...ports } }));
      } catch (err) {
        if (this.closed) return;
        await this.finish(key, op, { code: ArmCodes.ProvisioningFailed, message: `Provisioning of the Dedicated HSM '${r.name}' failed: ${(err as Error).message}` });
      }
      return;
    }
    const m = r.managed!;
    try {
      if (op.action === 'recover') await this.deps.managedHsms.recover(r.name);
      else if (!this.deps.managedHsms.lookup(r.name)) {
        await this.deps.managedHsms.create({
          name: r.name,
          administrators: m.initialAdminObjectIds,
          softDeleteRetentionDays: m.softDeleteRetentionInDays,
          purgeProtection: m.enablePurgeProtection,
        });
      }
      if (this.closed) return;
      await this.finish(key, op);
    } catch (err) {
      if (this.closed) return;
      const message = err instanceof ServiceError || err instanceof Error ? err.message : String(err);
      await this.finish(key, op, { code: ArmCodes.ProvisioningFailed, message: `Provisioning of the Managed HSM '${r.name}' failed: ${message}` });
    }
  }

  private async deleteStep(r: ResourceRecord, op: OperationRecord): Promise<void> {
    if (r.kind === 'managedHSMs' && this.deps.managedHsms.taken(r.name)) return this.softDeleteStep(r, op);
    if (r.kind === 'dedicatedHSMs') {
      const d = r.dedicated!;
      if (d.sshPort !== undefined) {
        // Checked again: the HSM may have been initialised between the DELETE and now.
        try {
          if (!(await this.deps.launcher.isZeroized(d.applianceId))) {
            const e = armErrors.notZeroized(r.name);
            await this.finish(r.key, op, { code: e.code, message: e.message });
            return;
          }
        } catch {
          // Not running (it failed to start again): nothing left to zeroize on it.
        }
      }
      try {
        await this.deps.launcher.stop(d.applianceId, { destroy: true });
      } catch (err) {
        if (this.closed) return;
        await this.finish(r.key, op, { code: ArmCodes.ProvisioningFailed, message: `Deleting the Dedicated HSM '${r.name}' failed: ${(err as Error).message}` });
        return;
      }
    }
    if (this.closed) return;
    await this.lock(async () => {
      const endTime = this.nowIso();
      await this.commit([
        { c: collections.resources, id: r.key },
        { c: collections.operations, id: op.id, v: { ...op, status: 'Succeeded', endTime } },
      ]);
    });
  }

  /**
   * A Managed HSM's delete: its data plane closes and the resource becomes a deletedManagedHSMs entry, scheduled
   * for purge one retention period after the DELETE (dates from the operation's start, so a resumed step keeps them).
   */
  private async softDeleteStep(r: ResourceRecord, op: OperationRecord): Promise<void> {
    const m = r.managed!;
    const deletedAt = Date.parse(op.startTime);
    const purgeAt = deletedAt + m.softDeleteRetentionInDays * 86400_000;
    try {
      await this.deps.managedHsms.softDelete(r.name, { deletionDate: Math.floor(deletedAt / 1000), scheduledPurgeDate: Math.floor(purgeAt / 1000) });
    } catch (err) {
      if (this.closed) return;
      await this.finish(r.key, op, { code: ArmCodes.ProvisioningFailed, message: `Deleting the Managed HSM '${r.name}' failed: ${(err as Error).message}` });
      return;
    }
    if (this.closed) return;
    const deleted: DeletedManagedHsmRecord = {
      name: r.name,
      subscriptionId: r.subscriptionId,
      resourceGroup: r.resourceGroup,
      location: r.location,
      tags: r.tags,
      deletionDate: new Date(deletedAt).toISOString(),
      scheduledPurgeDate: new Date(purgeAt).toISOString(),
      managed: m,
      systemData: r.systemData,
    };
    await this.lock(() =>
      this.commit([
        { c: collections.resources, id: r.key },
        { c: collections.deletedManagedHsms, id: r.name.toLowerCase(), v: deleted },
        { c: collections.operations, id: op.id, v: { ...op, status: 'Succeeded', endTime: this.nowIso() } },
      ]),
    );
  }

  /** The purge of a soft-deleted Managed HSM: the instance is destroyed, then its deletedManagedHSMs entry goes. */
  private async purgeStep(name: string): Promise<void> {
    const d = this.deletedRecord(name);
    const op = d?.operationId ? this.operationRecord(d.operationId) : undefined;
    if (!d || !op) return;
    try {
      await this.deps.managedHsms.purge(d.name);
    } catch (err) {
      if (this.closed) return;
      const error = { code: ArmCodes.ProvisioningFailed, message: `Purging the Managed HSM '${d.name}' failed: ${(err as Error).message}` };
      await this.lock(() =>
        this.commit([
          { c: collections.deletedManagedHsms, id: name, v: { ...d, operationId: undefined } },
          { c: collections.operations, id: op.id, v: { ...op, status: 'Failed', endTime: this.nowIso(), error } },
        ]),
      );
      return;
    }
    if (this.closed) return;
    await this.lock(() =>
      this.commit([
        { c: collections.deletedManagedHsms, id: name },
        { c: collections.operations, id: op.id, v: { ...op, status: 'Succeeded', endTime: this.nowIso() } },
      ]),
    );
  }

  private async update(key: string, fn: (r: ResourceRecord) => ResourceRecord): Promise<void> {
    await this.lock(async () => {
      const cur = this.record(key);
      if (cur) await this.commit([{ c: collections.resources, id: key, v: fn(cur) }]);
    });
  }

  /** Ends an operation: Succeeded, or Failed with its error. */
  private async finish(key: string, op: OperationRecord, error?: { code: string; message: string }, change: (r: ResourceRecord) => ResourceRecord = (r) => r): Promise<void> {
    await this.lock(async () => {
      const cur = this.record(key);
      if (!cur) return;
      const endTime = this.nowIso();
      // A failed delete leaves the resource as it was: provisioned when its appliance had started, else Failed.
      const state = !error ? 'Succeeded' : op.action !== 'delete' || !cur.dedicated?.sshPort ? 'Failed' : 'Succeeded';
      const statusMessage = error ? error.message : op.action === 'delete' ? cur.statusMessage : cur.kind === 'managedHSMs' ? 'The Managed HSM is provisioned and ready to use.' : 'The resource is provisioned.';
      const next: ResourceRecord = { ...change(cur), provisioningState: state, statusMessage, operationId: undefined };
      await this.commit([
        { c: collections.resources, id: key, v: next },
        { c: collections.operations, id: op.id, v: { ...op, status: error ? 'Failed' : 'Succeeded', endTime, ...(error ? { error } : {}) } },
      ]);
      if (error) this.deps.log.info(`ARM: ${resourceId(cur)}: ${error.message}`);
    });
  }

  private async commit(ops: Op[]): Promise<void> {
    await this.deps.store.commit(ops);
    this.deps.onChange();
  }

  /** Stops the machine (waiting for steps in flight) and the appliances; state stays for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    if (this.sweeping) await this.sweeping;
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
    await this.deps.launcher.close();
  }
}

function checkDedicatedUnchanged(r: ResourceRecord, d: DedicatedHsmInput): void {
  const have = r.dedicated!;
  const diffs: Array<[string, unknown, unknown]> = [
    ['sku.name', have.skuName, d.skuName],
    ['zones', (have.zones ?? []).join(','), (d.zones ?? []).join(',')],
    ['properties.stampId', have.stampId ?? '', d.stampId ?? ''],
    ['properties.networkProfile.subnet.id', have.subnetId.toLowerCase(), d.subnetId.toLowerCase()],
    ['properties.networkProfile.networkInterfaces[0].privateIpAddress', have.privateIpAddress, d.privateIpAddress],
  ];
  for (const [prop, a, b] of diffs) {
    if (a !== b) throw armErrors.propertyChange(`Changing the property '${prop}' of a Dedicated HSM is not allowed (from '${shown(a)}' to '${shown(b)}'); delete and create it again.`);
  }
}

/**
 * Managed HSM re-PUT: network settings and tags may change, purge protection may be turned on (never off); identity,
 * SKU and retention may not change.
 */
function mergeManaged(r: ResourceRecord, m: ManagedHsmInput): NonNullable<ResourceRecord['managed']> {
  const have = r.managed!;
  if (have.enablePurgeProtection && !m.enablePurgeProtection) {
    throw armErrors.invalidParameter(`Purge protection cannot be turned off once enabled on the Managed HSM '${r.name}'.`);
  }
  const diffs: Array<[string, unknown, unknown]> = [
    ['sku.name', have.skuName, m.skuName],
    ['properties.tenantId', have.tenantId, m.tenantId],
    ['properties.initialAdminObjectIds', [...have.initialAdminObjectIds].sort().join(','), [...m.initialAdminObjectIds].sort().join(',')],
    ['properties.softDeleteRetentionInDays', have.softDeleteRetentionInDays, m.softDeleteRetentionInDays],
  ];
  for (const [prop, a, b] of diffs) {
    if (a !== b) throw armErrors.propertyChange(`Changing the property '${prop}' of a Managed HSM is not allowed (from '${shown(a)}' to '${shown(b)}').`);
  }
  return { ...have, enablePurgeProtection: m.enablePurgeProtection, publicNetworkAccess: m.publicNetworkAccess, networkAcls: m.networkAcls };
}
