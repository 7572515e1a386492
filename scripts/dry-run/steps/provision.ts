import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { armClients } from '../arm-clients';

/**
 * Step 3: the synthesized Dedicated HSMs and Managed HSMs, created through the simulator's ARM plane with
 * the real SDK clients, with exactly the properties synth produced. What a simulator does not run (network,
 * VMs, gateway, DNS, diagnostics) is listed, so the user sees the whole estate.
 */
export function provisionStep(ctx: DryRunContext): Step {
  return {
    name: 'provision the HSMs through the ARM plane',
    async run({ say }) {
      const estate = ctx.estate!;
      const arm = armClients(ctx.operator!.credential, ctx.subscriptionId, { endpoint: ctx.endpoints!.armEndpoint!, ca: ctx.ca, pollMs: 50 });
      const provisioned: Array<Record<string, unknown>> = [];
      for (const m of estate.managedHsms) {
        // A run stopped inside the soft-delete drill leaves the HSM deleted: recover it, as an operator would.
        const deleted = await arm.keyVault.managedHsms.getDeleted(m.name, m.location).catch((err) => {
          if ((err as { statusCode?: number }).statusCode === 404) return undefined;
          throw err;
        });
        if (deleted) {
          await arm.keyVault.managedHsms.beginCreateOrUpdateAndWait(m.resourceGroup, m.name, { location: m.location, sku: { family: 'B', name: m.sku as never }, properties: { tenantId: m.tenantId, createMode: 'recover' } }, arm.pollOptions);
          say(`Managed HSM ${m.name}: was soft-deleted (an earlier run stopped inside the soft-delete drill); recovered with its keys`);
        }
        const r = await arm.keyVault.managedHsms.beginCreateOrUpdateAndWait(
          m.resourceGroup,
          m.name,
          {
            location: m.location,
            sku: { family: 'B', name: m.sku as never },
            tags: m.tags,
            properties: {
              tenantId: m.tenantId,
              initialAdminObjectIds: m.adminObjectIds,
              enablePurgeProtection: m.purgeProtection,
              enableSoftDelete: true,
              softDeleteRetentionInDays: m.softDeleteRetentionDays,
              publicNetworkAccess: m.publicNetworkAccess ? 'Enabled' : 'Disabled',
            },
          },
          arm.pollOptions,
        );
        say(`Managed HSM ${m.name} (${m.stack}): ${r.properties?.provisioningState}, ${r.properties?.hsmUri}, purge protection ${m.purgeProtection ? 'on' : 'off'}, retention ${m.softDeleteRetentionDays} days`);
        provisioned.push({ kind: 'managedHSMs', name: m.name, id: r.id, hsmUri: r.properties?.hsmUri, state: r.properties?.provisioningState });
      }
      for (const d of estate.dedicatedHsms) {
        const r = await arm.dedicatedHsms.dedicatedHsmOperations.beginCreateOrUpdateAndWait(
          d.resourceGroup,
          d.name,
          {
            location: d.location,
            sku: { name: d.sku as never },
            stampId: d.stampId,
            zones: d.zones,
            tags: d.tags,
            networkProfile: { subnet: { id: d.subnetId }, networkInterfaces: d.privateIps.map((privateIpAddress) => ({ privateIpAddress })) },
          },
          arm.pollOptions,
        );
        say(`Dedicated HSM ${d.name}: ${r.provisioningState}, ${d.sku}, ${d.stampId ?? d.zones?.join(',') ?? 'no stamp'}, private IP ${d.privateIps.join(', ')}`);
        provisioned.push({ kind: 'dedicatedHSMs', name: d.name, id: r.id, state: r.provisioningState });
      }
      const rest = estate.notSimulated.map((n) => ({ ...n, count: n.names.length }));
      for (const n of rest) say(`not simulated (plan only): ${n.count} ${n.type} in ${n.stack}: ${n.names.join(', ')}`);
      return { provisioned, notSimulated: rest };
    },
  };
}
