import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';

/**
 * The estate as `cdktf synth` wrote it, read back from cdk.tf.json with references resolved to literal
 * values: what the dry-run provisions in the simulator comes from here, not from the config, so the
 * rehearsal exercises exactly what Terraform would deploy.
 */
export interface SynthesizedEstate {
  readonly dedicatedHsms: SynthesizedDedicatedHsm[];
  readonly managedHsms: SynthesizedManagedHsm[];
  /** VMs that become Luna clients, with the IPs of their synthesized NICs. */
  readonly vms: Array<{ readonly stack: string; readonly name: string; readonly kind: 'linux' | 'windows'; readonly privateIp?: string }>;
  /** Everything the simulator does not run (network, VMs, gateway, DNS, diagnostics...), counted by type. */
  readonly notSimulated: Array<{ readonly stack: string; readonly type: string; readonly names: string[] }>;
}

export interface SynthesizedDedicatedHsm {
  readonly stack: string;
  readonly name: string;
  readonly resourceGroup: string;
  readonly location: string;
  readonly sku: string;
  readonly stampId?: string;
  readonly zones?: string[];
  readonly subnetId: string;
  readonly privateIps: string[];
  readonly tags: Record<string, string>;
}

export interface SynthesizedKey {
  readonly name: string;
  readonly keyType: string;
  readonly keySize?: number;
  readonly curve?: string;
  readonly keyOps: string[];
  readonly expirationDate?: string;
  readonly rotation?: { expireAfter: string; timeAfterCreation?: string; timeBeforeExpiry?: string };
}

export interface SynthesizedManagedHsm {
  readonly stack: string;
  readonly name: string;
  readonly resourceGroup: string;
  readonly location: string;
  readonly sku: string;
  readonly tenantId: string;
  readonly adminObjectIds: string[];
  readonly purgeProtection: boolean;
  readonly softDeleteRetentionDays: number;
  readonly publicNetworkAccess: boolean;
  readonly tags: Record<string, string>;
  readonly keys: SynthesizedKey[];
  readonly roleAssignments: Array<{ readonly name: string; readonly roleDefinitionId: string; readonly principalId: string; readonly scope: string }>;
}

type Json = Record<string, any>;
const SIMULATED = new Set([
  'azurerm_dedicated_hardware_security_module',
  'azurerm_key_vault_managed_hardware_security_module',
  'azurerm_key_vault_managed_hardware_security_module_key',
  'azurerm_key_vault_managed_hardware_security_module_key_rotation_policy',
  'azurerm_key_vault_managed_hardware_security_module_role_assignment',
]);
const REF = /^\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}$/;

/** Resolves references between the resources of one synthesized stack to the literal values they stand for. */
class StackResolver {
  constructor(private readonly tf: Json, private readonly subscriptionId: string) {}

  resource(type: string, id: string, data = false): Json {
    const found = (data ? this.tf.data : this.tf.resource)?.[type]?.[id];
    if (!found) throw new Error(`the synthesized JSON refers to ${data ? 'data.' : ''}${type}.${id}, which it does not contain`);
    return found;
  }

  value(v: unknown): any {
    if (typeof v !== 'string') return v;
    const m = REF.exec(v);
    if (!m) {
      if (v.includes('${')) throw new Error(`cannot resolve the expression ${v} without Azure`);
      return v;
    }
    const [, data, type, id, attr] = m;
    const r = this.resource(type, id, Boolean(data));
    if (attr === 'id') return this.armId(type, r);
    if (attr in r) return this.value(r[attr]);
    throw new Error(`${type}.${id}.${attr} is only known after apply`);
  }

  /** The ARM id a resource gets in Azure, built from its literal names. */
  armId(type: string, r: Json): string {
    const rg = `/subscriptions/${this.subscriptionId}/resourceGroups/${this.value(r.resource_group_name ?? r.name)}`;
    switch (type) {
      case 'azurerm_resource_group':
        return rg;
      case 'azurerm_virtual_network':
        return `${rg}/providers/Microsoft.Network/virtualNetworks/${this.value(r.name)}`;
      case 'azurerm_subnet':
        return `${rg}/providers/Microsoft.Network/virtualNetworks/${this.value(r.virtual_network_name)}/subnets/${this.value(r.name)}`;
      case 'azurerm_key_vault_managed_hardware_security_module':
        return `${rg}/providers/Microsoft.KeyVault/managedHSMs/${this.value(r.name)}`;
      case 'azurerm_dedicated_hardware_security_module':
        return `${rg}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs/${this.value(r.name)}`;
      default:
        return `${rg}/providers/${type}/${this.value(r.name)}`;
    }
  }
}

function list(tf: Json, type: string): Array<[string, Json]> {
  return Object.entries(tf.resource?.[type] ?? {});
}

function blocks(v: unknown): Json[] {
  return v === undefined || v === null ? [] : ((Array.isArray(v) ? v : [v]) as Json[]);
}

