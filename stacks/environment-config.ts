import { readFileSync } from 'fs';
import { DEDICATED_HSM_SKUS, DedicatedHsmSku, Stamp, STAMPS } from '../constructs/dedicated-hsm';
import { EXPRESS_ROUTE_GATEWAY_SKUS, ExpressRouteGatewaySku } from '../constructs/hsm-network';
import { EC_CURVES, KEY_TYPES, ManagedHsmKeyProps } from '../constructs/managed-hsm-key';
import { MANAGED_HSM_DATA_ACTION, MANAGED_HSM_ROLE_SCOPE, MANAGED_HSM_SKUS, ManagedHsmSku } from '../constructs/managed-hsm';
import { MANAGED_HSM_ROLE_NAMES, ManagedHsmRoleName } from '../constructs/managed-hsm-roles';
import { GO_DURATION } from '../constructs/resource-timeouts';
import { POLICY_RULES, PolicyRule } from '../policy/rules';
import { duplicateAddressProblems } from './private-addresses';
import { arrayOf, bool, int, obj, oneOfStrings, optional, recordOf, Schema, str, validate } from './schema';

/** One environment (dev, prod, ...) of the HSM estate, as written in config/<env>.json. */
export interface EnvironmentConfig {
  /** Environment name; stacks are named hsm-<name> and hsm-<name>-dr. */
  readonly name: string;
  /** Azure subscription; when absent the azurerm provider reads ARM_SUBSCRIPTION_ID at plan time. */
  readonly subscriptionId?: string;
  readonly tenantId: string;
  readonly location: string;
  readonly resourceGroupName: string;
  /** @default false */
  readonly existingResourceGroup?: boolean;
  readonly namePrefix: string;
  readonly tags?: Record<string, string>;
  readonly network: NetworkConfig;
  readonly dedicatedHsm?: DedicatedHsmConfig;
  readonly managedHsm?: ManagedHsmConfig;
  readonly cipherTrustManager?: CipherTrustManagerConfig;
  readonly lunaClientHost?: LunaClientHostConfig;
  /** Firewalls (vSRX, PAN-OS) that register as Luna clients after deploy. */
  readonly firewallClients?: Array<{ readonly name: string; readonly ip: string }>;
  readonly disasterRecovery?: DisasterRecoveryConfig;
  /** @default { type: 'local' } */
  readonly backend?: BackendConfig;
  readonly policyAcknowledgements?: Array<{ readonly construct: string; readonly ruleId: string; readonly reason: string }>;
  /** A CanNotDelete lock on the resource group as well as on each HSM. @default false */
  readonly resourceGroupDeleteLock?: boolean;
  /** See hsmProviderFeatures: lets azurerm purge soft-deleted HSMs and keys on destroy. @default false */
  readonly dangerouslyPurgeSoftDeletedOnDestroy?: boolean;
}

/** Per-operation Terraform timeouts, Go durations such as 90m or 2h. */
export interface TimeoutsConfig {
  readonly create?: string;
  readonly read?: string;
  readonly update?: string;
  readonly delete?: string;
}

export interface NetworkConfig {
  readonly addressSpace?: string[];
  readonly computeSubnetCidr?: string;
  readonly hsmSubnetCidr?: string;
  readonly gatewaySubnetCidr?: string;
  readonly gatewaySku?: ExpressRouteGatewaySku;
  readonly adminCidrs: string[];
}

export interface LunaPartitionConfig {
  readonly name: string;
}

