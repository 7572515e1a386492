import { DedicatedHardwareSecurityModule } from '@cdktf/provider-azurerm/lib/dedicated-hardware-security-module';
import { KeyVaultManagedHardwareSecurityModule } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module';
import { KeyVaultManagedHardwareSecurityModuleKey } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module-key';
import { ManagementLock } from '@cdktf/provider-azurerm/lib/management-lock';
import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider';
import { Aspects, TerraformStack, Testing } from 'cdktf';
// The type declarations of the matchers Testing.setupJest() installs (toHaveResourceWithProperties, ...).
import 'cdktf/lib/testing/adapters/jest';
import { DedicatedHsm, DedicatedHsmProps } from '../../constructs/dedicated-hsm';
import { ManagedHsm, ManagedHsmProps } from '../../constructs/managed-hsm';
import { ManagedHsmKey } from '../../constructs/managed-hsm-key';
import { hsmProviderFeatures } from '../../constructs/provider-features';
import { acknowledgePolicy } from '../../policy/acknowledgement';
import { HsmPolicy } from '../../policy/hsm-policy';
import { network, testStack } from '../synth-helpers';

Testing.setupJest();

/**
 * Each protection (prevent_destroy, the CanNotDelete lock, the provider's key_vault features): on by default
 * in the synthesized JSON; removed only by its dangerously... prop; and the policy then fails the synth
 * naming the rule, the resource and the fix, unless acknowledged.
 */
const TENANT = '11111111-2222-3333-4444-555555555555';
const ADMIN = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

function managedHsm(stack: TerraformStack, props: Partial<ManagedHsmProps> = {}): ManagedHsm {
  const net = network(stack);
  return new ManagedHsm(stack, 'ManagedHsm', {
    name: 'mhsm-test', resourceGroupName: net.resourceGroupName, location: net.location, tenantId: TENANT, adminObjectIds: [ADMIN],
    privateEndpoint: { subnetId: net.computeSubnet.id, virtualNetworkId: net.vnet.id },
    keys: [{ name: 'k', keyType: 'EC-HSM', expirationDate: '2027-12-31T00:00:00Z' }],
    ...props,
  });
}

function dedicatedHsm(stack: TerraformStack, props: Partial<DedicatedHsmProps> = {}): DedicatedHsm {
  return new DedicatedHsm(stack, 'DedicatedHsm', { name: 'hsm-luna', network: network(stack), privateIpAddress: '10.2.1.8', ...props });
}

/** Testing.synth without running the policy (to see what the JSON holds). */
function synthOnly(build: (stack: TerraformStack) => void): string {
  const stack = testStack();
  build(stack);
  return Testing.synth(stack);
}

