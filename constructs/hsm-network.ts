import { DataAzurermResourceGroup } from '@cdktf/provider-azurerm/lib/data-azurerm-resource-group';
import { NetworkSecurityGroup } from '@cdktf/provider-azurerm/lib/network-security-group';
import { NetworkSecurityRule } from '@cdktf/provider-azurerm/lib/network-security-rule';
import { PublicIp } from '@cdktf/provider-azurerm/lib/public-ip';
import { ResourceGroup } from '@cdktf/provider-azurerm/lib/resource-group';
import { Subnet } from '@cdktf/provider-azurerm/lib/subnet';
import { SubnetNetworkSecurityGroupAssociation } from '@cdktf/provider-azurerm/lib/subnet-network-security-group-association';
import { VirtualNetwork } from '@cdktf/provider-azurerm/lib/virtual-network';
import { VirtualNetworkGateway } from '@cdktf/provider-azurerm/lib/virtual-network-gateway';
import { Construct } from 'constructs';
import { Cidr, cidrContains, cidrsOverlap, parseCidr } from './cidr';
import { addDeleteLock } from './delete-lock';
import { checkName, checkOneOf, fail, isKnown } from './validation';

import { DEDICATED_HSM_DELEGATION, DEDICATED_HSM_DELEGATION_ACTIONS } from './dedicated-hsm-delegation';

export { DEDICATED_HSM_DELEGATION, DEDICATED_HSM_DELEGATION_ACTIONS };
export const EXPRESS_ROUTE_GATEWAY_SKUS = ['Standard', 'HighPerformance', 'UltraPerformance', 'ErGw1AZ', 'ErGw2AZ', 'ErGw3AZ'] as const;
export type ExpressRouteGatewaySku = (typeof EXPRESS_ROUTE_GATEWAY_SKUS)[number];

export interface HsmNetworkProps {
  /** Azure region, e.g. "westeurope". */
  readonly location: string;
  /** Name of the resource group that holds the estate. */
  readonly resourceGroupName: string;
  /**
   * Use a resource group that already exists instead of creating it.
   * @default false: the resource group is created
   */
  readonly existingResourceGroup?: boolean;
  /**
   * Also puts a CanNotDelete management lock on the resource group, so nothing in it (the HSMs, the gateway,
   * the network they need) can be deleted through Azure until the lock is removed.
   * @default false (the HSMs carry their own locks)
   */
  readonly resourceGroupDeleteLock?: boolean;
  /** Prefix of every resource name made here, e.g. "contoso-prod". */
  readonly namePrefix: string;
  /**
   * Address space of the VNet.
   * @default ['10.2.0.0/16']
   */
  readonly addressSpace?: string[];
  /**
   * Compute subnet (CipherTrust Manager, Luna client host, private endpoints).
   * @default '10.2.0.0/24'
   */
  readonly computeSubnetCidr?: string;
  /**
   * Whether to make the HSM subnet and the ExpressRoute gateway a Dedicated HSM needs.
   * @default true
   */
  readonly dedicatedHsmSubnet?: boolean;
  /**
   * HSM subnet, delegated to Microsoft.HardwareSecurityModules/dedicatedHSMs.
   * @default '10.2.1.0/24'
   */
  readonly hsmSubnetCidr?: string;
  /**
   * GatewaySubnet, /27 or larger.
   * @default '10.2.255.0/26'
   */
  readonly gatewaySubnetCidr?: string;
  /**
   * ExpressRoute gateway SKU.
   * @default 'Standard'
   */
  readonly gatewaySku?: ExpressRouteGatewaySku;
  /**
   * Source CIDRs allowed to reach the admin ports of the Compute subnet's VMs. Nothing else comes in from
   * outside the VNet.
   * @default [] (no inbound administration from outside the VNet)
   */
  readonly adminCidrs?: string[];
  /** @default {} */
  readonly tags?: Record<string, string>;
}

const MIN_GATEWAY_SUBNET_PREFIX = 27;
/** A Compute subnet holds VMs and private endpoints; /29 leaves three usable addresses after Azure's five. */
const MIN_COMPUTE_SUBNET_PREFIX = 29;
/** A Dedicated HSM subnet holds the HSM NICs; Microsoft's examples use /24, Azure refuses below /29. */
const MIN_HSM_SUBNET_PREFIX = 29;
const NAME_PREFIX = /^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$/;

/**
 * The resource group, VNet and subnets of an HSM estate: Compute (with an NSG that only admits the admin
 * CIDRs), the HSM subnet delegated to Dedicated HSM (Azure refuses an NSG there), GatewaySubnet and the
 * ExpressRoute gateway the Dedicated HSM service requires.
 */