export interface DedicatedHsmConfig {
  readonly name: string;
  readonly skuName?: DedicatedHsmSku;
  /** One HSM: its private IP. With haPairFromSingleHsm, kept: the IP of the HSM the pair grew from. */
  readonly privateIpAddress?: string;
  /** An HA pair in stamp1 and stamp2: their private IPs. Not with privateIpAddress (but with haPairFromSingleHsm). */
  readonly haPairPrivateIpAddresses?: [string, string];
  readonly stampId?: Stamp;
  readonly zones?: string[];
  /**
   * The HA pair grows from the single HSM this config had before (privateIpAddress, stampId): the first
   * member keeps its Terraform address, name and stamp (moved blocks), so Terraform does not replace it.
   * Needs privateIpAddress and stampId kept from the single HSM, and haPairPrivateIpAddresses whose first
   * IP equals privateIpAddress. Keep it set for the life of the pair: without it the first member takes a
   * new address and name, and Terraform replaces the HSM.
   * @default false
   */
  readonly haPairFromSingleHsm?: boolean;
  readonly timeouts?: TimeoutsConfig;
  /** @default false */
  readonly dangerouslyAllowDestroy?: boolean;
  /** @default false */
  readonly dangerouslySkipDeleteLock?: boolean;
  /** What `hsmctl luna init` makes on each appliance. */
  readonly luna?: { readonly hsmLabel: string; readonly fipsMode?: boolean; readonly partitions: LunaPartitionConfig[] };
}

/** A key as the config declares it: the construct's props less what the stack supplies. */
export type ManagedHsmKeyConfig = Omit<ManagedHsmKeyProps, 'managedHsmId' | 'dependsOn' | 'tags' | 'notBeforeDate'>;

export interface ManagedHsmConfig {
  readonly name: string;
  readonly adminObjectIds: string[];
  readonly skuName?: ManagedHsmSku;
  readonly softDeleteRetentionDays?: number;
  readonly dangerouslyDisablePurgeProtection?: boolean;
  readonly publicNetworkAccessEnabled?: boolean;
  /** A workspace for the audit logs (any region: the DR HSM sends there too). @default a new one */
  readonly logAnalyticsWorkspaceId?: string;
  /** More audit-log destinations, in the HSM's region (the DR HSM does not use them). */
  readonly diagnostics?: DiagnosticsConfig;
  /** An existing privatelink.managedhsm.azure.net zone (a hub's) instead of a new one. */
  readonly privateDnsZoneId?: string;
  /** A static IP for the private endpoint in the Compute subnet. @default dynamic */
  readonly privateEndpointIpAddress?: string;
  readonly timeouts?: TimeoutsConfig;
  /** Applies to the HSM and its keys. @default false */
  readonly dangerouslyAllowDestroy?: boolean;
  /** @default false */
  readonly dangerouslySkipDeleteLock?: boolean;
  /** Custom local RBAC roles; role assignments name them by roleName. */
  readonly roleDefinitions?: Array<{ readonly roleName: string; readonly description?: string; readonly dataActions: string[]; readonly notDataActions?: string[] }>;
  /** Certificates and quorum for `hsmctl sd activate`. @default 3 and 2 */
  readonly securityDomain?: { readonly certificates: number; readonly quorum: number };
  /**
   * Keys and local role assignments are data-plane resources Azure accepts only after activation: leave
   * false for the first deploy, run `hsmctl sd activate`, then set true and deploy again.
   * @default false
   */
  readonly securityDomainActivated?: boolean;
  /** role: a built-in role name or the roleName of one of roleDefinitions. */
  readonly roleAssignments?: Array<{ readonly role: ManagedHsmRoleName | string; readonly principalId: string; readonly scope?: string }>;
  readonly keys?: ManagedHsmKeyConfig[];
}

/**
 * Audit-log destinations besides the workspace. Azure Monitor requires a storage account or event hub
 * namespace in the same region as the resource it receives logs from ("Diagnostic settings in Azure
 * Monitor", Destinations); a Log Analytics workspace may be in any region.
 */
export interface DiagnosticsConfig {
  readonly storageAccountId?: string;
  readonly eventHubAuthorizationRuleId?: string;
  readonly eventHubName?: string;
}

export interface CipherTrustManagerConfig {
  readonly name: string;
  readonly imageVersion: string;
  readonly sshPublicKey: string;
  readonly size?: string;
  readonly privateIpAddress?: string;
  readonly publicIp?: boolean;
  readonly customData?: string;
  readonly acceptMarketplaceTerms?: boolean;
}

export interface LunaClientHostConfig {
  readonly name: string;
  readonly adminUsername?: string;
  readonly size?: string;
  readonly privateIpAddress?: string;
  readonly publicIp?: boolean;
  readonly image?: { readonly publisher: string; readonly offer: string; readonly sku: string; readonly version: string };
}

