import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider';
import { Annotations, Aspects, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { HsmPolicy } from '../constructs/policy/hsm-policy';
import { applyBackend } from './backend';
import { EnvironmentConfig } from './environment-config';

/**
 * What every stack of the toolkit shares: the azurerm provider, the state backend, and the security
 * policy checked at synth time (with the config's acknowledgements applied).
 */
export abstract class HsmStack extends TerraformStack {
  constructor(scope: Construct, readonly stackName: string, protected readonly config: EnvironmentConfig) {
    super(scope, stackName);
    new AzurermProvider(this, 'azurerm', {
      features: [{}],
      subscriptionId: config.subscriptionId,
    });
    if (!config.subscriptionId && !process.env.ARM_SUBSCRIPTION_ID) {
      Annotations.of(this).addWarning('no subscriptionId in the config: set ARM_SUBSCRIPTION_ID before cdktf plan/deploy (azurerm 4 requires one)');
    }
    applyBackend(this, stackName, config.backend);
    Aspects.of(this).add(new HsmPolicy());
  }

}
