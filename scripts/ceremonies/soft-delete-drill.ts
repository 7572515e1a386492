import type { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { CeremonyError, classifyFailure } from '../failure';

/**
 * The soft-delete drill of the Managed HSM runbook (seed 002: "soft delete and purge protection are your safety
 * net"): delete the HSM through ARM, see that its data plane stops serving keys and that it is listed as deleted
 * with its scheduled purge date, try to purge it (under purge protection the service must refuse), then recover
 * it (createMode 'recover') and prove it came back activated with the very same key versions. Only ARM and the
 * HSM's own endpoints are used, so the drill runs unchanged against Azure.
 */
export interface SoftDeleteDrillOptions {
  readonly arm: KeyVaultManagementClient;
  readonly resourceGroup: string;
  readonly name: string;
  /** Poll interval of ARM's long-running operations. */
  readonly pollOptions: { updateIntervalInMs: number };
  /** Every key version of the HSM behind hsmUri ("name/version"), read through its data plane. */
  readonly inventory: (hsmUri: string) => Promise<string[]>;
  readonly log: (line: string) => void;
}

export interface SoftDeleteDrillReport {
  readonly hsm: string;
  readonly location: string;
  readonly deletionDate: string;
  readonly scheduledPurgeDate: string;
  readonly purgeProtection: boolean;
  /** What the service answered to the purge; absent when purge protection is off (a purge would destroy the HSM). */
  readonly purgeRefused?: { readonly code: string; readonly message: string };
  readonly hsmUri: string;
  readonly activationStatus: string;
  readonly keyVersions: number;
}

export async function runSoftDeleteDrill(o: SoftDeleteDrillOptions): Promise<SoftDeleteDrillReport> {
  const { arm, resourceGroup: rg, name, pollOptions, log } = o;
  const before = await arm.managedHsms.get(rg, name);
  const location = before.location!;
  const purgeProtection = before.properties?.enablePurgeProtection === true;
  const activation = before.properties?.securityDomainProperties?.activationStatus ?? 'Unknown';
  const versions = await o.inventory(before.properties!.hsmUri!);
  log(`${name}: ${versions.length} key version(s), security domain ${activation}, purge protection ${purgeProtection ? 'on' : 'off'}`);

  await arm.managedHsms.delete(rg, name, pollOptions);
  // Stopped serving: nothing answers, or the service says the HSM is not there. A 403 or a 5xx proves nothing.
  const closed = await o.inventory(before.properties!.hsmUri!).then(
    () => false,
    (err) => {
      const f = classifyFailure(err);
      if (f.kind === 'unreachable' || (f.kind === 'refused' && /^404\b/.test(f.text))) return true;
      throw err;
    },
  );
  if (!closed) throw new CeremonyError(`${name} still serves keys after its delete`);
  const deleted = await arm.managedHsms.getDeleted(name, location);
  const deletionDate = deleted.properties?.deletionDate?.toISOString() ?? '?';
  const scheduledPurgeDate = deleted.properties?.scheduledPurgeDate?.toISOString() ?? '?';
  log(`deleted: its data plane stopped answering; listed in deletedManagedHSMs (${location}) until ${scheduledPurgeDate}`);

  let purgeRefused: SoftDeleteDrillReport['purgeRefused'];
  if (purgeProtection) {
    try {
      await arm.managedHsms.purgeDeleted(name, location, pollOptions);
    } catch (err) {
      const e = err as { code?: string; message?: string; statusCode?: number };
      // A refusal is a 4xx other than 404 (which would mean the drill looked in the wrong place).
      if (e.statusCode === undefined || e.statusCode < 400 || e.statusCode >= 500 || e.statusCode === 404) throw err;
      purgeRefused = { code: e.code ?? String(e.statusCode), message: e.message ?? '' };
    }
    if (!purgeRefused) throw new CeremonyError(`${name} was purged although purge protection is on: it is gone for good`);
    log(`purge refused as it must be under purge protection: ${purgeRefused.code}`);
  } else {
    log('purge not attempted: purge protection is off, so a purge would destroy the HSM and its keys for good');
  }

  const back = await arm.managedHsms.createOrUpdate(
    rg,
    name,
    { location, sku: before.sku, properties: { tenantId: before.properties!.tenantId, createMode: 'recover' } },
    pollOptions,
  );
  const hsmUri = back.properties!.hsmUri!;
  const activationStatus = back.properties?.securityDomainProperties?.activationStatus ?? 'Unknown';
  if (activationStatus !== activation) throw new CeremonyError(`${name} came back ${activationStatus}, not ${activation}`);
  const after = await o.inventory(hsmUri);
  const lost = versions.filter((v) => !after.includes(v));
  if (lost.length || after.length !== versions.length) {
    throw new CeremonyError(`${name} came back with ${after.length} key version(s) instead of ${versions.length}${lost.length ? `; missing: ${lost.join(', ')}` : ''}`);
  }
  log(`recovered: ${back.properties?.provisioningState}, security domain ${activationStatus}, the same ${after.length} key version(s), at ${hsmUri}`);
  return { hsm: name, location, deletionDate, scheduledPurgeDate, purgeProtection, purgeRefused, hsmUri, activationStatus, keyVersions: after.length };
}
