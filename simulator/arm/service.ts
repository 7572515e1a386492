import { randomUUID } from 'crypto';
import { Journal, Op } from '../store/journal';
import { KeyedMutex } from '../keyed-mutex';
import { Logger } from '../logger';
import { ServiceError } from '../http/errors';
import { ManagedHsmSpec } from '../managedhsm/registry';
import { ApplianceLauncher } from './launcher';
import { ArmCodes, armErrors, shown } from './errors';
import {
  DEDICATED_CREATE_STATES,
  OperationRecord,
  RESOURCE_TYPES,
  ResourceKind,
  ResourceRecord,
  collections,
  isTerminal,
  resourceId,
  resourceKey,
} from './model';
import { DedicatedHsmInput, ManagedHsmInput } from './validate';
import { RegistrationService } from './registrations';

/** The Managed HSM data plane as the ARM plane sees it (wired to the InstanceRegistry in simulator/index.ts). */
export interface ManagedHsmBackend {
  create(spec: ManagedHsmSpec): Promise<void>;
  lookup(name: string): { hsmUri: string; activated: boolean } | undefined;
}

export interface ArmServiceDeps {
  store: Journal;
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

/**
 * The resource service and its provisioning state machine. Requests validate, then change records under one lock
 * and return at once; a long-running PUT or DELETE leaves an operation record that timers advance through the
 * resource type's real provisioning states, doing the real work (starting a Luna appliance, creating a Managed
 * HSM instance, destroying an appliance) at the right step. Everything is in the journal: after a restart the
 * machine resumes where it stopped and running appliances are started again.
 */
export class ArmService {
  private readonly mutex = new KeyedMutex();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  /** Feature and resource provider registrations of each subscription (Microsoft.Features, Microsoft.Resources). */
  readonly registrations: RegistrationService;