export function readStack(stack: string, tf: Json, subscriptionId: string): SynthesizedEstate {
  const r = new StackResolver(tf, subscriptionId);
  const refersTo = (value: unknown, type: string, id: string) => typeof value === 'string' && value.startsWith(`\${${type}.${id}.`);

  const dedicatedHsms = list(tf, 'azurerm_dedicated_hardware_security_module').map(([, h]) => ({
    stack,
    name: r.value(h.name),
    resourceGroup: r.value(h.resource_group_name),
    location: r.value(h.location),
    sku: r.value(h.sku_name),
    stampId: h.stamp_id,
    zones: h.zones,
    subnetId: r.value(h.network_profile.subnet_id),
    privateIps: (h.network_profile.network_interface_private_ip_addresses ?? []).map((ip: string) => r.value(ip)),
    tags: h.tags ?? {},
  }));

  const managedHsms = list(tf, 'azurerm_key_vault_managed_hardware_security_module').map(([hsmId, h]) => {
    const keys = list(tf, 'azurerm_key_vault_managed_hardware_security_module_key')
      .filter(([, k]) => refersTo(k.managed_hsm_id, 'azurerm_key_vault_managed_hardware_security_module', hsmId))
      .map(([keyId, k]) => {
        const policy = list(tf, 'azurerm_key_vault_managed_hardware_security_module_key_rotation_policy').find(([, p]) =>
          refersTo(p.managed_hsm_key_id, 'azurerm_key_vault_managed_hardware_security_module_key', keyId),
        )?.[1];
        return {
          name: r.value(k.name),
          keyType: k.key_type,
          keySize: k.key_size,
          curve: k.curve,
          keyOps: k.key_opts,
          expirationDate: k.expiration_date,
          rotation: policy && { expireAfter: policy.expire_after, timeAfterCreation: policy.time_after_creation, timeBeforeExpiry: policy.time_before_expiry },
        };
      });
    const roleAssignments = list(tf, 'azurerm_key_vault_managed_hardware_security_module_role_assignment')
      .filter(([, a]) => refersTo(a.managed_hsm_id, 'azurerm_key_vault_managed_hardware_security_module', hsmId))
      .map(([, a]) => ({ name: a.name, roleDefinitionId: a.role_definition_id, principalId: a.principal_id, scope: a.scope }));
    return {
      stack,
      name: r.value(h.name),
      resourceGroup: r.value(h.resource_group_name),
      location: r.value(h.location),
      sku: h.sku_name,
      tenantId: h.tenant_id,
      adminObjectIds: h.admin_object_ids,
      purgeProtection: h.purge_protection_enabled === true,
      softDeleteRetentionDays: h.soft_delete_retention_days ?? 90,
      publicNetworkAccess: h.public_network_access_enabled !== false,
      tags: h.tags ?? {},
      keys,
      roleAssignments,
    };
  });

  const nicIp = (nicRef: string): string | undefined => {
    const m = REF.exec(nicRef);
    if (!m) return undefined;
    const nic = r.resource(m[2], m[3]);
    const ip = blocks(nic.ip_configuration)[0]?.private_ip_address;
    return ip === undefined ? undefined : r.value(ip);
  };
  const vms = [
    ...list(tf, 'azurerm_linux_virtual_machine').map(([, v]) => ({ kind: 'linux' as const, v })),
    ...list(tf, 'azurerm_windows_virtual_machine').map(([, v]) => ({ kind: 'windows' as const, v })),
  ].map(({ kind, v }) => ({ stack, name: r.value(v.name), kind, privateIp: nicIp(v.network_interface_ids?.[0]) }));

  const notSimulated = Object.entries((tf.resource ?? {}) as Record<string, Json>)
    .filter(([type]) => !SIMULATED.has(type))
    .map(([type, byId]) => ({ stack, type, names: Object.values(byId).map((x: Json) => String(x.name ?? x.plan ?? '')) }))
    .sort((a, b) => a.type.localeCompare(b.type));

  return { dedicatedHsms, managedHsms, vms, notSimulated };
}

/** Reads every stack of a cdktf output folder (cdktf.out/stacks/<stack>/cdk.tf.json). */
export function readSynthesizedEstate(outdir: string, subscriptionId: string): SynthesizedEstate {
  const stacksDir = join(outdir, 'stacks');
  const parts = readdirSync(stacksDir)
    .sort()
    .map((stack) => readStack(stack, JSON.parse(readFileSync(join(stacksDir, stack, 'cdk.tf.json'), 'utf8')), subscriptionId));
  return {
    dedicatedHsms: parts.flatMap((p) => p.dedicatedHsms),
    managedHsms: parts.flatMap((p) => p.managedHsms),
    vms: parts.flatMap((p) => p.vms),
    notSimulated: parts.flatMap((p) => p.notSimulated),
  };
}
