import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider';
import { Annotations, Aspects, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { hsmProviderFeatures } from '../constructs/provider-features';
import { HsmPolicy } from '../policy/hsm-policy';
import { applyBackend } from './backend';
import { EnvironmentConfig } from './environment-config';

/**
 * What every stack of the toolkit shares: the azurerm provider (its key_vault features set so nothing
 * HSM-related is purged on destroy), the state backend, and the security policy checked at synth time.
 */
export abstract class HsmStack extends TerraformStack {
  constructor(scope: Construct, readonly stackName: string, protected readonly config: EnvironmentConfig) {
    super(scope, stackName);
    new AzurermProvider(this, 'azurerm', {
      features: [hsmProviderFeatures({ dangerouslyPurgeSoftDeletedOnDestroy: config.dangerouslyPurgeSoftDeletedOnDestroy })],
      subscriptionId: config.subscriptionId,
    });
    if (!config.subscriptionId && !process.env.ARM_SUBSCRIPTION_ID) {
      Annotations.of(this).addWarning('no subscriptionId in the config: set ARM_SUBSCRIPTION_ID before cdktf plan/deploy (azurerm 4 requires one)');
    }
    applyBackend(this, stackName, config.backend);
    Aspects.of(this).add(new HsmPolicy());
  }
}
