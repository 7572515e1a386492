import { App } from 'cdktf';
import { IConstruct } from 'constructs';
import { ValidationError } from '../constructs/validation';
import { acknowledgePolicy } from '../policy/acknowledgement';
import { configPathOf } from './config-json-path';
import { DisasterRecoveryStack } from './disaster-recovery-stack';
import { ConfigError, configFileOf, EnvironmentConfig } from './environment-config';
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
 * the folder the cdktf CLI passes it, else cdktf.out. A value a construct refuses is reported as a
 * ConfigError naming the config file and the JSON path of the field (the construct path when no single
 * field gave it).
 */
export function buildApp(config: EnvironmentConfig, outdir?: string): HsmApp {
  const file = configFileOf(config) ?? `the config of environment "${config.name}"`;
  const app = new App(outdir === undefined ? {} : { outdir });
  const build = <T>(stack: 'environment' | 'dr', make: () => T): T => {
    try {
      return make();
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const path = configPathOf(err, stack, config);
      const where = path === undefined ? `${err.constructPath}: invalid ${err.prop}` : `${path} (${err.constructPath}, ${err.prop})`;
      throw new ConfigError(file, [`${where}: received ${err.received}; allowed: ${err.allowed}`]);
    }
  };
  const environment = build('environment', () => new EnvironmentStack(app, config));
  const disasterRecovery = config.disasterRecovery ? build('dr', () => new DisasterRecoveryStack(app, config)) : undefined;
  const stacks: HsmStack[] = disasterRecovery ? [environment, disasterRecovery] : [environment];
  applyAcknowledgements(config, stacks, file);
  return { app, stacks, environment, disasterRecovery };
}

/** Config acknowledgements name a construct path inside a stack, e.g. "ManagedHsm" or "Network/Gateway". */
function applyAcknowledgements(config: EnvironmentConfig, stacks: HsmStack[], file: string): void {
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
  if (problems.length > 0) throw new ConfigError(file, problems);
}
