/**
 * The ARM plane's records, kept in the simulator's journal (store/journal.ts) so that resources, their
 * provisioning state and their long-running operations survive a restart.
 */

export const collections = { resources: 'arm-resources', operations: 'arm-operations', deletedManagedHsms: 'arm-deleted-managed-hsms' } as const;

export type ResourceKind = 'dedicatedHSMs' | 'managedHSMs';

/** The resource types the plane serves, with the api-versions each accepts. */
export interface ResourceTypeInfo {
  kind: ResourceKind;
  namespace: string;
  /** "Microsoft.HardwareSecurityModules/dedicatedHSMs": the resource's "type" field. */
  fullType: string;
  apiVersions: readonly string[];
}

export const RESOURCE_TYPES: Record<ResourceKind, ResourceTypeInfo> = {
  dedicatedHSMs: {
    kind: 'dedicatedHSMs',
    namespace: 'Microsoft.HardwareSecurityModules',
    fullType: 'Microsoft.HardwareSecurityModules/dedicatedHSMs',
    // What @azure/arm-hardwaresecuritymodules 1.0.0 and the azurerm provider call.
    apiVersions: ['2021-11-30'],
  },
  managedHSMs: {
    kind: 'managedHSMs',
    namespace: 'Microsoft.KeyVault',
    fullType: 'Microsoft.KeyVault/managedHSMs',
    // 2023-07-01: the azurerm provider (go-azure-sdk keyvault/2023-07-01/managedhsms); 2026-02-01: @azure/arm-keyvault 5.0.0.
    apiVersions: ['2021-10-01', '2022-07-01', '2023-02-01', '2023-07-01', '2024-11-01', '2026-02-01'],
  },
};

/** Real provisioningState values of each type (dedicatedHSMs: the 2021-11-30 JobState enum). */
export const DEDICATED_CREATE_STATES = ['CheckingQuota', 'Allocating', 'Connecting', 'Provisioning'] as const;
export type DedicatedState = (typeof DEDICATED_CREATE_STATES)[number] | 'Succeeded' | 'Failed' | 'Deleting';
export type ManagedState = 'Provisioning' | 'Succeeded' | 'Failed' | 'Updating' | 'Deleting';
export type ProvisioningState = DedicatedState | ManagedState;

export function isTerminal(s: ProvisioningState): boolean {
  return s === 'Succeeded' || s === 'Failed';
}

export interface SystemData {
  createdBy: string;
  createdByType: 'Application';
  createdAt: string;
  lastModifiedBy: string;
  lastModifiedByType: 'Application';
  lastModifiedAt: string;
}

export interface DedicatedHsmProps {
  skuName: string;
  zones?: string[];
  stampId?: string;
  subnetId: string;
  privateIpAddress: string;
  /** Stable id of the appliance behind the resource: its state folder is luna/<applianceId>. */
  applianceId: string;
  /** Local ports of the appliance (listed in endpoints.json), reused across restarts when free. */
  sshPort?: number;
  ntlsPort?: number;
}

export interface ManagedHsmProps {
  skuName: string;
  tenantId: string;
  initialAdminObjectIds: string[];
  softDeleteRetentionInDays: number;
  enablePurgeProtection: boolean;
  publicNetworkAccess: 'Enabled' | 'Disabled';
  networkAcls?: { bypass: string; defaultAction: string; ipRules: Array<{ value: string }>; virtualNetworkRules: Array<{ id: string }> };
}

export interface ResourceRecord {
  /** Lower-cased resource id: the journal key and the comparison form (ARM ids are case-insensitive). */
  key: string;
  kind: ResourceKind;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  provisioningState: ProvisioningState;
  statusMessage?: string;
  /** The long-running operation now running on the resource, if any. */
  operationId?: string;
  systemData: SystemData;
  dedicated?: DedicatedHsmProps;
  managed?: ManagedHsmProps;
}

export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed';

export interface OperationRecord {
  id: string;
  resourceKey: string;
  /** recover: a create with createMode 'recover'; purge: of a soft-deleted Managed HSM (no resource record). */
  action: 'create' | 'delete' | 'recover' | 'purge';
  subscriptionId: string;
  namespace: string;
  location: string;
  status: OperationStatus;
  startTime: string;
  endTime?: string;
  error?: { code: string; message: string };
}

export function resourceId(r: Pick<ResourceRecord, 'subscriptionId' | 'resourceGroup' | 'kind' | 'name'>): string {
  return `/subscriptions/${r.subscriptionId}/resourceGroups/${r.resourceGroup}/providers/${RESOURCE_TYPES[r.kind].fullType}/${r.name}`;
}

export function resourceKey(subscriptionId: string, resourceGroup: string, kind: ResourceKind, name: string): string {
  return resourceId({ subscriptionId, resourceGroup, kind, name }).toLowerCase();
}

/**
 * A soft-deleted Managed HSM (`deletedManagedHSMs`): the proxy resource Azure keeps in the HSM's location with what
 * recovery needs. Keyed by the lower-cased name: Managed HSM names are global, a deleted one's included.
 */
export interface DeletedManagedHsmRecord {
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  tags: Record<string, string>;
  /** ISO 8601, simulator time. */
  deletionDate: string;
  scheduledPurgeDate: string;
  managed: ManagedHsmProps;
  systemData: SystemData;
  /** The purge operation running on it, if any. */
  operationId?: string;
}

export function deletedManagedHsmId(d: Pick<DeletedManagedHsmRecord, 'subscriptionId' | 'location' | 'name'>): string {
  return `/subscriptions/${d.subscriptionId}/providers/Microsoft.KeyVault/locations/${d.location}/deletedManagedHSMs/${d.name}`;
}