export class HsmNetwork extends Construct {
  readonly resourceGroupName: string;
  readonly resourceGroupId: string;
  readonly location: string;
  readonly namePrefix: string;
  readonly tags: Record<string, string>;
  readonly vnet: VirtualNetwork;
  readonly computeSubnet: Subnet;
  readonly computeSubnetCidr: Cidr;
  readonly computeNsg: NetworkSecurityGroup;
  readonly hsmSubnet?: Subnet;
  readonly hsmSubnetCidr?: Cidr;
  readonly gatewaySubnet?: Subnet;
  readonly gateway?: VirtualNetworkGateway;
  readonly adminCidrs: readonly string[];
  private nextRulePriority = 100;

  constructor(scope: Construct, id: string, props: HsmNetworkProps) {
    super(scope, id);
    checkName(this, 'namePrefix', props.namePrefix, NAME_PREFIX, '1-40 letters, digits or hyphens, starting with a letter or digit');
    this.namePrefix = props.namePrefix;
    this.tags = props.tags ?? {};
    this.adminCidrs = props.adminCidrs ?? [];
    const withHsm = props.dedicatedHsmSubnet ?? true;

    const space = (props.addressSpace ?? ['10.2.0.0/16']).map((c, i) => this.cidr(`addressSpace[${i}]`, c));
    if (space.length === 0) fail(this, 'addressSpace', [], 'at least one CIDR');
    this.computeSubnetCidr = this.subnetCidr('computeSubnetCidr', props.computeSubnetCidr ?? '10.2.0.0/24', space, MIN_COMPUTE_SUBNET_PREFIX);
    const layout: Array<[string, Cidr]> = [['computeSubnetCidr', this.computeSubnetCidr]];
    let gatewayCidr: Cidr | undefined;
    if (withHsm) {
      this.hsmSubnetCidr = this.subnetCidr('hsmSubnetCidr', props.hsmSubnetCidr ?? '10.2.1.0/24', space, MIN_HSM_SUBNET_PREFIX);
      gatewayCidr = this.subnetCidr('gatewaySubnetCidr', props.gatewaySubnetCidr ?? '10.2.255.0/26', space, MIN_GATEWAY_SUBNET_PREFIX);
      layout.push(['hsmSubnetCidr', this.hsmSubnetCidr], ['gatewaySubnetCidr', gatewayCidr]);
      checkOneOf(this, 'gatewaySku', props.gatewaySku ?? 'Standard', EXPRESS_ROUTE_GATEWAY_SKUS);
    } else if (props.hsmSubnetCidr !== undefined || props.gatewaySubnetCidr !== undefined || props.gatewaySku !== undefined) {
      fail(this, 'dedicatedHsmSubnet', false, 'true when hsmSubnetCidr, gatewaySubnetCidr or gatewaySku is set');
    }
    for (let i = 0; i < layout.length; i++) {
      for (let j = i + 1; j < layout.length; j++) {
        if (cidrsOverlap(layout[i][1], layout[j][1])) {
          fail(this, layout[j][0], layout[j][1].text, `a CIDR that does not overlap ${layout[i][0]} (${layout[i][1].text})`);
        }
      }
    }
    this.adminCidrs.forEach((c, i) => {
      const parsed = this.cidr(`adminCidrs[${i}]`, c);
      if (parsed.prefix === 0) fail(this, `adminCidrs[${i}]`, c, 'a specific source network, not the whole internet');
    });

    if (props.existingResourceGroup) {
      const rg = new DataAzurermResourceGroup(this, 'ResourceGroup', { name: props.resourceGroupName });
      this.resourceGroupName = rg.name;
      this.resourceGroupId = rg.id;
      // Resources follow the given location; the existing group's own location may differ, as Azure allows.
      this.location = props.location;
    } else {
      const rg = new ResourceGroup(this, 'ResourceGroup', { name: props.resourceGroupName, location: props.location, tags: this.tags });
      this.resourceGroupName = rg.name;
      this.resourceGroupId = rg.id;
      this.location = rg.location;
    }
    if (props.resourceGroupDeleteLock) addDeleteLock(this, 'ResourceGroupDeleteLock', props.resourceGroupName, this.resourceGroupId);

    this.vnet = new VirtualNetwork(this, 'Vnet', {
      name: `${props.namePrefix}-vnet`,
      resourceGroupName: this.resourceGroupName,
      location: this.location,
      addressSpace: space.map((c) => c.text),
      tags: this.tags,
    });

    this.computeSubnet = new Subnet(this, 'ComputeSubnet', {
      name: 'Compute',
      resourceGroupName: this.resourceGroupName,
      virtualNetworkName: this.vnet.name,
      addressPrefixes: [this.computeSubnetCidr.text],
      defaultOutboundAccessEnabled: false,
    });
    // Azure's default rules already deny inbound from outside the VNet; admin access is added per VM port.
    this.computeNsg = new NetworkSecurityGroup(this, 'ComputeNsg', {
      name: `${props.namePrefix}-compute-nsg`,
      resourceGroupName: this.resourceGroupName,
      location: this.location,
      tags: this.tags,
    });
    new SubnetNetworkSecurityGroupAssociation(this, 'ComputeNsgAssociation', {
      subnetId: this.computeSubnet.id,
      networkSecurityGroupId: this.computeNsg.id,
    });

    if (withHsm) {
      this.hsmSubnet = new Subnet(this, 'HsmSubnet', {
        name: 'HSM',
        resourceGroupName: this.resourceGroupName,
        virtualNetworkName: this.vnet.name,
        addressPrefixes: [this.hsmSubnetCidr!.text],
        delegation: [
          {
            name: 'dedicated-hsm',
            serviceDelegation: { name: DEDICATED_HSM_DELEGATION, actions: DEDICATED_HSM_DELEGATION_ACTIONS },
          },
        ],
      });
      this.gatewaySubnet = new Subnet(this, 'GatewaySubnet', {
        // Azure requires this exact name for a virtual network gateway's subnet.
        name: 'GatewaySubnet',
        resourceGroupName: this.resourceGroupName,
        virtualNetworkName: this.vnet.name,
        addressPrefixes: [gatewayCidr!.text],
      });
      const gatewayIp = new PublicIp(this, 'GatewayPublicIp', {
        name: `${props.namePrefix}-ergw-pip`,
        resourceGroupName: this.resourceGroupName,
        location: this.location,
        sku: 'Standard',
        allocationMethod: 'Static',
        tags: this.tags,
      });
      this.gateway = new VirtualNetworkGateway(this, 'Gateway', {
        name: `${props.namePrefix}-ergw`,
        resourceGroupName: this.resourceGroupName,
        location: this.location,
        type: 'ExpressRoute',
        sku: props.gatewaySku ?? 'Standard',
        ipConfiguration: [
          {
            name: 'gateway-ip',
            publicIpAddressId: gatewayIp.id,
            privateIpAddressAllocation: 'Dynamic',
            subnetId: this.gatewaySubnet.id,
          },
        ],
        tags: this.tags,
      });
    }
  }

