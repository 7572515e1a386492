import { KeyVaultManagedHardwareSecurityModule } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module';
import { KeyVaultManagedHardwareSecurityModuleRoleAssignment } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module-role-assignment';
import { KeyVaultManagedHardwareSecurityModuleRoleDefinition } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module-role-definition';
import { LogAnalyticsWorkspace } from '@cdktf/provider-azurerm/lib/log-analytics-workspace';
import { MonitorDiagnosticSetting } from '@cdktf/provider-azurerm/lib/monitor-diagnostic-setting';
import { PrivateDnsZone } from '@cdktf/provider-azurerm/lib/private-dns-zone';
import { PrivateDnsZoneVirtualNetworkLink } from '@cdktf/provider-azurerm/lib/private-dns-zone-virtual-network-link';
import { ManagementLock } from '@cdktf/provider-azurerm/lib/management-lock';
import { PrivateEndpoint } from '@cdktf/provider-azurerm/lib/private-endpoint';
import { Construct } from 'constructs';
import { createHash } from 'crypto';
import { parseIpv4 } from './cidr';
import { addDeleteLock } from './delete-lock';
import { deterministicGuid } from './deterministic-guid';
import { ManagedHsmKey, ManagedHsmKeyProps } from './managed-hsm-key';
import { requireHsmProviderFeatures } from './provider-features';
import { MANAGED_HSM_ROLE_NAMES, ManagedHsmRoleName, roleDefinitionResourceId } from './managed-hsm-roles';
import { checkTimeouts, ResourceTimeouts } from './resource-timeouts';
import { checkGuid, checkIntRange, checkName, checkOneOf, fail, isKnown } from './validation';

/**
 * The SKUs azurerm 4.x accepts for sku_name (its schema validates Standard_B1 only). The ARM API also knows
 * Custom_B6, Custom_B32, Custom_C10 and Custom_C42, which azurerm refuses at plan time.
 */
export const MANAGED_HSM_SKUS = ['Standard_B1'] as const;
export type ManagedHsmSku = (typeof MANAGED_HSM_SKUS)[number];
export const MANAGED_HSM_PRIVATE_DNS_ZONE = 'privatelink.managedhsm.azure.net';

export interface ManagedHsmRoleAssignmentProps {
  /** A built-in role, e.g. 'Managed HSM Crypto User', or the roleName of a custom role defined on this HSM. */
  readonly role: ManagedHsmRoleName | string;
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
  /**
   * VNet linked to the new privatelink.managedhsm.azure.net zone so names resolve to the endpoint. Required
   * unless privateDnsZoneId is given.
   */
  readonly virtualNetworkId?: string;
  /**
   * An existing privatelink.managedhsm.azure.net zone (a hub's, in hub-and-spoke landing zones) to register
   * the endpoint in, instead of a new zone and VNet link.
   * @default a new zone in the HSM's resource group, linked to virtualNetworkId
   */
  readonly privateDnsZoneId?: string;
  /** A static private IP for the endpoint's NIC, inside subnetId. @default dynamic */
  readonly privateIpAddress?: string;
}

/** A custom Managed HSM local RBAC role (what the built-in roles do not cut finely enough). */
export interface ManagedHsmRoleDefinitionProps {
  /** The name role assignments use, 1-128 characters. */
  readonly roleName: string;
  /** @default none */
  readonly description?: string;
  /** Data actions, e.g. 'Microsoft.KeyVault/managedHsm/keys/sign/action'. */
  readonly dataActions: string[];
  /** @default [] */
  readonly notDataActions?: string[];
}

