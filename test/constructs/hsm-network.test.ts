import { DEDICATED_HSM_DELEGATION, HsmNetwork } from '../../constructs/hsm-network';
import { cidrsOverlap, isAssignableInSubnet, parseCidr } from '../../constructs/cidr';
import { BASE_NETWORK, network, onlyResource, resourcesOf, synthStack } from '../synth-helpers';

describe('HsmNetwork', () => {
  test('creates the resource group, VNet and the three subnets with the default layout', () => {
    const tf = synthStack((stack) => network(stack));
    expect(onlyResource(tf, 'azurerm_resource_group')).toMatchObject({ name: 'rg-test', location: 'westeurope' });
    expect(onlyResource(tf, 'azurerm_virtual_network')).toMatchObject({ name: 'test-vnet', address_space: ['10.2.0.0/16'] });
    const subnets = Object.fromEntries(resourcesOf(tf, 'azurerm_subnet').map((s) => [s.name, s.address_prefixes]));
    expect(subnets).toEqual({ Compute: ['10.2.0.0/24'], HSM: ['10.2.1.0/24'], GatewaySubnet: ['10.2.255.0/26'] });
  });

  test('delegates the HSM subnet to Dedicated HSM with the documented actions', () => {
    const tf = synthStack((stack) => network(stack));
    const hsm = resourcesOf(tf, 'azurerm_subnet').find((s) => s.name === 'HSM')!;
    expect(hsm.delegation).toEqual([
      {
        name: 'dedicated-hsm',
        service_delegation: {
          name: DEDICATED_HSM_DELEGATION,
          actions: ['Microsoft.Network/networkinterfaces/*', 'Microsoft.Network/virtualNetworks/subnets/join/action'],
        },
      },
    ]);
  });

  test('puts an NSG on the Compute subnet only (Azure refuses one on the HSM subnet and GatewaySubnet)', () => {
    const tf = synthStack((stack) => network(stack));
    const association = onlyResource(tf, 'azurerm_subnet_network_security_group_association');
    expect(association.subnet_id).toMatch(/azurerm_subnet\.Network_ComputeSubnet_\w+\.id/);
    expect(onlyResource(tf, 'azurerm_network_security_group').security_rule).toBeUndefined();
  });

  test('makes an ExpressRoute gateway with a Standard static public IP in GatewaySubnet', () => {
    const tf = synthStack((stack) => network(stack));
    const gw = onlyResource(tf, 'azurerm_virtual_network_gateway');
    expect(gw).toMatchObject({ type: 'ExpressRoute', sku: 'Standard' });
    expect(gw.ip_configuration[0].subnet_id).toMatch(/azurerm_subnet\.Network_GatewaySubnet_\w+\.id/);
    expect(onlyResource(tf, 'azurerm_public_ip')).toMatchObject({ sku: 'Standard', allocation_method: 'Static' });
  });

  test('admits admin ports only from the admin CIDRs, to one destination', () => {
    const tf = synthStack((stack) => network(stack).allowAdminInbound('Ctm', 443, '10.2.0.10'));
    expect(onlyResource(tf, 'azurerm_network_security_rule')).toMatchObject({
      direction: 'Inbound',
      access: 'Allow',
      protocol: 'Tcp',
      destination_port_range: '443',
      source_address_prefixes: ['203.0.113.0/24'],
      destination_address_prefix: '10.2.0.10',
    });
  });

  test('with no admin CIDRs adds no inbound rule at all', () => {
    const tf = synthStack((stack) => network(stack, { adminCidrs: [] }).allowAdminInbound('Ctm', 22, '10.2.0.10'));
    expect(resourcesOf(tf, 'azurerm_network_security_rule')).toHaveLength(0);
  });

  test('uses an existing resource group by name without creating one', () => {
    const tf = synthStack((stack) => network(stack, { existingResourceGroup: true }));
    expect(resourcesOf(tf, 'azurerm_resource_group')).toHaveLength(0);
    expect(Object.values(tf.data.azurerm_resource_group)).toEqual([expect.objectContaining({ name: 'rg-test' })]);
  });

  test('without a Dedicated HSM makes neither the HSM subnet nor the gateway', () => {
    const tf = synthStack((stack) => network(stack, { dedicatedHsmSubnet: false }));
    expect(resourcesOf(tf, 'azurerm_subnet').map((s) => s.name)).toEqual(['Compute']);
    expect(resourcesOf(tf, 'azurerm_virtual_network_gateway')).toHaveLength(0);
  });

  describe('validation', () => {
    const attempt = (props: Record<string, unknown>) => () => synthStack((stack) => new HsmNetwork(stack, 'Network', { ...BASE_NETWORK, ...props }));

    test('fails when a CIDR is malformed', () => {
      expect(attempt({ computeSubnetCidr: '10.2.0.0/33' })).toThrow(/invalid computeSubnetCidr: received "10.2.0.0\/33"; allowed: an IPv4 CIDR/);
      expect(attempt({ addressSpace: ['10.2.0.1/16'] })).toThrow(/addressSpace\[0\].*no host bits set/);
    });
    test('fails when a subnet lies outside the VNet space', () => {
      expect(attempt({ hsmSubnetCidr: '10.9.1.0/24' })).toThrow(/hsmSubnetCidr: received "10.9.1.0\/24"; allowed: a CIDR inside the VNet address space \(10.2.0.0\/16\)/);
    });
    test('fails when subnets overlap', () => {
      expect(attempt({ hsmSubnetCidr: '10.2.0.128/25' })).toThrow(/hsmSubnetCidr: received "10.2.0.128\/25"; allowed: a CIDR that does not overlap computeSubnetCidr \(10.2.0.0\/24\)/);
    });
    test('fails when GatewaySubnet is smaller than /27', () => {
      expect(attempt({ gatewaySubnetCidr: '10.2.255.0/28' })).toThrow(/gatewaySubnetCidr: received "10.2.255.0\/28"; allowed: a \/27 or larger block/);
    });
    test('fails when an admin CIDR is the whole internet or malformed', () => {
      expect(attempt({ adminCidrs: ['0.0.0.0/0'] })).toThrow(/adminCidrs\[0\]: received "0.0.0.0\/0"; allowed: a specific source network/);
      expect(attempt({ adminCidrs: ['office'] })).toThrow(/adminCidrs\[0\]: received "office"/);
    });
    test('fails when HSM settings are given without the HSM subnet', () => {
      expect(attempt({ dedicatedHsmSubnet: false, hsmSubnetCidr: '10.2.1.0/24' })).toThrow(/dedicatedHsmSubnet/);
    });
    test('fails when the gateway SKU is not an ExpressRoute SKU', () => {
      expect(attempt({ gatewaySku: 'VpnGw1' })).toThrow(/gatewaySku: received "VpnGw1"; allowed: "Standard"/);
    });
    test('fails when the name prefix has characters Azure refuses', () => {
      expect(attempt({ namePrefix: 'bad_prefix!' })).toThrow(/namePrefix: received "bad_prefix!"/);
    });
  });
});

describe('cidr arithmetic', () => {
  test('parses, detects overlap and reserved addresses', () => {
    const a = parseCidr('10.0.0.0/24')!;
    expect(a.size).toBe(256);
    expect(cidrsOverlap(a, parseCidr('10.0.0.128/25')!)).toBe(true);
    expect(cidrsOverlap(a, parseCidr('10.0.1.0/24')!)).toBe(false);
    expect(isAssignableInSubnet('10.0.0.3', a)).toBe(false);
    expect(isAssignableInSubnet('10.0.0.4', a)).toBe(true);
    expect(isAssignableInSubnet('10.0.0.254', a)).toBe(true);
    expect(isAssignableInSubnet('10.0.0.255', a)).toBe(false);
    expect(parseCidr('256.0.0.0/8')).toBeUndefined();
    expect(parseCidr('10.0.0.0')).toBeUndefined();
  });
});