export interface DisasterRecoveryConfig {
  readonly location: string;
  readonly resourceGroupName: string;
  readonly managedHsmName: string;
  readonly addressSpace?: string[];
  readonly computeSubnetCidr?: string;
  /**
   * The DR HSM's storage account or event hub, in the DR region. The primary's are never reused: they sit in
   * the primary's region. The DR HSM always sends to managedHsm.logAnalyticsWorkspaceId when one is given.
   * @default none (the workspace only; a new one in the DR region if the primary names none)
   */
  readonly diagnostics?: DiagnosticsConfig;
}

export type BackendConfig =
  | { readonly type: 'local'; readonly path?: string }
  | {
      readonly type: 'azurerm';
      readonly resourceGroupName: string;
      readonly storageAccountName: string;
      readonly containerName: string;
      /** @default '<stack name>.tfstate' */
      readonly key?: string;
      readonly subscriptionId?: string;
    }
  | { readonly type: 'cloud'; readonly organization: string; readonly workspace: string; readonly hostname?: string };

const GUID = str(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'a GUID such as 00000000-0000-0000-0000-000000000000');
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = str(new RegExp(`^${OCTET}(\\.${OCTET}){3}$`), 'an IPv4 address such as 10.2.1.8');
const CIDR = str(new RegExp(`^${OCTET}(\\.${OCTET}){3}/(3[0-2]|[12]?\\d)$`), 'an IPv4 CIDR such as 10.2.0.0/24');
const NAME = str(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/, 'letters, digits and hyphens, starting with a letter or digit');
const LOCATION = str(/^[a-z][a-z0-9]{2,30}$/, 'an Azure region name such as westeurope');
const DURATION = str(/^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/, 'an ISO 8601 duration such as P90D or P1Y');
const RFC3339 = str(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, 'an RFC 3339 timestamp such as 2027-01-01T00:00:00Z');
const GO_DURATION_STR = str(GO_DURATION, 'a duration such as 90m, 2h or 1h30m');
const TIMEOUTS = obj({ create: optional(GO_DURATION_STR), read: optional(GO_DURATION_STR), update: optional(GO_DURATION_STR), delete: optional(GO_DURATION_STR) });
const DATA_ACTION = str(MANAGED_HSM_DATA_ACTION, 'a Managed HSM data action such as Microsoft.KeyVault/managedHsm/keys/sign/action');
const RESOURCE_ID = (provider: string, example: string) => str(new RegExp(`^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/${provider.replace(/[./]/g, (c) => `\\${c}`)}/.+$`, 'i'), example);
const DIAGNOSTICS = obj({
  storageAccountId: optional(RESOURCE_ID('Microsoft.Storage/storageAccounts', 'a storage account resource id')),
  eventHubAuthorizationRuleId: optional(RESOURCE_ID('Microsoft.EventHub/namespaces', 'an Event Hubs namespace authorization rule resource id')),
  eventHubName: optional(str(/^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/, 'an event hub name')),
});
const RESOURCE_GROUP = str(/^[-\w._()]{0,89}[-\w_()]$/, 'a resource group name: 1-90 letters, digits, _ - . ( ), not ending with a dot');

