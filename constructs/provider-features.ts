import type { AzurermProviderFeatures, AzurermProviderFeaturesKeyVault } from '@cdktf/provider-azurerm/lib/provider';
import { TerraformProvider, TerraformStack, Token } from 'cdktf';
import { IConstruct } from 'constructs';

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
 * The azurerm provider's key_vault features, as Terraform JSON names them, that keep soft-deleted HSMs and keys
 * (nothing purged on destroy; a soft-deleted key of the same name is recovered rather than replaced). Left
 * unset, azurerm purges.
 */
export const SAFE_KEY_VAULT_FEATURES: Readonly<Record<string, boolean>> = {
  purge_soft_deleted_hardware_security_modules_on_destroy: false,
  purge_soft_deleted_hardware_security_module_keys_on_destroy: false,
  purge_soft_deleted_keys_on_destroy: false,
  purge_soft_delete_on_destroy: false,
  recover_soft_deleted_hardware_security_module_keys: true,
  recover_soft_deleted_keys: true,
  recover_soft_deleted_key_vaults: true,
};

/** key_vault blocks made by hsmProviderFeatures with the opt-out: the explicit, named choice to purge. */
const PURGING_BY_CHOICE = new WeakSet<object>();

/**
 * The azurerm provider `features` block for an HSM estate. Left empty, azurerm purges soft-deleted Managed
 * HSMs and keys on destroy where purge protection does not forbid it; these settings keep them recoverable.
 */
export function hsmProviderFeatures(props: HsmProviderFeaturesProps = {}): AzurermProviderFeatures {
  const purge = props.dangerouslyPurgeSoftDeletedOnDestroy === true;
  const keyVault: AzurermProviderFeaturesKeyVault = {
    purgeSoftDeletedHardwareSecurityModulesOnDestroy: purge,
    purgeSoftDeletedHardwareSecurityModuleKeysOnDestroy: purge,
    purgeSoftDeletedKeysOnDestroy: purge,
    purgeSoftDeleteOnDestroy: purge,
    recoverSoftDeletedHardwareSecurityModuleKeys: !purge,
    recoverSoftDeletedKeys: !purge,
    recoverSoftDeletedKeyVaults: !purge,
  };
  if (purge) PURGING_BY_CHOICE.add(keyVault);
  return { keyVault: [keyVault] };
}

/** Stacks whose provider features are checked, and the constructs that asked for it. */
const CHECKED_STACKS = new WeakMap<TerraformStack, string[]>();

/**
 * Makes the synth of the scope's stack fail unless its azurerm provider keeps soft-deleted HSMs and keys
 * (hsmProviderFeatures(), or hsmProviderFeatures({ dangerouslyPurgeSoftDeletedOnDestroy: true }) as the
 * explicit opt-out). HsmStack sets them; an app's own AzurermProvider keeps azurerm's purging defaults unless
 * told otherwise, and nothing else would say so. Called by ManagedHsm and ManagedHsmKey; one check per stack.
 */
export function requireHsmProviderFeatures(scope: IConstruct): void {
  const stack = TerraformStack.of(scope);
  const users = CHECKED_STACKS.get(stack);
  if (users) {
    users.push(scope.node.path);
    return;
  }
  const first = [scope.node.path];
  CHECKED_STACKS.set(stack, first);
  stack.node.addValidation({ validate: () => providerFeatureProblems(stack, first) });
}

function list(value: unknown): Array<Record<string, unknown>> {
  if (value === undefined || value === null || Token.isUnresolved(value)) return [];
  return (Array.isArray(value) ? value : [value]).filter((v) => v !== null && typeof v === 'object');
}

function chosePurging(provider: TerraformProvider): boolean {
  const features = (provider as { features?: unknown }).features;
  return Array.isArray(features) && features.some((f) => Array.isArray(f?.keyVault) && f.keyVault.some((kv: object) => PURGING_BY_CHOICE.has(kv)));
}

const ALLOWED =
  'features: [hsmProviderFeatures()] on the AzurermProvider (every key_vault purge flag false, every recover flag true), or hsmProviderFeatures({ dangerouslyPurgeSoftDeletedOnDestroy: true }) for a throwaway estate';

function providerFeatureProblems(stack: TerraformStack, users: readonly string[]): string[] {
  const neededBy = `needed by ${users.join(', ')}`;
  const providers = stack.node.findAll().filter((c): c is TerraformProvider => TerraformProvider.isTerraformProvider(c) && c.terraformResourceType === 'azurerm');
  if (providers.length === 0) return [`no azurerm provider in the stack; allowed: one with ${ALLOWED} (${neededBy})`];
  return providers.flatMap((provider) => {
    if (chosePurging(provider)) return [];
    const attrs = provider.toTerraform().provider.azurerm[0] as Record<string, unknown>;
    if (Token.isUnresolved(attrs.features)) return [];
    const keyVault = list(list(attrs.features)[0]?.key_vault)[0] ?? {};
    const wrong = Object.entries(SAFE_KEY_VAULT_FEATURES).filter(([k, v]) => keyVault[k] !== v && !Token.isUnresolved(keyVault[k]));
    if (wrong.length === 0) return [];
    const alias = typeof attrs.alias === 'string' ? `.${attrs.alias}` : '';
    return [
      `provider.azurerm${alias} (${provider.node.path}): received ${wrong.map(([k]) => `features.key_vault.${k} = ${JSON.stringify(keyVault[k] ?? null)}`).join(', ')}, ` +
        `so azurerm purges soft-deleted Managed HSMs and keys on destroy where purge protection allows it; allowed: ${ALLOWED} (${neededBy})`,
    ];
  });
}