/** Where the audit logs go besides (or instead of) Log Analytics. */
export interface ManagedHsmDiagnosticsProps {
  /** @default a new workspace `<name>-logs`, unless a storage account or event hub is given */
  readonly logAnalyticsWorkspaceId?: string;
  /** A storage account that archives the logs. @default none */
  readonly storageAccountId?: string;
  /** An Event Hubs namespace authorization rule id that streams the logs (SIEM). @default none */
  readonly eventHubAuthorizationRuleId?: string;
  /** @default the namespace's default event hub */
  readonly eventHubName?: string;
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
  /** @default 'Standard_B1' (the only SKU azurerm 4.x accepts) */
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
   * Log Analytics workspace that receives AuditEvent logs and all metrics (same as diagnostics.logAnalyticsWorkspaceId).
   * @default a new workspace named `<name>-logs`, 90 days retention
   */
  readonly logAnalyticsWorkspaceId?: string;
  /** Destinations of the AuditEvent logs and metrics. @default a new Log Analytics workspace */
  readonly diagnostics?: ManagedHsmDiagnosticsProps;
  /** Custom roles, defined before the role assignments that use them. @default [] */
  readonly roleDefinitions?: ManagedHsmRoleDefinitionProps[];
  /** @default [] */
  readonly roleAssignments?: ManagedHsmRoleAssignmentProps[];
  /** @default [] */
  readonly keys?: Array<Omit<ManagedHsmKeyProps, 'managedHsmId' | 'dependsOn'>>;
  /** @default {} */
  readonly tags?: Record<string, string>;
  /** @default the provider's (create 60m, delete 60m) */
  readonly timeouts?: ResourceTimeouts;
  /**
   * Leaves out `lifecycle.prevent_destroy` on the HSM and (unless a key says otherwise) its keys, so
   * `cdktf destroy` or a change that forces replacement (tenant, admins, name) deletes them; with the
   * security domain, every key is then gone for good. Only for throwaway test deployments.
   * @default false (Terraform refuses any plan that destroys the HSM or a key)
   */
  readonly dangerouslyAllowDestroy?: boolean;
  /**
   * Leaves out the CanNotDelete management lock, so anyone with delete rights can delete the HSM through
   * Azure. Only for throwaway test deployments.
   * @default false (Azure refuses to delete the HSM while the lock exists)
   */
  readonly dangerouslySkipDeleteLock?: boolean;
}

const NAME_RULE = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const ROLE_NAME_RULE = /^.{1,128}$/;
/**
 * A Managed HSM data action, e.g. Microsoft.KeyVault/managedHsm/keys/sign/action. Case-insensitive:
 * Microsoft's own pages write the prefix as Microsoft.KeyVault/managedHSM/.
 */
export const MANAGED_HSM_DATA_ACTION = /^Microsoft\.KeyVault\/managedHsm\/([A-Za-z]+\/)*([A-Za-z]+|\*)(\/action)?$/i;
/** A local RBAC scope: "/" and "/keys" (both HSM-wide) or "/keys/<key name>". */
export const MANAGED_HSM_ROLE_SCOPE = /^(\/|\/keys|\/keys\/[a-zA-Z0-9-]{1,127})$/;
const RESOURCE_ID_RULE = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/[^/]+\/.+$/i;

/**
 * The construct id of a custom role: its name (what a reader recognises) and a short hash of the raw name
 * (two names that sanitise alike stay apart). No list index: removing or reordering an entry must not
 * rename, and so replace, the others and their assignments.
 */
