import { KeyVaultManagedHardwareSecurityModule } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module';
import { KeyVaultManagedHardwareSecurityModuleRoleAssignment } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module-role-assignment';
import { LogAnalyticsWorkspace } from '@cdktf/provider-azurerm/lib/log-analytics-workspace';
import { MonitorDiagnosticSetting } from '@cdktf/provider-azurerm/lib/monitor-diagnostic-setting';
import { PrivateDnsZone } from '@cdktf/provider-azurerm/lib/private-dns-zone';
import { PrivateDnsZoneVirtualNetworkLink } from '@cdktf/provider-azurerm/lib/private-dns-zone-virtual-network-link';
import { PrivateEndpoint } from '@cdktf/provider-azurerm/lib/private-endpoint';
import { Construct } from 'constructs';
import { deterministicGuid } from './deterministic-guid';
import { ManagedHsmKey, ManagedHsmKeyProps } from './managed-hsm-key';
import { MANAGED_HSM_ROLE_NAMES, ManagedHsmRoleName, roleDefinitionResourceId } from './managed-hsm-roles';
import { checkGuid, checkIntRange, checkName, checkOneOf, fail, isKnown } from './validation';

export const MANAGED_HSM_SKUS = ['Standard_B1', 'Custom_B32', 'Custom_B6'] as const;
export type ManagedHsmSku = (typeof MANAGED_HSM_SKUS)[number];
export const MANAGED_HSM_PRIVATE_DNS_ZONE = 'privatelink.managedhsm.azure.net';

export interface ManagedHsmRoleAssignmentProps {
  /** A built-in role, e.g. 'Managed HSM Crypto User'. */
  readonly role: ManagedHsmRoleName;
  /** Object id (GUID) of the user, group or service principal. */
  readonly principalId: string;
  /**
   * '/', '/keys' or '/keys/<name>'.
   * @default '/keys'
   */
  readonly scope?: string;
}

export interface ManagedHsmPrivateEndpointProps {
  /** Subnet for the endpoint's NIC (the Compute subnet). */
  readonly subnetId: string;
  /** VNet linked to the privatelink.managedhsm.azure.net zone so names resolve to the endpoint. */
  readonly virtualNetworkId: string;
}

export interface ManagedHsmProps {
  /** 3-24 letters, digits and hyphens, starting with a letter; globally unique (it names the hsmUri). */
  readonly name: string;
  readonly resourceGroupName: string;
  readonly location: string;
  /** Entra ID tenant (GUID). */
  readonly tenantId: string;
  /** Object ids (GUIDs) of the initial administrators; they hold Administrator at "/". */
  readonly adminObjectIds: string[];
  /** @default 'Standard_B1' */
  readonly skuName?: ManagedHsmSku;
  /**
   * Days a deleted HSM or key stays recoverable, 7-90.
   * @default 90
   */
  readonly softDeleteRetentionDays?: number;
  /**
   * Turns purge protection off, so a deleted HSM and its keys can be purged before the retention ends:
   * one mistaken purge then destroys every key for good. Only for short-lived test environments.
   * @default false (purge protection on)
   */
  readonly dangerouslyDisablePurgeProtection?: boolean;
  /**
   * Whether the HSM answers on its public endpoint.
   * @default false
   */
  readonly publicNetworkAccessEnabled?: boolean;
  /**
   * Network ACL default action.
   * @default 'Deny'
   */
  readonly networkAclDefaultAction?: 'Allow' | 'Deny';
  /**
   * Which Azure services bypass the ACL.
   * @default 'AzureServices'
   */
  readonly networkAclBypass?: 'AzureServices' | 'None';
  /**
   * Where to place a private endpoint and its private DNS zone.
   * @default none (the policy check then fails unless waived)
   */
  readonly privateEndpoint?: ManagedHsmPrivateEndpointProps;
  /**
   * Log Analytics workspace that receives AuditEvent logs and all metrics.
   * @default a new workspace named `<name>-logs`, 90 days retention
   */
  readonly logAnalyticsWorkspaceId?: string;
  /** @default [] */
  readonly roleAssignments?: ManagedHsmRoleAssignmentProps[];
  /** @default [] */
  readonly keys?: Array<Omit<ManagedHsmKeyProps, 'managedHsmId' | 'dependsOn'>>;
  /** @default {} */
  readonly tags?: Record<string, string>;
}

const NAME_RULE = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const ROLE_SCOPE = /^(\/|\/keys|\/keys\/[a-zA-Z0-9-]{1,127})$/;

/**
 * A Key Vault Managed HSM, secure by default: purge protection on, soft delete 90 days, public access off,
 * ACL Deny, reachable through a private endpoint, audited to Log Analytics. Local RBAC role assignments
 * and keys are data-plane resources: Azure accepts them only once the security domain is activated.
 */
export class ManagedHsm extends Construct {
  readonly resource: KeyVaultManagedHardwareSecurityModule;
  readonly id: string;
  readonly name: string;
  readonly hsmUri: string;
  readonly roleAssignments: KeyVaultManagedHardwareSecurityModuleRoleAssignment[] = [];
  readonly keys: ManagedHsmKey[] = [];
  readonly privateEndpoint?: PrivateEndpoint;
  readonly diagnosticSetting: MonitorDiagnosticSetting;