  /**
   * Admits TCP `port` from the admin CIDRs to `destinationAddress` (a VM's private IP) through the Compute
   * NSG. With no admin CIDRs nothing is added: the port stays closed to everything outside the VNet.
   */
  allowAdminInbound(ruleName: string, port: number, destinationAddress: string): void {
    if (this.adminCidrs.length === 0) return;
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(ruleName)) fail(this, 'allowAdminInbound ruleName', ruleName, 'letters and digits, starting with a letter');
    const priority = this.nextRulePriority;
    this.nextRulePriority += 10;
    if (priority > 4096) fail(this, 'allowAdminInbound', ruleName, 'at most 400 admin rules in one NSG');
    new NetworkSecurityRule(this, `Allow${ruleName}`, {
      name: `allow-admin-${ruleName.toLowerCase()}`,
      resourceGroupName: this.resourceGroupName,
      networkSecurityGroupName: this.computeNsg.name,
      priority,
      direction: 'Inbound',
      access: 'Allow',
      protocol: 'Tcp',
      sourcePortRange: '*',
      destinationPortRange: String(port),
      sourceAddressPrefixes: [...this.adminCidrs],
      destinationAddressPrefix: destinationAddress,
    });
  }

  private cidr(prop: string, text: string): Cidr {
    const parsed = parseCidr(text);
    if (!parsed) fail(this, prop, text, 'an IPv4 CIDR such as 10.2.0.0/24, with no host bits set');
    return parsed;
  }

  private subnetCidr(prop: string, text: string, space: Cidr[], minPrefix: number): Cidr {
    if (!isKnown(text)) fail(this, prop, text, 'a literal CIDR (the layout is validated at synth time)');
    const parsed = this.cidr(prop, text);
    if (!space.some((s) => cidrContains(s, parsed))) {
      fail(this, prop, text, `a CIDR inside the VNet address space (${space.map((s) => s.text).join(', ')})`);
    }
    if (parsed.prefix > minPrefix) fail(this, prop, text, `a /${minPrefix} or larger block`);
    return parsed;
  }
}