function roleDefinitionId(roleName: string): string {
  const hash = createHash('sha256').update(roleName).digest('hex').slice(0, 8);
  return `RoleDefinition-${roleName.replace(/[^A-Za-z0-9-]/g, '')}-${hash}`;
}

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
  readonly roleDefinitions: KeyVaultManagedHardwareSecurityModuleRoleDefinition[] = [];
  readonly privateEndpoint?: PrivateEndpoint;
  readonly diagnosticSetting: MonitorDiagnosticSetting;
  /** The CanNotDelete lock on the HSM (absent with dangerouslySkipDeleteLock). */
  readonly deleteLock?: ManagementLock;
  private readonly keysAllowDestroy: boolean;

  constructor(scope: Construct, id: string, props: ManagedHsmProps) {
    super(scope, id);
    requireHsmProviderFeatures(this);
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
    checkTimeouts(this, 'timeouts', props.timeouts);
    this.keysAllowDestroy = props.dangerouslyAllowDestroy === true;

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
      timeouts: props.timeouts,
      lifecycle: props.dangerouslyAllowDestroy ? undefined : { preventDestroy: true },
    });
    this.id = this.resource.id;
    this.name = this.resource.name;
    this.hsmUri = this.resource.hsmUri;
    if (!props.dangerouslySkipDeleteLock) this.deleteLock = addDeleteLock(this, 'DeleteLock', props.name, this.id);

    if (props.privateEndpoint) this.privateEndpoint = this.addPrivateEndpoint(props, props.privateEndpoint);
    this.diagnosticSetting = this.addDiagnostics(props);

    for (const definition of props.roleDefinitions ?? []) this.addRoleDefinition(definition);
    for (const assignment of props.roleAssignments ?? []) this.addRoleAssignment(assignment);
    for (const key of props.keys ?? []) this.addKey(key);
  }

  /** Defines a custom local RBAC role on this HSM; role assignments name it by its roleName. */
  addRoleDefinition(definition: ManagedHsmRoleDefinitionProps): KeyVaultManagedHardwareSecurityModuleRoleDefinition {
    const index = this.roleDefinitions.length;
    const prop = `roleDefinitions[${index}]`;
    checkName(this, `${prop}.roleName`, definition.roleName, ROLE_NAME_RULE, '1-128 characters');
    if ((MANAGED_HSM_ROLE_NAMES as string[]).includes(definition.roleName) || this.roleDefinitions.some((d) => d.roleNameInput === definition.roleName)) {
      fail(this, `${prop}.roleName`, definition.roleName, 'a name no built-in or other custom role of this HSM has');
    }
    if (!Array.isArray(definition.dataActions) || definition.dataActions.length === 0) {
      fail(this, `${prop}.dataActions`, definition.dataActions, 'one or more data actions such as Microsoft.KeyVault/managedHsm/keys/sign/action');
    }
    for (const [field, actions] of [['dataActions', definition.dataActions], ['notDataActions', definition.notDataActions ?? []]] as const) {
      actions.forEach((a, i) => {
        if (isKnown(a) && !MANAGED_HSM_DATA_ACTION.test(a)) fail(this, `${prop}.${field}[${i}]`, a, 'a Managed HSM data action such as Microsoft.KeyVault/managedHsm/keys/sign/action');
      });
    }
    const resource = new KeyVaultManagedHardwareSecurityModuleRoleDefinition(this, roleDefinitionId(definition.roleName), {
      managedHsmId: this.id,
      name: deterministicGuid(this.node.path, 'role-definition', definition.roleName),
      roleName: definition.roleName,
      description: definition.description,
      permission: [{ dataActions: definition.dataActions, notDataActions: definition.notDataActions }],
    });
    this.roleDefinitions.push(resource);
    return resource;
  }

  /** Grants a built-in role, or a custom role of this HSM, to a principal at a scope of this HSM. */
  addRoleAssignment(assignment: ManagedHsmRoleAssignmentProps): KeyVaultManagedHardwareSecurityModuleRoleAssignment {
    const scope = assignment.scope ?? '/keys';
    const index = this.roleAssignments.length;
    const custom = this.roleDefinitions.find((d) => d.roleNameInput === assignment.role);
    if (!custom) {
      checkOneOf(this, `roleAssignments[${index}].role`, assignment.role, [...MANAGED_HSM_ROLE_NAMES, ...this.roleDefinitions.map((d) => d.roleNameInput!)]);
    }
    checkGuid(this, `roleAssignments[${index}].principalId`, assignment.principalId);
    if (!MANAGED_HSM_ROLE_SCOPE.test(scope)) fail(this, `roleAssignments[${index}].scope`, scope, '"/", "/keys" or "/keys/<key name>"');
    const name = deterministicGuid(this.node.path, assignment.role, assignment.principalId, scope);
    const resource = new KeyVaultManagedHardwareSecurityModuleRoleAssignment(this, `RoleAssignment-${name}`, {
      managedHsmId: this.id,
      name,
      principalId: assignment.principalId,
      roleDefinitionId: custom ? custom.resourceManagerId : roleDefinitionResourceId(assignment.role as ManagedHsmRoleName),
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
    const created = new ManagedHsmKey(this, `Key-${key.name}`, {
      ...key,
      dangerouslyAllowDestroy: key.dangerouslyAllowDestroy ?? this.keysAllowDestroy,
      managedHsmId: this.id,
      dependsOn: [...this.roleAssignments],
    });
    this.keys.push(created);
    return created;
  }

  private addPrivateEndpoint(props: ManagedHsmProps, placement: ManagedHsmPrivateEndpointProps): PrivateEndpoint {
    if (placement.privateDnsZoneId !== undefined && isKnown(placement.privateDnsZoneId) && !/\/providers\/Microsoft\.Network\/privateDnsZones\/privatelink\.managedhsm\.azure\.net$/i.test(placement.privateDnsZoneId)) {
      fail(this, 'privateEndpoint.privateDnsZoneId', placement.privateDnsZoneId, `the resource id of an existing ${MANAGED_HSM_PRIVATE_DNS_ZONE} private DNS zone`);
    }
    if (placement.privateDnsZoneId === undefined && placement.virtualNetworkId === undefined) {
      fail(this, 'privateEndpoint.virtualNetworkId', undefined, 'the VNet to link a new private DNS zone to, or privateDnsZoneId (an existing zone)');
    }
    if (placement.privateIpAddress !== undefined && isKnown(placement.privateIpAddress) && parseIpv4(placement.privateIpAddress) === undefined) {
      fail(this, 'privateEndpoint.privateIpAddress', placement.privateIpAddress, 'an IPv4 address in the endpoint subnet');
    }
    const zoneId = placement.privateDnsZoneId ?? this.addPrivateDnsZone(props, placement.virtualNetworkId!);
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
      privateDnsZoneGroup: { name: 'managedhsm', privateDnsZoneIds: [zoneId] },
      // The member name is left to azurerm, which then uses the subresource name (managedhsm).
      ipConfiguration: placement.privateIpAddress === undefined ? undefined : [{ name: `${props.name}-pe-ip`, privateIpAddress: placement.privateIpAddress, subresourceName: 'managedhsm' }],
      tags: props.tags,
    });
  }

  private addPrivateDnsZone(props: ManagedHsmProps, virtualNetworkId: string): string {
    const zone = new PrivateDnsZone(this, 'PrivateDnsZone', {
      name: MANAGED_HSM_PRIVATE_DNS_ZONE,
      resourceGroupName: props.resourceGroupName,
      tags: props.tags,
    });
    new PrivateDnsZoneVirtualNetworkLink(this, 'PrivateDnsZoneLink', {
      name: `${props.name}-dns-link`,
      resourceGroupName: props.resourceGroupName,
      privateDnsZoneName: zone.name,
      virtualNetworkId,
      registrationEnabled: false,
      tags: props.tags,
    });
    return zone.id;
  }

  private addDiagnostics(props: ManagedHsmProps): MonitorDiagnosticSetting {
    const d = props.diagnostics ?? {};
    if (props.logAnalyticsWorkspaceId !== undefined && d.logAnalyticsWorkspaceId !== undefined && props.logAnalyticsWorkspaceId !== d.logAnalyticsWorkspaceId) {
      fail(this, 'diagnostics.logAnalyticsWorkspaceId', d.logAnalyticsWorkspaceId, `the same workspace as logAnalyticsWorkspaceId (${props.logAnalyticsWorkspaceId}), or only one of them`);
    }
    for (const [prop, id] of [['logAnalyticsWorkspaceId', d.logAnalyticsWorkspaceId ?? props.logAnalyticsWorkspaceId], ['storageAccountId', d.storageAccountId], ['eventHubAuthorizationRuleId', d.eventHubAuthorizationRuleId]] as const) {
      if (id !== undefined && isKnown(id) && !RESOURCE_ID_RULE.test(id)) fail(this, `diagnostics.${prop}`, id, 'an Azure resource id (/subscriptions/.../resourceGroups/.../providers/...)');
    }
    if (d.eventHubName !== undefined && d.eventHubAuthorizationRuleId === undefined) {
      fail(this, 'diagnostics.eventHubName', d.eventHubName, 'only with diagnostics.eventHubAuthorizationRuleId');
    }
    const elsewhere = d.storageAccountId !== undefined || d.eventHubAuthorizationRuleId !== undefined;
    const workspaceId =
      d.logAnalyticsWorkspaceId ??
      props.logAnalyticsWorkspaceId ??
      (elsewhere ? undefined : new LogAnalyticsWorkspace(this, 'LogAnalytics', {
        name: `${props.name}-logs`,
        resourceGroupName: props.resourceGroupName,
        location: props.location,
        sku: 'PerGB2018',
        retentionInDays: 90,
        tags: props.tags,
      }).id);
    return new MonitorDiagnosticSetting(this, 'Diagnostics', {
      name: `${props.name}-audit`,
      targetResourceId: this.id,
      logAnalyticsWorkspaceId: workspaceId,
      storageAccountId: d.storageAccountId,
      eventhubAuthorizationRuleId: d.eventHubAuthorizationRuleId,
      eventhubName: d.eventHubName,
      enabledLog: [{ category: 'AuditEvent' }],
      enabledMetric: [{ category: 'AllMetrics' }],
    });
  }
}
