import { Construct } from 'constructs';
import { DedicatedHsm, DedicatedHsmProps, DedicatedHsmSku, Stamp, STAMPS } from './dedicated-hsm';
import { HsmNetwork } from './hsm-network';
import { ResourceTimeouts } from './resource-timeouts';
import { checkOneOf, fail } from './validation';

/** A single DedicatedHsm that this pair grows from: its HSM becomes the primary, with no replacement. */
export interface SingleHsmToGrowFrom {
  /** Construct path of the single DedicatedHsm inside the stack, e.g. 'DedicatedHsm'. */
  readonly constructPath: string;
  /** Its resource name, kept for the primary (Azure cannot rename a Dedicated HSM). */
  readonly name: string;
  /** The stamp it sits in, kept for the primary; the secondary goes to the other stamp. */
  readonly stampId: Stamp;
}

export interface DedicatedHsmHaPairProps {
  /** Name prefix: the HSMs are named `<name>-1` (stamp1) and `<name>-2` (stamp2), unless grown from a single HSM. */
  readonly name: string;
  readonly network: HsmNetwork;
  /** Private IPs of the two HSMs, in stamp order; both inside the HSM subnet. */
  readonly privateIpAddresses: [string, string];
  /** @default 'SafeNet Luna Network HSM A790' */
  readonly skuName?: DedicatedHsmSku;
  /** @default the network's tags */
  readonly tags?: Record<string, string>;
  /** @default the provider's */
  readonly timeouts?: ResourceTimeouts;
  /** See DedicatedHsmProps.dangerouslyAllowDestroy. @default false */
  readonly dangerouslyAllowDestroy?: boolean;
  /** See DedicatedHsmProps.dangerouslySkipDeleteLock. @default false */
  readonly dangerouslySkipDeleteLock?: boolean;
  /**
   * Grow an existing single DedicatedHsm into this pair without replacing it: the primary keeps that HSM's
   * Terraform address (moved blocks), name and stamp; the secondary is `<name>-2` in the other stamp.
   * @default none: a new pair, `<name>-1` in stamp1 and `<name>-2` in stamp2
   */
  readonly primaryFromSingleHsm?: SingleHsmToGrowFrom;
}

/**
 * Two Dedicated HSMs in different stamps, as Microsoft's high-availability guidance places them: losing
 * one stamp leaves the other HSM (and its HA-group partition) serving.
 */
export class DedicatedHsmHaPair extends Construct {
  readonly primary: DedicatedHsm;
  readonly secondary: DedicatedHsm;

  constructor(scope: Construct, id: string, props: DedicatedHsmHaPairProps) {
    super(scope, id);
    const [first, second] = props.privateIpAddresses ?? [];
    if (!first || !second || first === second) {
      fail(this, 'privateIpAddresses', props.privateIpAddresses, 'two different private IPs in the HSM subnet');
    }
    const from = props.primaryFromSingleHsm;
    if (from) checkOneOf(this, 'primaryFromSingleHsm.stampId', from.stampId, STAMPS);
    const primaryStamp: Stamp = from?.stampId ?? 'stamp1';
    const secondaryStamp: Stamp = primaryStamp === 'stamp1' ? 'stamp2' : 'stamp1';
    const common: Omit<DedicatedHsmProps, 'name' | 'privateIpAddress'> = {
      network: props.network,
      skuName: props.skuName,
      tags: props.tags,
      timeouts: props.timeouts,
      dangerouslyAllowDestroy: props.dangerouslyAllowDestroy,
      dangerouslySkipDeleteLock: props.dangerouslySkipDeleteLock,
    };
    this.primary = new DedicatedHsm(this, 'Primary', {
      ...common,
      name: from?.name ?? `${props.name}-1`,
      privateIpAddress: first,
      stampId: primaryStamp,
      formerConstructPath: from?.constructPath,
    });
    this.secondary = new DedicatedHsm(this, 'Secondary', { ...common, name: `${props.name}-2`, privateIpAddress: second, stampId: secondaryStamp });
  }

  get members(): DedicatedHsm[] {
    return [this.primary, this.secondary];
  }
}
