import { NetworkInterface } from '@cdktf/provider-azurerm/lib/network-interface';
import { PublicIp } from '@cdktf/provider-azurerm/lib/public-ip';
import { Construct } from 'constructs';
import { isAssignableInSubnet } from './cidr';
import { HsmNetwork } from './hsm-network';
import { fail, isKnown } from './validation';

export interface ComputeVmNicProps {
  readonly network: HsmNetwork;
  readonly vmName: string;
  /** Static private IP in the Compute subnet; @default dynamic */
  readonly privateIpAddress?: string;
  /** @default false */
  readonly publicIp?: boolean;
}

/**
 * The NIC of a VM in the Compute subnet (and its optional Standard public IP). Shared by the CipherTrust
 * Manager and the Luna client host, which differ only in what runs on the VM.
 */
export class ComputeVmNic extends Construct {
  readonly nic: NetworkInterface;
  readonly publicIp?: PublicIp;
  /** The private IP: the static one when given, else the NIC's allocated one (known after apply). */
  readonly privateIpAddress: string;

  constructor(scope: Construct, id: string, props: ComputeVmNicProps) {
    super(scope, id);
    const { network } = props;
    const ip = props.privateIpAddress;
    if (ip !== undefined && isKnown(ip) && !isAssignableInSubnet(ip, network.computeSubnetCidr)) {
      fail(scope, 'privateIpAddress', ip,
        `an IPv4 address inside the Compute subnet ${network.computeSubnetCidr.text}, not its first four or last address (Azure reserves them)`);
    }
    if (props.publicIp) {
      this.publicIp = new PublicIp(this, 'PublicIp', {
        name: `${props.vmName}-pip`,
        resourceGroupName: network.resourceGroupName,
        location: network.location,
        sku: 'Standard',
        allocationMethod: 'Static',
        tags: network.tags,
      });
    }
    this.nic = new NetworkInterface(this, 'Nic', {
      name: `${props.vmName}-nic`,
      resourceGroupName: network.resourceGroupName,
      location: network.location,
      ipConfiguration: [
        {
          name: 'primary',
          subnetId: network.computeSubnet.id,
          privateIpAddressAllocation: ip === undefined ? 'Dynamic' : 'Static',
          privateIpAddress: ip,
          publicIpAddressId: this.publicIp?.id,
        },
      ],
      tags: network.tags,
    });
    this.privateIpAddress = ip ?? this.nic.privateIpAddress;
  }
}