  constructor(private readonly deps: ArmServiceDeps) {
    this.registrations = new RegistrationService({ store: deps.store, stepMs: deps.stepMs });
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

  /** Resumes unfinished operations and starts the appliances of provisioned Dedicated HSMs. */
  async start(): Promise<void> {
    const now = Date.now();
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
  async put(ref: ResourceRef, input: DedicatedHsmInput | ManagedHsmInput, caller: string): Promise<{ status: 200 | 201; record: ResourceRecord; operation?: OperationRecord }> {
    return this.lock(async () => {
      const key = resourceKey(ref.subscriptionId, ref.resourceGroup, ref.kind, ref.name);
      const existing = this.record(key);
      const now = new Date().toISOString();
      if (existing && !isTerminal(existing.provisioningState)) throw armErrors.operationInProgress(resourceId(existing), existing.provisioningState);
      if (existing && existing.location !== input.location) throw armErrors.invalidLocation(existing.name, existing.location, existing.resourceGroup, input.location);
      if (ref.kind === 'dedicatedHSMs') this.checkIpFree(key, input as DedicatedHsmInput);
      else this.checkManagedNameFree(key, ref.name);

      if (existing && existing.provisioningState === 'Succeeded') {
        if (ref.kind === 'dedicatedHSMs') checkDedicatedUnchanged(existing, input as DedicatedHsmInput);
        const managed = ref.kind === 'managedHSMs' ? mergeManaged(existing, input as ManagedHsmInput) : undefined;
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
        const { location: _l, tags: _t, ...managed } = input as ManagedHsmInput;
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
      const updated: ResourceRecord = { ...r, tags, systemData: { ...r.systemData, lastModifiedBy: caller, lastModifiedAt: new Date().toISOString() } };
      await this.commit([{ c: collections.resources, id: r.key, v: updated }]);
      return updated;
    });
  }

  /** DELETE: 204 when there is nothing to delete, else 202 + operation. A Dedicated HSM must be zeroized first. */
  async delete(ref: ResourceRef, caller: string): Promise<{ status: 202 | 204; operation?: OperationRecord }> {
    return this.lock(async () => {
      const key = resourceKey(ref.subscriptionId, ref.resourceGroup, ref.kind, ref.name);
      const r = this.record(key);
      if (!r) return { status: 204 };
      if (r.provisioningState === 'Deleting' && r.operationId) return { status: 202, operation: this.operationRecord(r.operationId) };
      if (!isTerminal(r.provisioningState)) throw armErrors.operationInProgress(resourceId(r), r.provisioningState);
      if (r.kind === 'managedHSMs' && r.provisioningState === 'Succeeded') {
        throw armErrors.notSupported('Deleting a provisioned Managed HSM (soft delete and purge of the instance)');
      }
      if (r.kind === 'dedicatedHSMs' && r.provisioningState === 'Succeeded') await this.checkZeroized(r);
      const op: OperationRecord = {
        id: randomUUID(),
        resourceKey: key,
        action: 'delete',
        subscriptionId: r.subscriptionId,
        namespace: RESOURCE_TYPES[r.kind].namespace,
        location: r.location,
        status: 'InProgress',
        startTime: new Date().toISOString(),
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

  /** Managed HSM names are global (they are DNS names): another resource, or an instance declared at start, holds it. */
  private checkManagedNameFree(key: string, name: string): void {
    const other = this.deps.store.list<ResourceRecord>(collections.resources).find((r) => r.kind === 'managedHSMs' && r.key !== key && r.name.toLowerCase() === name.toLowerCase());
    if (other) throw armErrors.conflict(`The Managed HSM name '${name}' is already in use by ${resourceId(other)}; names are global.`);
    if (!this.record(key) && this.deps.managedHsms.lookup(name)) throw armErrors.conflict(`The Managed HSM name '${name}' is already in use (an instance the simulator was started with); names are global.`);
  }

  // ---- the provisioning state machine ----

  private schedule(key: string): void {
    if (this.closed || this.timers.has(key)) return;
    const t = setTimeout(() => {
      this.timers.delete(key);
      const p = this.advance(key).catch((err) => this.deps.log.error(`ARM: advancing ${key} failed: ${(err as Error).stack ?? err}`));
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }, this.deps.stepMs);
    this.timers.set(key, t);
  }

  /** One step of the resource's operation. Slow work (launching an appliance) runs outside the lock. */
  private async advance(key: string): Promise<void> {
    if (this.closed) return;
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
      if (!this.deps.managedHsms.lookup(r.name)) {
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
      const endTime = new Date().toISOString();
      await this.commit([
        { c: collections.resources, id: r.key },
        { c: collections.operations, id: op.id, v: { ...op, status: 'Succeeded', endTime } },
      ]);
    });
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
      const endTime = new Date().toISOString();
      // A failed delete leaves the resource as it was: provisioned when its appliance had started, else Failed.
      const state = !error ? 'Succeeded' : op.action === 'create' || !cur.dedicated?.sshPort ? 'Failed' : 'Succeeded';
      const statusMessage = error ? error.message : op.action === 'create' ? 'The resource is provisioned.' : cur.statusMessage;
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
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
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

/** Managed HSM re-PUT: network settings and tags may change; identity, SKU, retention and purge protection may not. */
function mergeManaged(r: ResourceRecord, m: ManagedHsmInput): ResourceRecord['managed'] {
  const have = r.managed!;
  if (have.enablePurgeProtection && !m.enablePurgeProtection) {
    throw armErrors.invalidParameter(`Purge protection cannot be turned off once enabled on the Managed HSM '${r.name}'.`);
  }
  if (!have.enablePurgeProtection && m.enablePurgeProtection) throw armErrors.notSupported('Turning on purge protection on an existing Managed HSM');
  const diffs: Array<[string, unknown, unknown]> = [
    ['sku.name', have.skuName, m.skuName],
    ['properties.tenantId', have.tenantId, m.tenantId],
    ['properties.initialAdminObjectIds', [...have.initialAdminObjectIds].sort().join(','), [...m.initialAdminObjectIds].sort().join(',')],
    ['properties.softDeleteRetentionInDays', have.softDeleteRetentionInDays, m.softDeleteRetentionInDays],
  ];
  for (const [prop, a, b] of diffs) {
    if (a !== b) throw armErrors.propertyChange(`Changing the property '${prop}' of a Managed HSM is not allowed (from '${shown(a)}' to '${shown(b)}').`);
  }
  return { ...have, publicNetworkAccess: m.publicNetworkAccess, networkAcls: m.networkAcls };
}
