import { DedicatedHardwareSecurityModule } from '@cdktf/provider-azurerm/lib/dedicated-hardware-security-module';
import { ManagementLock } from '@cdktf/provider-azurerm/lib/management-lock';
import { Construct } from 'constructs';
import { isAssignableInSubnet } from './cidr';
import { addDeleteLock } from './delete-lock';
import { HsmNetwork } from './hsm-network';
import { moveResourcesFrom } from './moved-from';
import { checkTimeouts, ResourceTimeouts } from './resource-timeouts';
import { checkName, checkOneOf, fail, isKnown } from './validation';

export const LUNA_SKU = 'SafeNet Luna Network HSM A790';
export const PAYSHIELD_SKUS = [
  'payShield10K_LMK1_CPS60',
  'payShield10K_LMK1_CPS250',
  'payShield10K_LMK1_CPS2500',
  'payShield10K_LMK2_CPS60',
  'payShield10K_LMK2_CPS250',
  'payShield10K_LMK2_CPS2500',
] as const;
export const DEDICATED_HSM_SKUS = [LUNA_SKU, ...PAYSHIELD_SKUS] as const;
export type DedicatedHsmSku = (typeof DEDICATED_HSM_SKUS)[number];
export const STAMPS = ['stamp1', 'stamp2'] as const;
export type Stamp = (typeof STAMPS)[number];

export interface DedicatedHsmProps {
  /** Resource name: 3-24 letters, digits or hyphens (the ARM rule for dedicatedHSMs). */
  readonly name: string;
  /** The network with the delegated HSM subnet and the ExpressRoute gateway. */
  readonly network: HsmNetwork;
  /** Private IP of the HSM's NIC, inside the HSM subnet and not one Azure reserves. */
  readonly privateIpAddress: string;
  /**
   * @default 'SafeNet Luna Network HSM A790'
   */
  readonly skuName?: DedicatedHsmSku;
  /**
   * Stamp (placement) in regions without availability zones. Not with `zones`.
   * @default none: Azure places the HSM
   */
  readonly stampId?: Stamp;
  /**
   * Availability zones, in regions that have them. Not with `stampId`.
   * @default none
   */
  readonly zones?: string[];
  /** @default the network's tags */
  readonly tags?: Record<string, string>;
  /** @default the provider's (create 60m) */
  readonly timeouts?: ResourceTimeouts;
  /**
   * Leaves out `lifecycle.prevent_destroy`, so `cdktf destroy` or a change that forces replacement deletes the
   * HSM and every key in it (a Dedicated HSM has no soft delete). Only for throwaway test deployments.
   * @default false (Terraform refuses any plan that destroys the HSM)
   */
  readonly dangerouslyAllowDestroy?: boolean;
  /**
   * Leaves out the CanNotDelete management lock, so anyone with delete rights can remove the HSM through
   * Azure (portal, CLI, another pipeline). Only for throwaway test deployments.
   * @default false (Azure refuses to delete the HSM while the lock exists)
   */
  readonly dangerouslySkipDeleteLock?: boolean;
  /**
   * The construct path (inside its stack) this HSM had before a refactor, e.g. 'DedicatedHsm' for a single
   * HSM that became the primary of a DedicatedHsmHaPair. Its resources get Terraform `moved` blocks from the
   * old addresses, so Terraform keeps the real HSM instead of replacing it. Keep the name and the placement
   * the same: Azure cannot change either without a new HSM.
   * @default none (no moved blocks)
   */
  readonly formerConstructPath?: string;
}

const NAME_RULE = /^[a-zA-Z0-9-]{3,24}$/;

/**
 * An Azure Dedicated HSM (Thales Luna Network HSM A790 by default) in the network's delegated HSM subnet.
 * It depends on the ExpressRoute gateway: Azure refuses to provision the HSM before the gateway exists.
 */
export class DedicatedHsm extends Construct {
  readonly resource: DedicatedHardwareSecurityModule;
  readonly name: string;
  readonly id: string;
  readonly privateIpAddress: string;
  readonly skuName: DedicatedHsmSku;
  /** The CanNotDelete lock on the HSM (absent with dangerouslySkipDeleteLock). */
  readonly deleteLock?: ManagementLock;

  constructor(scope: Construct, id: string, props: DedicatedHsmProps) {
    super(scope, id);
    const { network } = props;
    checkName(this, 'name', props.name, NAME_RULE, '3-24 letters, digits or hyphens');
    this.skuName = props.skuName ?? LUNA_SKU;
    checkOneOf(this, 'skuName', this.skuName, DEDICATED_HSM_SKUS);
    if (props.stampId !== undefined && props.zones !== undefined) {
      fail(this, 'stampId', props.stampId, 'either stampId or zones, not both');
    }
    if (props.stampId !== undefined) checkOneOf(this, 'stampId', props.stampId, STAMPS);
    if (props.zones !== undefined && (props.zones.length === 0 || props.zones.some((z) => !['1', '2', '3'].includes(z)))) {
      fail(this, 'zones', props.zones, 'one or more of "1", "2", "3"');
    }
    if (!network.hsmSubnet || !network.hsmSubnetCidr || !network.gateway) {
      fail(this, 'network', network.node.path, 'an HsmNetwork made with dedicatedHsmSubnet: true (the HSM subnet and gateway)');
    }
    if (isKnown(props.privateIpAddress) && !isAssignableInSubnet(props.privateIpAddress, network.hsmSubnetCidr)) {
      fail(this, 'privateIpAddress', props.privateIpAddress,
        `an IPv4 address inside the HSM subnet ${network.hsmSubnetCidr.text}, not its first four or last address (Azure reserves them)`);
    }
    this.privateIpAddress = props.privateIpAddress;
    checkTimeouts(this, 'timeouts', props.timeouts);

    this.resource = new DedicatedHardwareSecurityModule(this, 'Resource', {
      name: props.name,
      resourceGroupName: network.resourceGroupName,
      location: network.location,
      skuName: this.skuName,
      stampId: props.stampId,
      zones: props.zones,
      networkProfile: {
        subnetId: network.hsmSubnet.id,
        networkInterfacePrivateIpAddresses: [props.privateIpAddress],
      },
      tags: props.tags ?? network.tags,
      dependsOn: [network.gateway],
      timeouts: props.timeouts,
      lifecycle: props.dangerouslyAllowDestroy ? undefined : { preventDestroy: true },
    });
    this.name = this.resource.name;
    this.id = this.resource.id;
    if (!props.dangerouslySkipDeleteLock) this.deleteLock = addDeleteLock(this, 'DeleteLock', props.name, this.id);
    if (props.formerConstructPath !== undefined) moveResourcesFrom(this, props.formerConstructPath);
  }
}
