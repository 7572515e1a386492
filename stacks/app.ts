import { App } from 'cdktf';
import { IConstruct } from 'constructs';
import { acknowledgePolicy } from '../constructs/policy/acknowledgement';
import { DisasterRecoveryStack } from './disaster-recovery-stack';
import { ConfigError, EnvironmentConfig } from './environment-config';
import { EnvironmentStack } from './environment-stack';
import { HsmStack } from './hsm-stack';

export interface HsmApp {
  readonly app: App;
  readonly stacks: HsmStack[];
  readonly environment: EnvironmentStack;
  readonly disasterRecovery?: DisasterRecoveryStack;
}

/**
 * Builds the stacks of one environment into an App (not yet synthesized). Without `outdir` the App takes
 * the folder the cdktf CLI passes it, else cdktf.out.
 */
export function buildApp(config: EnvironmentConfig, outdir?: string): HsmApp {
  const app = new App(outdir === undefined ? {} : { outdir });
  const environment = new EnvironmentStack(app, config);
  const disasterRecovery = config.disasterRecovery ? new DisasterRecoveryStack(app, config) : undefined;
  const stacks: HsmStack[] = disasterRecovery ? [environment, disasterRecovery] : [environment];
  applyAcknowledgements(config, stacks);
  return { app, stacks, environment, disasterRecovery };
}

/** Config acknowledgements name a construct path inside a stack, e.g. "ManagedHsm" or "Network/Gateway". */
function applyAcknowledgements(config: EnvironmentConfig, stacks: HsmStack[]): void {
  const problems: string[] = [];
  (config.policyAcknowledgements ?? []).forEach((ack, i) => {
    const targets = stacks
      .map((stack) => ack.construct.split('/').reduce<IConstruct | undefined>((c, id) => c?.node.tryFindChild(id), stack))
      .filter((c): c is IConstruct => c !== undefined);
    if (targets.length === 0) {
      problems.push(`$.policyAcknowledgements[${i}].construct: received ${JSON.stringify(ack.construct)}; allowed: a construct path in the stacks, e.g. ManagedHsm`);
    }
    targets.forEach((t) => acknowledgePolicy(t, ack.ruleId, ack.reason));
  });
  if (problems.length > 0) throw new ConfigError(`config/${config.name}.json`, problems);
}