  constructor(scope: Construct, id: string, props: ManagedHsmProps) {
    super(scope, id);
    checkName(this, 'name', props.name, NAME_RULE, '3-24 letters, digits and hyphens, starting with a letter and not ending with a hyphen');
    checkGuid(this, 'tenantId', props.tenantId);
    if (!Array.isArray(props.adminObjectIds) || props.adminObjectIds.length === 0) {
      fail(this, 'adminObjectIds', props.adminObjectIds, 'one or more object ids (GUIDs)');
    }
    props.adminObjectIds.forEach((oid, i) => checkGuid(this, `adminObjectIds[${i}]`, oid));
    const skuName = props.skuName ?? 'Standard_B1';
    checkOneOf(this, 'skuName', skuName, MANAGED_HSM_SKUS);
    const retention = props.softDeleteRetentionDays ?? 90;
    checkIntRange(this, 'softDeleteRetentionDays', retention, 7, 90);
    const defaultAction = props.networkAclDefaultAction ?? 'Deny';
    checkOneOf(this, 'networkAclDefaultAction', defaultAction, ['Allow', 'Deny']);
    const bypass = props.networkAclBypass ?? 'AzureServices';
    checkOneOf(this, 'networkAclBypass', bypass, ['AzureServices', 'None']);

    this.resource = new KeyVaultManagedHardwareSecurityModule(this, 'Resource', {
      name: props.name,
      resourceGroupName: props.resourceGroupName,
      location: props.location,
      skuName,
      tenantId: props.tenantId,
      adminObjectIds: props.adminObjectIds,
      purgeProtectionEnabled: !props.dangerouslyDisablePurgeProtection,
      softDeleteRetentionDays: retention,
      publicNetworkAccessEnabled: props.publicNetworkAccessEnabled ?? false,
      networkAcls: { defaultAction, bypass },
      tags: props.tags,
    });
    this.id = this.resource.id;
    this.name = this.resource.name;
    this.hsmUri = this.resource.hsmUri;

    if (props.privateEndpoint) this.privateEndpoint = this.addPrivateEndpoint(props, props.privateEndpoint);
    this.diagnosticSetting = this.addDiagnostics(props);

    for (const assignment of props.roleAssignments ?? []) this.addRoleAssignment(assignment);
    for (const key of props.keys ?? []) this.addKey(key);
  }

  /** Grants a built-in role to a principal at a scope of this HSM. */
  addRoleAssignment(assignment: ManagedHsmRoleAssignmentProps): KeyVaultManagedHardwareSecurityModuleRoleAssignment {
    const scope = assignment.scope ?? '/keys';
    const index = this.roleAssignments.length;
    checkOneOf(this, `roleAssignments[${index}].role`, assignment.role, MANAGED_HSM_ROLE_NAMES);
    checkGuid(this, `roleAssignments[${index}].principalId`, assignment.principalId);
    if (!ROLE_SCOPE.test(scope)) fail(this, `roleAssignments[${index}].scope`, scope, '"/", "/keys" or "/keys/<key name>"');
    const name = deterministicGuid(this.node.path, assignment.role, assignment.principalId, scope);
    const resource = new KeyVaultManagedHardwareSecurityModuleRoleAssignment(this, `RoleAssignment-${name}`, {
      managedHsmId: this.id,
      name,
      principalId: assignment.principalId,
      roleDefinitionId: roleDefinitionResourceId(assignment.role),
      scope,
    });
    this.roleAssignments.push(resource);
    return resource;
  }

  /** Adds an HSM-backed key; it waits for this HSM's role assignments, which let Terraform create it. */
  addKey(key: Omit<ManagedHsmKeyProps, 'managedHsmId' | 'dependsOn'>): ManagedHsmKey {
    if (isKnown(key.name) && this.keys.some((k) => k.node.id === `Key-${key.name}`)) {
      fail(this, 'keys', key.name, 'distinct key names');
    }
    const created = new ManagedHsmKey(this, `Key-${key.name}`, { ...key, managedHsmId: this.id, dependsOn: [...this.roleAssignments] });
    this.keys.push(created);
    return created;
  }

  private addPrivateEndpoint(props: ManagedHsmProps, placement: ManagedHsmPrivateEndpointProps): PrivateEndpoint {
    const zone = new PrivateDnsZone(this, 'PrivateDnsZone', {
      name: MANAGED_HSM_PRIVATE_DNS_ZONE,
      resourceGroupName: props.resourceGroupName,
      tags: props.tags,
    });
    new PrivateDnsZoneVirtualNetworkLink(this, 'PrivateDnsZoneLink', {
      name: `${props.name}-dns-link`,
      resourceGroupName: props.resourceGroupName,
      privateDnsZoneName: zone.name,
      virtualNetworkId: placement.virtualNetworkId,
      registrationEnabled: false,
      tags: props.tags,
    });
    return new PrivateEndpoint(this, 'PrivateEndpoint', {
      name: `${props.name}-pe`,
      resourceGroupName: props.resourceGroupName,
      location: props.location,
      subnetId: placement.subnetId,
      privateServiceConnection: {
        name: `${props.name}-psc`,
        privateConnectionResourceId: this.id,
        subresourceNames: ['managedhsm'],
        isManualConnection: false,
      },
      privateDnsZoneGroup: { name: 'managedhsm', privateDnsZoneIds: [zone.id] },
      tags: props.tags,
    });
  }

  private addDiagnostics(props: ManagedHsmProps): MonitorDiagnosticSetting {
    const workspaceId =
      props.logAnalyticsWorkspaceId ??
      new LogAnalyticsWorkspace(this, 'LogAnalytics', {
        name: `${props.name}-logs`,
        resourceGroupName: props.resourceGroupName,
        location: props.location,
        sku: 'PerGB2018',
        retentionInDays: 90,
        tags: props.tags,
      }).id;
    return new MonitorDiagnosticSetting(this, 'Diagnostics', {
      name: `${props.name}-audit`,
      targetResourceId: this.id,
      logAnalyticsWorkspaceId: workspaceId,
      enabledLog: [{ category: 'AuditEvent' }],
      enabledMetric: [{ category: 'AllMetrics' }],
    });
  }
}
