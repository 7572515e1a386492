import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { buildApp } from '../../stacks/app';
import { configPathFor } from '../../stacks/config-path';
import { loadEnvironmentConfig } from '../../stacks/environment-config';
import { readStack, readSynthesizedEstate } from '../../scripts/dry-run/synthesized-estate';

const SUB = '00000000-0000-0000-0000-0000000000aa';

describe('readSynthesizedEstate', () => {
  const out = mkdtempSync(join(tmpdir(), 'hsm-estate-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  buildApp(loadEnvironmentConfig(configPathFor('example')), out).app.synth();
  const estate = readSynthesizedEstate(out, SUB);

  test('reads the Dedicated HSM with its references resolved to ARM ids and literals', () => {
    expect(estate.dedicatedHsms).toEqual([
      {
        stack: 'hsm-example',
        name: 'hsm-example-luna',
        resourceGroup: 'rg-hsm-example',
        location: 'westeurope',
        sku: 'SafeNet Luna Network HSM A790',
        stampId: 'stamp1',
        zones: undefined,
        subnetId: `/subscriptions/${SUB}/resourceGroups/rg-hsm-example/providers/Microsoft.Network/virtualNetworks/hsm-example-vnet/subnets/HSM`,
        privateIps: ['10.2.1.8'],
        tags: expect.objectContaining({ environment: 'example' }),
      },
    ]);
  });

  test('reads both Managed HSMs with their keys, rotation policies and role assignments', () => {
    const [primary, dr] = estate.managedHsms;
    expect(primary).toMatchObject({ stack: 'hsm-example', name: 'hsm-example-mhsm', location: 'westeurope', purgeProtection: true, softDeleteRetentionDays: 90, publicNetworkAccess: false });
    expect(primary.adminObjectIds).toEqual(['aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee']);
    expect(primary.keys.map((k) => k.name).sort()).toEqual(['app-signing', 'byok-kek', 'data-wrapping']);
    expect(primary.keys.find((k) => k.name === 'app-signing')).toMatchObject({ keyType: 'EC-HSM', curve: 'P-256', rotation: { expireAfter: 'P1Y', timeBeforeExpiry: 'P30D' } });
    expect(primary.keys.find((k) => k.name === 'byok-kek')).toMatchObject({ keyType: 'RSA-HSM', keySize: 4096, keyOps: ['import'], rotation: undefined });
    expect(primary.roleAssignments.map((a) => a.scope).sort()).toEqual(['/', '/keys']);
    expect(dr).toMatchObject({ stack: 'hsm-example-dr', name: 'hsm-example-mhsm-dr', location: 'northeurope', keys: [] });
  });

  test('takes the VM IPs from their synthesized NICs', () => {
    expect(estate.vms).toEqual([
      { stack: 'hsm-example', name: 'hsm-example-ctm', kind: 'linux', privateIp: '10.2.0.10' },
      { stack: 'hsm-example', name: 'luna-client', kind: 'windows', privateIp: '10.2.0.11' },
    ]);
  });

  test('lists what the simulator does not run', () => {
    const types = estate.notSimulated.filter((n) => n.stack === 'hsm-example').map((n) => n.type);
    expect(types).toEqual(expect.arrayContaining(['azurerm_virtual_network_gateway', 'azurerm_private_endpoint', 'azurerm_linux_virtual_machine', 'azurerm_monitor_diagnostic_setting']));
    expect(types).not.toContain('azurerm_dedicated_hardware_security_module');
  });

  test('fails clearly on a reference to a resource that is not there or only known after apply', () => {
    const tf = { resource: { azurerm_dedicated_hardware_security_module: { h: { name: 'x', resource_group_name: '${azurerm_resource_group.missing.name}', network_profile: { subnet_id: 's' } } } } };
    expect(() => readStack('s', tf, SUB)).toThrow(/refers to azurerm_resource_group\.missing, which it does not contain/);
    const tf2 = { resource: { azurerm_resource_group: { rg: { name: 'rg' } }, azurerm_dedicated_hardware_security_module: { h: { name: 'x', resource_group_name: '${azurerm_resource_group.rg.name}', location: '${azurerm_resource_group.rg.location}', network_profile: { subnet_id: 's' } } } } };
    expect(() => readStack('s', tf2, SUB)).toThrow(/azurerm_resource_group\.rg\.location is only known after apply/);
  });
});