export const ENVIRONMENT_SCHEMA: Schema = obj({
  name: str(/^[a-z][a-z0-9-]{0,19}$/, '1-20 lowercase letters, digits and hyphens, starting with a letter'),
  subscriptionId: optional(GUID),
  tenantId: GUID,
  location: LOCATION,
  resourceGroupName: RESOURCE_GROUP,
  existingResourceGroup: optional(bool),
  namePrefix: str(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$/, '1-40 letters, digits or hyphens'),
  tags: optional(recordOf(str(/^.{0,256}$/, 'a string of at most 256 characters'))),
  network: obj({
    addressSpace: optional(arrayOf(CIDR, 1)),
    computeSubnetCidr: optional(CIDR),
    hsmSubnetCidr: optional(CIDR),
    gatewaySubnetCidr: optional(CIDR),
    gatewaySku: optional(oneOfStrings(EXPRESS_ROUTE_GATEWAY_SKUS)),
    adminCidrs: arrayOf(CIDR),
  }),
  dedicatedHsm: optional(
    obj({
      name: str(/^[a-zA-Z0-9-]{3,22}$/, '3-22 letters, digits or hyphens (a pair adds -1 and -2)'),
      skuName: optional(oneOfStrings(DEDICATED_HSM_SKUS)),
      privateIpAddress: optional(IPV4),
      haPairPrivateIpAddresses: optional(arrayOf(IPV4, 2, 2)),
      stampId: optional(oneOfStrings(STAMPS)),
      zones: optional(arrayOf(oneOfStrings(['1', '2', '3']), 1, 3)),
      haPairFromSingleHsm: optional(bool),
      timeouts: optional(TIMEOUTS),
      dangerouslyAllowDestroy: optional(bool),
      dangerouslySkipDeleteLock: optional(bool),
      luna: optional(
        obj({
          hsmLabel: str(/^[A-Za-z0-9_-]{1,32}$/, '1-32 letters, digits, _ or -'),
          fipsMode: optional(bool),
          partitions: arrayOf(obj({ name: str(/^[A-Za-z0-9_-]{1,32}$/, '1-32 letters, digits, _ or -') }), 1, 100),
        }),
      ),
    }),
  ),
  managedHsm: optional(
    obj({
      name: str(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/, '3-24 letters, digits and hyphens, starting with a letter'),
      adminObjectIds: arrayOf(GUID, 1),
      skuName: optional(oneOfStrings(MANAGED_HSM_SKUS)),
      softDeleteRetentionDays: optional(int(7, 90)),
      dangerouslyDisablePurgeProtection: optional(bool),
      publicNetworkAccessEnabled: optional(bool),
      logAnalyticsWorkspaceId: optional(str(/^\/subscriptions\/.+\/workspaces\/.+$/i, 'a Log Analytics workspace resource id')),
      diagnostics: optional(DIAGNOSTICS),
      privateDnsZoneId: optional(RESOURCE_ID('Microsoft.Network/privateDnsZones', 'the resource id of an existing privatelink.managedhsm.azure.net zone')),
      privateEndpointIpAddress: optional(IPV4),
      timeouts: optional(TIMEOUTS),
      dangerouslyAllowDestroy: optional(bool),
      dangerouslySkipDeleteLock: optional(bool),
      roleDefinitions: optional(
        arrayOf(
          obj({
            roleName: str(/^.{1,128}$/, '1-128 characters'),
            description: optional(str(/^.{0,1024}$/, 'at most 1024 characters')),
            dataActions: arrayOf(DATA_ACTION, 1),
            notDataActions: optional(arrayOf(DATA_ACTION)),
          }),
        ),
      ),
      securityDomain: optional(obj({ certificates: int(3, 10), quorum: int(2, 10) })),
      securityDomainActivated: optional(bool),
      roleAssignments: optional(
        arrayOf(obj({ role: str(/^.{1,128}$/, `a built-in role (${MANAGED_HSM_ROLE_NAMES.join(', ')}) or the roleName of one of roleDefinitions`), principalId: GUID, scope: optional(str(MANAGED_HSM_ROLE_SCOPE, '"/", "/keys" or "/keys/<key name>"')) })),
      ),
      keys: optional(
        arrayOf(
          obj({
            name: str(/^[a-zA-Z0-9-]{1,127}$/, '1-127 letters, digits and hyphens'),
            keyType: oneOfStrings(KEY_TYPES),
            keySize: optional(int(128, 4096)),
            curve: optional(oneOfStrings(EC_CURVES)),
            keyOps: optional(arrayOf(oneOfStrings(['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import']), 1)),
            expirationDate: optional(RFC3339),
            rotation: optional(obj({ expireAfter: DURATION, timeAfterCreation: optional(DURATION), timeBeforeExpiry: optional(DURATION) })),
          }),
        ),
      ),
    }),
  ),
  cipherTrustManager: optional(
    obj({
      name: NAME,
      imageVersion: str(/^\d+\.\d+\.\d+$/, 'a pinned image version such as 2.6.6506'),
      sshPublicKey: str(/^ssh-rsa [A-Za-z0-9+/]+={0,2}( .*)?$/, 'an OpenSSH RSA public key line: "ssh-rsa AAAA... comment"'),
      size: optional(str(/^Standard_[A-Za-z0-9_]+$/, 'an Azure VM size such as Standard_F4s_v2')),
      privateIpAddress: optional(IPV4),
      publicIp: optional(bool),
      customData: optional(str()),
      acceptMarketplaceTerms: optional(bool),
    }),
  ),
  lunaClientHost: optional(
    obj({
      name: str(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,14}$/, '1-15 letters, digits and hyphens'),
      adminUsername: optional(str(/^[a-zA-Z][a-zA-Z0-9._-]{0,19}$/, '1-20 letters, digits, . _ -, starting with a letter')),
      size: optional(str(/^Standard_[A-Za-z0-9_]+$/, 'an Azure VM size such as Standard_D2s_v5')),
      privateIpAddress: optional(IPV4),
      publicIp: optional(bool),
      image: optional(obj({ publisher: str(), offer: str(), sku: str(), version: str() })),
    }),
  ),
  firewallClients: optional(arrayOf(obj({ name: str(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 letters, digits, _ . -'), ip: IPV4 }))),
  disasterRecovery: optional(
    obj({
      location: LOCATION,
      resourceGroupName: RESOURCE_GROUP,
      managedHsmName: str(/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/, '3-24 letters, digits and hyphens, starting with a letter'),
      addressSpace: optional(arrayOf(CIDR, 1)),
      computeSubnetCidr: optional(CIDR),
      diagnostics: optional(DIAGNOSTICS),
    }),
  ),
  backend: optional({
    kind: 'oneOf',
    discriminator: 'type',
    variants: {
      local: obj({ type: oneOfStrings(['local']), path: optional(str(/^[^\0]+$/, 'a file path')) }),
      azurerm: obj({
        type: oneOfStrings(['azurerm']),
        resourceGroupName: RESOURCE_GROUP,
        storageAccountName: str(/^[a-z0-9]{3,24}$/, '3-24 lowercase letters and digits'),
        containerName: str(/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/, '3-63 lowercase letters, digits and single hyphens'),
        key: optional(str(/^[^\0]{1,1024}$/, 'a blob name')),
        subscriptionId: optional(GUID),
      }),
      cloud: obj({
        type: oneOfStrings(['cloud']),
        organization: str(/^[A-Za-z0-9_-]{1,64}$/, 'an HCP Terraform organization name'),
        workspace: str(/^[A-Za-z0-9_-]{1,90}$/, 'a workspace name: letters, digits, _ or -'),
        hostname: optional(str(/^[a-z0-9.-]+$/, 'a host name such as app.terraform.io')),
      }),
    },
  }),
  resourceGroupDeleteLock: optional(bool),
  dangerouslyPurgeSoftDeletedOnDestroy: optional(bool),
  policyAcknowledgements: optional(
    arrayOf(obj({ construct: str(/^[A-Za-z0-9/_-]+$/, 'a construct path inside the stack, e.g. ManagedHsm'), ruleId: oneOfStrings(POLICY_RULES.map((r: PolicyRule) => r.id)), reason: str(/^.{10,}$/, 'a reason of at least 10 characters') })),
  ),
});

export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: invalid environment config:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Cross-field rules the schema cannot express. */
function crossFieldProblems(c: EnvironmentConfig): string[] {
  const problems: string[] = [];
  const d = c.dedicatedHsm;
  if (d) {
    const grown = d.haPairFromSingleHsm === true && d.haPairPrivateIpAddresses !== undefined;
    if (grown) {
      // The first member IS the single HSM (moved blocks): its IP is kept, never assumed.
      if (d.privateIpAddress === undefined) {
        problems.push("$.dedicatedHsm.privateIpAddress: received nothing; allowed: with haPairFromSingleHsm, the single HSM's IP, kept from before (it must equal haPairPrivateIpAddresses[0])");
      } else if (d.haPairPrivateIpAddresses![0] !== d.privateIpAddress) {
        problems.push(
          `$.dedicatedHsm.haPairPrivateIpAddresses[0]: received ${JSON.stringify(d.haPairPrivateIpAddresses![0])}; allowed: with haPairFromSingleHsm, the single HSM's privateIpAddress (${JSON.stringify(d.privateIpAddress)}): the first member is that HSM, and a new IP would replace it`,
        );
      }
    } else if ((d.privateIpAddress === undefined) === (d.haPairPrivateIpAddresses === undefined)) {
      problems.push('$.dedicatedHsm: received privateIpAddress and haPairPrivateIpAddresses both or neither; allowed: exactly one of them (both only with haPairFromSingleHsm)');
    }
    if (d.stampId !== undefined && d.zones !== undefined) problems.push('$.dedicatedHsm.stampId: received both stampId and zones; allowed: one of them');
    if (d.haPairFromSingleHsm) {
      if (!d.haPairPrivateIpAddresses) problems.push('$.dedicatedHsm.haPairFromSingleHsm: received true without haPairPrivateIpAddresses; allowed: only for an HA pair');
      if (d.stampId === undefined || d.zones !== undefined) {
        problems.push(`$.dedicatedHsm.stampId: received ${JSON.stringify(d.stampId ?? null)}; allowed: with haPairFromSingleHsm, the stamp the single HSM sits in ("stamp1" or "stamp2"; a zoned HSM cannot join a stamp pair without replacement)`);
      }
    } else if (d.haPairPrivateIpAddresses && (d.stampId !== undefined || d.zones !== undefined)) {
      problems.push('$.dedicatedHsm.stampId: an HA pair is always placed in stamp1 and stamp2; allowed: no stampId or zones with haPairPrivateIpAddresses (but with haPairFromSingleHsm)');
    }
  }
  if (!d) {
    for (const field of ['hsmSubnetCidr', 'gatewaySubnetCidr', 'gatewaySku'] as const) {
      if (c.network[field] !== undefined) {
        problems.push(`$.network.${field}: received ${JSON.stringify(c.network[field])} without $.dedicatedHsm; allowed: only with a Dedicated HSM (its subnet and gateway exist only for it)`);
      }
    }
  }
  const m = c.managedHsm;
  const customRoles = (m?.roleDefinitions ?? []).map((r) => r.roleName);
  (m?.roleAssignments ?? []).forEach((a, i) => {
    if (!(MANAGED_HSM_ROLE_NAMES as string[]).includes(a.role) && !customRoles.includes(a.role)) {
      problems.push(`$.managedHsm.roleAssignments[${i}].role: received ${JSON.stringify(a.role)}; allowed: one of ${[...MANAGED_HSM_ROLE_NAMES, ...customRoles].map((r) => `"${r}"`).join(', ')}`);
    }
  });
  problems.push(...duplicateAddressProblems(c));
  const sd = c.managedHsm?.securityDomain;
  if (sd && sd.quorum > sd.certificates) {
    problems.push(`$.managedHsm.securityDomain.quorum: received ${sd.quorum}; allowed: at most certificates (${sd.certificates})`);
  }
  if (c.disasterRecovery && !c.managedHsm) problems.push('$.disasterRecovery: needs $.managedHsm (the DR stack recovers its security domain)');
  if (c.disasterRecovery && c.disasterRecovery.location === c.location) {
    problems.push(`$.disasterRecovery.location: received "${c.location}"; allowed: a region other than the primary's`);
  }
  return problems;
}

/** Which file each parsed config came from, so later errors (buildApp) name the file actually loaded. */
const CONFIG_FILES = new WeakMap<EnvironmentConfig, string>();

/** The file a config was parsed from; undefined for a config built in code (or a copy of one). */
export function configFileOf(config: EnvironmentConfig): string | undefined {
  return CONFIG_FILES.get(config);
}

export function parseEnvironmentConfig(data: unknown, file: string): EnvironmentConfig {
  const problems = validate(data, ENVIRONMENT_SCHEMA, '$');
  if (problems.length === 0) problems.push(...crossFieldProblems(data as EnvironmentConfig));
  if (problems.length > 0) throw new ConfigError(file, problems);
  CONFIG_FILES.set(data as EnvironmentConfig, file);
  return data as EnvironmentConfig;
}

export function loadEnvironmentConfig(file: string): EnvironmentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseEnvironmentConfig(data, file);
}
