import * as fs from 'fs';
import * as path from 'path';
import { startSimulator } from '../../../simulator';
import { silentLogger } from '../../../simulator/logger';
import { startAzurite } from '../../../simulator/storage/azurite';
import { readEndpoints, simulatorCredential } from '../../clients/target';
import { registerPrincipal } from '../simulator-principals';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';

/**
 * Step 2: the embedded simulator (identity, ARM plane, Managed HSM data plane, Luna appliances) and Azurite,
 * or a simulator already running from --simulator DIR. The operator is the first administrator of the
 * first Managed HSM (the identity Terraform would deploy as), given a client secret in the simulator.
 */
export function startSimulatorStep(ctx: DryRunContext): Step {
  return {
    name: ctx.ownSimulator ? 'start the simulator and Azurite' : `use the simulator in ${ctx.simulatorDir}`,
    async run({ say }) {
      const operatorId = operatorOf(ctx);
      if (ctx.ownSimulator) {
        const sim = await startSimulator({
          stateDir: ctx.simulatorDir,
          tenantId: ctx.config.tenantId,
          logger: silentLogger,
          arm: { provisioningStepMs: 50 },
        });
        ctx.sim = sim;
        ctx.cleanups.push(() => sim.close());
        if (!fs.existsSync(path.join(ctx.simulatorDir, 'secrets', `${operatorId}.secret`))) await sim.addPrincipal(operatorId);
      } else {
        await registerPrincipal(ctx.simulatorDir, operatorId);
      }
      const endpoints = readEndpoints(ctx.simulatorDir);
      if (endpoints.tenantId !== ctx.config.tenantId.toLowerCase()) {
        throw new Error(`the simulator in ${ctx.simulatorDir} belongs to tenant ${endpoints.tenantId}, the environment to ${ctx.config.tenantId}`);
      }
      if (!endpoints.armEndpoint) throw new Error(`the simulator in ${ctx.simulatorDir} has no ARM plane`);
      ctx.endpoints = endpoints;
      ctx.ca = fs.readFileSync(endpoints.caCertificate, 'utf8');
      ctx.operator = { objectId: operatorId, credential: simulatorCredential(readEndpoints(ctx.simulatorDir), ctx.simulatorDir, operatorId) };
      say(`identity and ARM at ${endpoints.armEndpoint} (tenant ${endpoints.tenantId}), operator ${operatorId}`);

      const azurite = await startAzurite({ location: path.join(ctx.stateDir, 'azurite') });
      ctx.azurite = azurite;
      ctx.cleanups.push(() => azurite.stop());
      say(`Azurite blob storage at ${azurite.blobEndpoint}`);
      return { armEndpoint: endpoints.armEndpoint, operator: operatorId, blobEndpoint: azurite.blobEndpoint };
    },
  };
}

/** The identity that provisions and administers: a Managed HSM admin when there is one. */
export function operatorOf(ctx: DryRunContext): string {
  const admin = ctx.estate?.managedHsms[0]?.adminObjectIds[0];
  // Without a Managed HSM any principal of the tenant may call ARM in the simulator; a fixed one keeps reruns stable.
  return (admin ?? '0d5e0a70-0000-4000-8000-00000000d0e5').toLowerCase();
}
