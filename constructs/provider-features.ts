import type { AzurermProviderFeatures } from '@cdktf/provider-azurerm/lib/provider';

export interface HsmProviderFeaturesProps {
  /**
   * Lets the azurerm provider purge soft-deleted Managed HSMs and keys on destroy (where purge protection
   * allows it) and create new keys instead of recovering soft-deleted ones: a destroy then ends every key for
   * good. Only for throwaway test subscriptions.
   * @default false (nothing HSM-related is purged; soft-deleted keys are recovered)
   */
  readonly dangerouslyPurgeSoftDeletedOnDestroy?: boolean;
}

/**
 * The azurerm provider `features` block for an HSM estate. Left empty, azurerm purges soft-deleted Managed
 * HSMs and keys on destroy where purge protection does not forbid it; these settings keep them recoverable.
 */
export function hsmProviderFeatures(props: HsmProviderFeaturesProps = {}): AzurermProviderFeatures {
  const purge = props.dangerouslyPurgeSoftDeletedOnDestroy === true;
  return {
    keyVault: [
      {
        purgeSoftDeletedHardwareSecurityModulesOnDestroy: purge,
        purgeSoftDeletedHardwareSecurityModuleKeysOnDestroy: purge,
        purgeSoftDeletedKeysOnDestroy: purge,
        purgeSoftDeleteOnDestroy: purge,
        recoverSoftDeletedHardwareSecurityModuleKeys: !purge,
        recoverSoftDeletedKeys: !purge,
        recoverSoftDeletedKeyVaults: !purge,
      },
    ],
  };
}
