import { DedicatedHsm, LUNA_SKU, PAYSHIELD_SKUS } from '../../constructs/dedicated-hsm';
import { DedicatedHsmHaPair } from '../../constructs/dedicated-hsm-ha-pair';
import { network, onlyResource, resourcesOf, synthStack } from '../synth-helpers';

describe('DedicatedHsm', () => {
  test('defaults to the Luna A790 SKU in the delegated HSM subnet with its private IP', () => {
    const tf = synthStack((stack) => new DedicatedHsm(stack, 'Hsm', { name: 'luna-1', network: network(stack), privateIpAddress: '10.2.1.8', stampId: 'stamp1' }));
    const hsm = onlyResource(tf, 'azurerm_dedicated_hardware_security_module');
    expect(hsm).toMatchObject({ name: 'luna-1', sku_name: LUNA_SKU, stamp_id: 'stamp1' });
    expect(hsm.network_profile.network_interface_private_ip_addresses).toEqual(['10.2.1.8']);
    expect(hsm.network_profile.subnet_id).toMatch(/azurerm_subnet\.Network_HsmSubnet_\w+\.id/);
  });

  test('depends on the ExpressRoute gateway', () => {
    const tf = synthStack((stack) => new DedicatedHsm(stack, 'Hsm', { name: 'luna-1', network: network(stack), privateIpAddress: '10.2.1.8' }));
    expect(onlyResource(tf, 'azurerm_dedicated_hardware_security_module').depends_on).toEqual([
      expect.stringMatching(/^azurerm_virtual_network_gateway\.Network_Gateway_\w+$/),
    ]);
  });

  test('accepts every payShield SKU and zones instead of a stamp', () => {
    for (const sku of PAYSHIELD_SKUS) {
      const tf = synthStack((stack) => new DedicatedHsm(stack, 'Hsm', { name: 'ps-1', network: network(stack), privateIpAddress: '10.2.1.9', skuName: sku, zones: ['1'] }));
      expect(onlyResource(tf, 'azurerm_dedicated_hardware_security_module')).toMatchObject({ sku_name: sku, zones: ['1'] });
    }
  });

  describe('validation', () => {
    const attempt = (props: Record<string, unknown>, networkProps = {}) => () =>
      synthStack((stack) => new DedicatedHsm(stack, 'Hsm', { name: 'luna-1', network: network(stack, networkProps), privateIpAddress: '10.2.1.8', ...props }));

    test('fails when the SKU is not a Dedicated HSM SKU', () => {
      expect(attempt({ skuName: 'SafeNet Luna Network HSM A750' })).toThrow(/skuName: received "SafeNet Luna Network HSM A750"; allowed: "SafeNet Luna Network HSM A790", "payShield10K_LMK1_CPS60"/);
    });
    test('fails when both a stamp and zones are given', () => {
      expect(attempt({ stampId: 'stamp1', zones: ['1'] })).toThrow(/either stampId or zones, not both/);
    });
    test('fails when the stamp is unknown', () => {
      expect(attempt({ stampId: 'stamp3' })).toThrow(/stampId: received "stamp3"; allowed: "stamp1", "stamp2"/);
    });
    test('fails when the private IP is outside the HSM subnet, reserved or malformed', () => {
      expect(attempt({ privateIpAddress: '10.2.0.8' })).toThrow(/privateIpAddress: received "10.2.0.8"; allowed: an IPv4 address inside the HSM subnet 10.2.1.0\/24/);
      expect(attempt({ privateIpAddress: '10.2.1.1' })).toThrow(/privateIpAddress: received "10.2.1.1"/);
      expect(attempt({ privateIpAddress: '10.2.1.300' })).toThrow(/privateIpAddress: received "10.2.1.300"/);
    });
    test('fails when the network has no HSM subnet and gateway', () => {
      expect(attempt({}, { dedicatedHsmSubnet: false })).toThrow(/network: .*allowed: an HsmNetwork made with dedicatedHsmSubnet: true/);
    });
    test('fails when the name breaks the ARM rule', () => {
      expect(attempt({ name: 'x' })).toThrow(/name: received "x"; allowed: 3-24 letters, digits or hyphens/);
    });
  });
});

describe('DedicatedHsmHaPair', () => {
  test('places the two HSMs in stamp1 and stamp2 with their own IPs', () => {
    const tf = synthStack((stack) => new DedicatedHsmHaPair(stack, 'Pair', { name: 'luna', network: network(stack), privateIpAddresses: ['10.2.1.8', '10.2.1.9'] }));
    const hsms = resourcesOf(tf, 'azurerm_dedicated_hardware_security_module');
    expect(hsms.map((h) => [h.name, h.stamp_id, h.network_profile.network_interface_private_ip_addresses[0]])).toEqual([
      ['luna-1', 'stamp1', '10.2.1.8'],
      ['luna-2', 'stamp2', '10.2.1.9'],
    ]);
  });

  test('fails when both HSMs are given the same IP', () => {
    expect(() =>
      synthStack((stack) => new DedicatedHsmHaPair(stack, 'Pair', { name: 'luna', network: network(stack), privateIpAddresses: ['10.2.1.8', '10.2.1.8'] })),
    ).toThrow(/privateIpAddresses: received \["10.2.1.8","10.2.1.8"\]; allowed: two different private IPs/);
  });
});
