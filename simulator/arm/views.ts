import { ManagedHsmBackend } from './service';
import { DeletedManagedHsmRecord, OperationRecord, RESOURCE_TYPES, ResourceRecord, deletedManagedHsmId, resourceId } from './model';

/** The ARM JSON of a resource, as the 2021-11-30 (dedicatedHSMs) and 2023-07-01 (managedHSMs) specs shape it. */
export function resourceView(r: ResourceRecord, managedHsms: ManagedHsmBackend): Record<string, unknown> {
  const common = {
    id: resourceId(r),
    name: r.name,
    type: RESOURCE_TYPES[r.kind].fullType,
    location: r.location,
    tags: r.tags,
    systemData: r.systemData,
  };
  if (r.kind === 'dedicatedHSMs') {
    const d = r.dedicated!;
    return {
      ...common,
      sku: { name: d.skuName },
      ...(d.zones ? { zones: d.zones } : {}),
      properties: {
        networkProfile: { subnet: { id: d.subnetId }, networkInterfaces: [{ privateIpAddress: d.privateIpAddress }] },
        ...(d.stampId ? { stampId: d.stampId } : {}),
        provisioningState: r.provisioningState,
        ...(r.statusMessage ? { statusMessage: r.statusMessage } : {}),
      },
    };
  }
  const m = r.managed!;
  const live = r.provisioningState === 'Succeeded' ? managedHsms.lookup(r.name) : undefined;
  return {
    ...common,
    sku: { family: 'B', name: m.skuName },
    properties: {
      tenantId: m.tenantId,
      initialAdminObjectIds: m.initialAdminObjectIds,
      ...(live ? { hsmUri: live.hsmUri } : {}),
      enableSoftDelete: true,
      softDeleteRetentionInDays: m.softDeleteRetentionInDays,
      enablePurgeProtection: m.enablePurgeProtection,
      publicNetworkAccess: m.publicNetworkAccess,
      ...(m.networkAcls ? { networkAcls: m.networkAcls } : {}),
      regions: [],
      privateEndpointConnections: [],
      provisioningState: r.provisioningState,
      ...(r.statusMessage ? { statusMessage: r.statusMessage } : {}),
      securityDomainProperties: live
        ? live.activated
          ? { activationStatus: 'Active', activationStatusMessage: 'The Managed HSM is activated.' }
          : { activationStatus: 'NotActivated', activationStatusMessage: 'Download the security domain to activate the Managed HSM.' }
        : { activationStatus: 'Unknown', activationStatusMessage: 'The Managed HSM is not provisioned.' },
    },
  };
}

/** A soft-deleted Managed HSM, as `deletedManagedHSMs` get and list show it (DeletedManagedHsm_Get.json). */
export function deletedView(d: DeletedManagedHsmRecord): Record<string, unknown> {
  return {
    id: deletedManagedHsmId(d),
    name: d.name,
    type: 'Microsoft.KeyVault/deletedManagedHSMs',
    properties: {
      mhsmId: resourceId({ subscriptionId: d.subscriptionId, resourceGroup: d.resourceGroup, kind: 'managedHSMs', name: d.name }),
      location: d.location,
      deletionDate: d.deletionDate,
      scheduledPurgeDate: d.scheduledPurgeDate,
      purgeProtectionEnabled: d.managed.enablePurgeProtection,
      tags: d.tags,
    },
  };
}

/** The path (without host and api-version) of an operation's status; managedHsmOperationResults is Managed HSM's Location. */
export function operationPath(op: OperationRecord, what: 'operationStatuses' | 'operationResults' | 'managedHsmOperationResults'): string {
  return `/subscriptions/${op.subscriptionId}/providers/${op.namespace}/locations/${op.location}/${what}/${op.id}`;
}

/** The Azure-AsyncOperation body the poller reads: status InProgress / Succeeded / Failed (with error). */
export function operationView(op: OperationRecord): Record<string, unknown> {
  return {
    id: operationPath(op, 'operationStatuses'),
    name: op.id,
    status: op.status,
    startTime: op.startTime,
    ...(op.endTime ? { endTime: op.endTime } : {}),
    ...(op.error ? { error: op.error } : {}),
  };
}