function policyFailure(build: (stack: TerraformStack) => void): string {
  const stack = testStack();
  build(stack);
  Aspects.of(stack).add(new HsmPolicy());
  try {
    Testing.synth(stack, true);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the policy to fail the synth');
}

function passesPolicy(build: (stack: TerraformStack) => void): void {
  const stack = testStack();
  build(stack);
  Aspects.of(stack).add(new HsmPolicy());
  expect(() => Testing.synth(stack, true)).not.toThrow();
}

describe('lifecycle.prevent_destroy', () => {
  it('is set by default on the Dedicated HSM, the Managed HSM and its keys', () => {
    expect(synthOnly((s) => dedicatedHsm(s))).toHaveResourceWithProperties(DedicatedHardwareSecurityModule, { lifecycle: { prevent_destroy: true } });
    const tf = synthOnly((s) => managedHsm(s));
    expect(tf).toHaveResourceWithProperties(KeyVaultManagedHardwareSecurityModule, { lifecycle: { prevent_destroy: true } });
    expect(tf).toHaveResourceWithProperties(KeyVaultManagedHardwareSecurityModuleKey, { name: 'k', lifecycle: { prevent_destroy: true } });
  });

  it('is left out only with dangerouslyAllowDestroy', () => {
    expect(synthOnly((s) => dedicatedHsm(s, { dangerouslyAllowDestroy: true }))).not.toHaveResourceWithProperties(DedicatedHardwareSecurityModule, { lifecycle: { prevent_destroy: true } });
    const tf = synthOnly((s) => managedHsm(s, { dangerouslyAllowDestroy: true }));
    expect(tf).not.toHaveResourceWithProperties(KeyVaultManagedHardwareSecurityModule, { lifecycle: { prevent_destroy: true } });
    // The HSM's opt-out is its keys' default; a key can keep its own protection.
    expect(tf).not.toHaveResourceWithProperties(KeyVaultManagedHardwareSecurityModuleKey, { lifecycle: { prevent_destroy: true } });
    const kept = synthOnly((s) => managedHsm(s, { dangerouslyAllowDestroy: true, keys: [{ name: 'k', keyType: 'EC-HSM', expirationDate: '2027-12-31T00:00:00Z', dangerouslyAllowDestroy: false }] }));
    expect(kept).toHaveResourceWithProperties(KeyVaultManagedHardwareSecurityModuleKey, { lifecycle: { prevent_destroy: true } });
  });

  it('fails the policy without it, naming HSM-PROT-001, the resource and the fix; an acknowledgement lets it pass', () => {
    const message = policyFailure((s) => dedicatedHsm(s, { dangerouslyAllowDestroy: true }));
    expect(message).toMatch(/HSM-PROT-001 \(HSMs and HSM keys are protected from destroy \(lifecycle\.prevent_destroy\)\): azurerm_dedicated_hardware_security_module\.DedicatedHsm_\w+ can be destroyed by Terraform \(no lifecycle\.prevent_destroy\)\. Fix: remove dangerouslyAllowDestroy/);
    passesPolicy((s) => acknowledgePolicy(dedicatedHsm(s, { dangerouslyAllowDestroy: true }), 'HSM-PROT-001', 'lab HSM, destroyed after each training'));
  });
});

describe('the CanNotDelete management lock', () => {
  it('is put on each HSM by default, scoped to it', () => {
    expect(synthOnly((s) => dedicatedHsm(s))).toHaveResourceWithProperties(ManagementLock, {
      name: 'hsm-luna-delete-lock', lock_level: 'CanNotDelete', scope: expect.stringMatching(/^\$\{azurerm_dedicated_hardware_security_module\.DedicatedHsm_\w+\.id\}$/),
    });
    expect(synthOnly((s) => managedHsm(s))).toHaveResourceWithProperties(ManagementLock, {
      name: 'mhsm-test-delete-lock', lock_level: 'CanNotDelete', scope: expect.stringMatching(/^\$\{azurerm_key_vault_managed_hardware_security_module\.ManagedHsm_\w+\.id\}$/),
    });
  });

  it('is put on the resource group too when the network asks for it', () => {
    expect(synthOnly((s) => network(s, { resourceGroupDeleteLock: true }))).toHaveResourceWithProperties(ManagementLock, {
      name: 'rg-test-delete-lock', scope: expect.stringMatching(/^\$\{azurerm_resource_group\.Network_ResourceGroup_\w+\.id\}$/),
    });
    expect(synthOnly((s) => network(s))).not.toHaveResource(ManagementLock);
  });

  it('is left out only with dangerouslySkipDeleteLock', () => {
    expect(synthOnly((s) => dedicatedHsm(s, { dangerouslySkipDeleteLock: true }))).not.toHaveResource(ManagementLock);
    expect(synthOnly((s) => managedHsm(s, { dangerouslySkipDeleteLock: true }))).not.toHaveResource(ManagementLock);
  });

  it('fails the policy without it, naming HSM-PROT-002, the resource and the fix', () => {
    const message = policyFailure((s) => managedHsm(s, { dangerouslySkipDeleteLock: true }));
    expect(message).toMatch(/HSM-PROT-002 \(.*\): azurerm_key_vault_managed_hardware_security_module\.ManagedHsm_\w+ has no CanNotDelete management lock.*Fix: remove dangerouslySkipDeleteLock/);
  });
});

describe('the azurerm provider features', () => {
  it('keep soft-deleted HSMs and keys by default: hsmProviderFeatures() sets every purge flag false and every recover flag true', () => {
    expect(hsmProviderFeatures()).toEqual({
      keyVault: [{
        purgeSoftDeletedHardwareSecurityModulesOnDestroy: false, purgeSoftDeletedHardwareSecurityModuleKeysOnDestroy: false,
        purgeSoftDeletedKeysOnDestroy: false, purgeSoftDeleteOnDestroy: false,
        recoverSoftDeletedHardwareSecurityModuleKeys: true, recoverSoftDeletedKeys: true, recoverSoftDeletedKeyVaults: true,
      }],
    });
  });

  describe("are checked by the constructs in an app's own stack (no HsmStack, no HsmPolicy)", () => {
    /** A stack built as a library user would, with the given provider features (or no provider), synthesized with validations. */
    function ownStack(features: object[] | undefined, build: (stack: TerraformStack) => void = (s) => managedHsm(s)): () => string {
      const stack = new TerraformStack(Testing.app(), 'own');
      if (features) new AzurermProvider(stack, 'azurerm', { features: features as any });
      build(stack);
      return () => Testing.synth(stack, true);
    }

    it('fails the synth when the AzurermProvider leaves key_vault unset, naming the flags, the fix and who needs it', () => {
      const synth = ownStack([{}]);
      expect(synth).toThrow(/\[own\] provider\.azurerm \(own\/azurerm\): received features\.key_vault\.purge_soft_deleted_hardware_security_modules_on_destroy = null, .*recover_soft_deleted_key_vaults = null, so azurerm purges soft-deleted Managed HSMs and keys on destroy where purge protection allows it; allowed: features: \[hsmProviderFeatures\(\)\] on the AzurermProvider/);
      expect(synth).toThrow(/\(needed by own\/ManagedHsm, own\/ManagedHsm\/Key-k\)/);
    });

    it('fails the synth when one flag is set to purge by hand, naming only that flag', () => {
      const [safe] = hsmProviderFeatures().keyVault as object[];
      const synth = ownStack([{ keyVault: [{ ...safe, purgeSoftDeletedKeysOnDestroy: true }] }]);
      expect(synth).toThrow(/received features\.key_vault\.purge_soft_deleted_keys_on_destroy = true, so azurerm purges/);
      expect(synth).not.toThrow(/purge_soft_deleted_hardware_security_modules_on_destroy/);
    });

    it('fails the synth of a ManagedHsmKey on its own, and of a stack with no azurerm provider', () => {
      const keyOnly = ownStack([{}], (s) => new ManagedHsmKey(s, 'Key', { name: 'k', keyType: 'EC-HSM', managedHsmId: '/subscriptions/x/resourceGroups/r/providers/Microsoft.KeyVault/managedHSMs/m', expirationDate: '2027-12-31T00:00:00Z' }));
      expect(keyOnly).toThrow(/provider\.azurerm \(own\/azurerm\): received .*\(needed by own\/Key\)/);
      expect(ownStack(undefined)).toThrow(/\[own\] no azurerm provider in the stack; allowed: one with features: \[hsmProviderFeatures\(\)\]/);
    });

    it('passes with hsmProviderFeatures(), and with its explicit opt-out dangerouslyPurgeSoftDeletedOnDestroy (then left to HSM-PROT-003)', () => {
      expect(ownStack([hsmProviderFeatures()])).not.toThrow();
      expect(ownStack([hsmProviderFeatures({ dangerouslyPurgeSoftDeletedOnDestroy: true })])).not.toThrow();
    });

    it('leaves a stack without a Managed HSM alone (a Dedicated HSM has nothing soft-deleted to purge)', () => {
      expect(ownStack([{}], (s) => dedicatedHsm(s))).not.toThrow();
    });
  });

  it('purge only with dangerouslyPurgeSoftDeletedOnDestroy, and the policy then fails naming HSM-PROT-003', () => {
    expect(hsmProviderFeatures({ dangerouslyPurgeSoftDeletedOnDestroy: true }).keyVault).toEqual([expect.objectContaining({ purgeSoftDeletedHardwareSecurityModulesOnDestroy: true, recoverSoftDeletedKeys: false })]);
    const stack = new TerraformStack(Testing.app(), 'test');
    new AzurermProvider(stack, 'azurerm', { features: [hsmProviderFeatures({ dangerouslyPurgeSoftDeletedOnDestroy: true })] });
    managedHsm(stack);
    Aspects.of(stack).add(new HsmPolicy());
    expect(() => Testing.synth(stack, true)).toThrow(/HSM-PROT-003 \(.*\): provider\.azurerm sets features\.key_vault\.purge_soft_deleted_hardware_security_modules_on_destroy = true.*Fix: remove dangerouslyPurgeSoftDeletedOnDestroy/);
  });
});
