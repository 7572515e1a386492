import { Construct } from 'constructs';
import { DedicatedHsm, DedicatedHsmSku } from './dedicated-hsm';
import { HsmNetwork } from './hsm-network';
import { fail } from './validation';

export interface DedicatedHsmHaPairProps {
  /** Name prefix: the HSMs are named `<name>-1` (stamp1) and `<name>-2` (stamp2). */
  readonly name: string;
  readonly network: HsmNetwork;
  /** Private IPs of the two HSMs, in stamp order; both inside the HSM subnet. */
  readonly privateIpAddresses: [string, string];
  /** @default 'SafeNet Luna Network HSM A790' */
  readonly skuName?: DedicatedHsmSku;
  /** @default the network's tags */
  readonly tags?: Record<string, string>;
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
    const common = { network: props.network, skuName: props.skuName, tags: props.tags };
    this.primary = new DedicatedHsm(this, 'Primary', { ...common, name: `${props.name}-1`, privateIpAddress: first, stampId: 'stamp1' });
    this.secondary = new DedicatedHsm(this, 'Secondary', { ...common, name: `${props.name}-2`, privateIpAddress: second, stampId: 'stamp2' });
  }

  get members(): DedicatedHsm[] {
    return [this.primary, this.secondary];
  }
}
