import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';

/** What one synthesized stack would deploy, read back from its cdk.tf.json. */
export interface StackSummary {
  readonly stack: string;
  readonly resourceCounts: Record<string, number>;
  readonly dedicatedHsms: Array<{ name: string; sku: string; placement: string; privateIps: string[] }>;
  readonly managedHsms: Array<{ name: string; location: string; purgeProtection: boolean; softDeleteDays: number; publicNetworkAccess: boolean; keys: number; roleAssignments: number }>;
  readonly adminCidrs: string[];
  readonly backend: string;
  readonly outputs: string[];
}

type Json = Record<string, any>;

function backendOf(tf: Json): string {
  const [type, settings] = Object.entries((tf.terraform?.backend ?? {}) as Json)[0] ?? [];
  if (tf.terraform?.cloud) return `HCP Terraform (${tf.terraform.cloud.organization})`;
  if (!type) return 'none';
  if (type === 'local') return `local (${settings.path})`;
  if (type === 'azurerm') return `azurerm (${settings.storage_account_name}/${settings.container_name}/${settings.key})`;
  return type;
}

export function summarizeStack(stack: string, tf: Json): StackSummary {
  const resources = (tf.resource ?? {}) as Record<string, Json>;
  const list = (type: string) => Object.values(resources[type] ?? {}) as Json[];
  const resourceCounts = Object.fromEntries(
    Object.entries(resources)
      .map(([type, byName]) => [type, Object.keys(byName).length] as [string, number])
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const keysOf = (hsmAddress: string, type: string) =>
    list(type).filter((k) => String(k.managed_hsm_id ?? '').includes(hsmAddress)).length;
  const managedHsms = Object.entries(resources.azurerm_key_vault_managed_hardware_security_module ?? {}).map(([id, h]) => {
    const address = `azurerm_key_vault_managed_hardware_security_module.${id}.`;
    return {
      name: h.name,
      location: h.location,
      purgeProtection: h.purge_protection_enabled === true,
      softDeleteDays: h.soft_delete_retention_days,
      publicNetworkAccess: h.public_network_access_enabled !== false,
      keys: keysOf(address, 'azurerm_key_vault_managed_hardware_security_module_key'),
      roleAssignments: keysOf(address, 'azurerm_key_vault_managed_hardware_security_module_role_assignment'),
    };
  });
  const dedicatedHsms = list('azurerm_dedicated_hardware_security_module').map((h) => ({
    name: h.name,
    sku: h.sku_name,
    placement: h.stamp_id ?? (h.zones ? `zones ${h.zones.join(',')}` : 'Azure decides'),
    privateIps: h.network_profile?.network_interface_private_ip_addresses ?? [],
  }));
  const adminCidrs = [...new Set(list('azurerm_network_security_rule').flatMap((r) => r.source_address_prefixes ?? [r.source_address_prefix]))].filter(Boolean);
  return { stack, resourceCounts, dedicatedHsms, managedHsms, adminCidrs, backend: backendOf(tf), outputs: Object.keys(tf.output ?? {}) };
}

export function summarizeSynthOutput(outdir: string): StackSummary[] {
  const stacksDir = join(outdir, 'stacks');
  return readdirSync(stacksDir)
    .sort()
    .map((stack) => summarizeStack(stack, JSON.parse(readFileSync(join(stacksDir, stack, 'cdk.tf.json'), 'utf8'))));
}

export function formatSummary(summaries: StackSummary[]): string {
  const lines: string[] = [];
  for (const s of summaries) {
    const total = Object.values(s.resourceCounts).reduce((a, b) => a + b, 0);
    lines.push(`stack ${s.stack}: ${total} resources, backend ${s.backend}`);
    for (const [type, n] of Object.entries(s.resourceCounts)) lines.push(`  ${String(n).padStart(3)}  ${type}`);
    for (const h of s.dedicatedHsms) lines.push(`  Dedicated HSM ${h.name}: ${h.sku}, ${h.placement}, private IP ${h.privateIps.join(', ')}`);
    for (const h of s.managedHsms) {
      lines.push(
        `  Managed HSM ${h.name}: purge protection ${h.purgeProtection ? 'on' : 'OFF'}, soft delete ${h.softDeleteDays} days, ` +
          `public access ${h.publicNetworkAccess ? 'ON' : 'off'}, ${h.keys} keys, ${h.roleAssignments} role assignments`,
      );
    }
    lines.push(`  admin CIDRs: ${s.adminCidrs.length ? s.adminCidrs.join(', ') : 'none (no inbound administration from outside the VNet)'}`);
    lines.push(`  outputs: ${s.outputs.join(', ') || 'none'}`);
  }
  return lines.join('\n');
}
