import { DataAzurermKeyVaultSecret } from '@cdktf/provider-azurerm/lib/data-azurerm-key-vault-secret';
import { TerraformStack } from 'cdktf';
import { LunaClientHost, LunaClientHostProps } from '../../constructs/luna-client-host';
import { network, onlyResource, resourcesOf, synthStack } from '../synth-helpers';

function host(stack: TerraformStack, props: Partial<LunaClientHostProps> = {}): LunaClientHost {
  return new LunaClientHost(stack, 'LunaClient', { name: 'luna-client', network: network(stack), privateIpAddress: '10.2.0.11', ...props });
}

describe('LunaClientHost', () => {
  test('is a Windows 10 Pro VM with a Standard HDD in the Compute subnet', () => {
    const tf = synthStack((stack) => host(stack));
    const vm = onlyResource(tf, 'azurerm_windows_virtual_machine');
    expect(vm.source_image_reference).toMatchObject({ publisher: 'MicrosoftWindowsDesktop', offer: 'Windows-10', sku: 'win10-22h2-pro' });
    expect(vm.os_disk.storage_account_type).toBe('Standard_LRS');
    expect(onlyResource(tf, 'azurerm_network_interface').ip_configuration[0].subnet_id).toMatch(/Network_ComputeSubnet/);
  });

  test('takes the image from props', () => {
    const image = { publisher: 'MicrosoftWindowsServer', offer: 'WindowsServer', sku: '2022-datacenter', version: '20348.1.1' };
    const tf = synthStack((stack) => host(stack, { image }));
    expect(onlyResource(tf, 'azurerm_windows_virtual_machine').source_image_reference).toEqual(image);
  });

  test('admits RDP only from the admin CIDRs', () => {
    const tf = synthStack((stack) => host(stack));
    expect(resourcesOf(tf, 'azurerm_network_security_rule').map((r) => [r.destination_port_range, r.source_address_prefixes])).toEqual([['3389', ['203.0.113.0/24']]]);
  });

  test('by default the password comes from a sensitive variable and never appears in clear', () => {
    const tf = synthStack((stack) => host(stack));
    expect(onlyResource(tf, 'azurerm_windows_virtual_machine').admin_password).toBe('${var.luna_client_admin_password}');
    expect(tf.variable.luna_client_admin_password).toMatchObject({ sensitive: true, type: 'string', nullable: false });
    expect(tf.variable.luna_client_admin_password.default).toBeUndefined();
  });

  test('accepts the password as a Key Vault secret reference', () => {
    const tf = synthStack((stack) => {
      const secret = new DataAzurermKeyVaultSecret(stack, 'Pw', { name: 'luna-pw', keyVaultId: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv' });
      host(stack, { adminPassword: secret.value });
    });
    expect(onlyResource(tf, 'azurerm_windows_virtual_machine').admin_password).toMatch(/^\$\{data\.azurerm_key_vault_secret\.Pw\.value\}$/);
    expect(tf.variable).toBeUndefined();
  });

  test('fails when the password is a literal, without echoing it', () => {
    const attempt = () => synthStack((stack) => host(stack, { adminPassword: 'Sup3r$ecretPassw0rd' }));
    expect(attempt).toThrow(/adminPassword: received <redacted>; allowed: a Terraform reference/);
    expect(attempt).not.toThrow(/Sup3r/);
  });

  test('fails when the name is too long for a Windows computer name', () => {
    expect(() => synthStack((stack) => host(stack, { name: 'a-very-long-windows-name' }))).toThrow(/name: received "a-very-long-windows-name"; allowed: 1-15 letters/);
  });

  test('fails when the admin user name is reserved by Azure', () => {
    expect(() => synthStack((stack) => host(stack, { adminUsername: 'Administrator' }))).toThrow(/adminUsername: received "Administrator"; allowed: a name Azure allows/);
  });
});
