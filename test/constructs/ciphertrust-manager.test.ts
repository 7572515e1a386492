import { TerraformStack } from 'cdktf';
import { CIPHERTRUST_IMAGE, CipherTrustManager, CipherTrustManagerProps } from '../../constructs/ciphertrust-manager';
import { network, onlyResource, resourcesOf, sshRsaPublicKey, synthStack } from '../synth-helpers';

const KEY_4096 = sshRsaPublicKey(4096);

function ctm(stack: TerraformStack, props: Partial<CipherTrustManagerProps> = {}): CipherTrustManager {
  return new CipherTrustManager(stack, 'Ctm', {
    name: 'ctm-1',
    network: network(stack),
    imageVersion: '2.6.6506',
    sshPublicKey: KEY_4096,
    privateIpAddress: '10.2.0.10',
    ...props,
  });
}

describe('CipherTrustManager', () => {
  describe('GIVEN the defaults', () => {
    const tf = synthStack((stack) => ctm(stack));
    const vm = onlyResource(tf, 'azurerm_linux_virtual_machine');

    test('THEN it runs the pinned marketplace image with its plan and accepts the terms', () => {
      expect(vm.source_image_reference).toEqual({ ...CIPHERTRUST_IMAGE, version: '2.6.6506' });
      expect(vm.plan).toEqual({ name: 'ciphertrust_manager', product: 'cm_k170v', publisher: 'thalesdiscplusainc1596561677238' });
      expect(onlyResource(tf, 'azurerm_marketplace_agreement')).toMatchObject({ publisher: CIPHERTRUST_IMAGE.publisher, offer: 'cm_k170v', plan: 'ciphertrust_manager' });
      expect(vm.depends_on).toEqual([expect.stringMatching(/^azurerm_marketplace_agreement\./)]);
    });
    test('THEN ksadmin logs in with the SSH key only', () => {
      expect(vm.admin_username).toBe('ksadmin');
      expect(vm.disable_password_authentication).toBe(true);
      expect(vm.admin_password).toBeUndefined();
      expect(vm.admin_ssh_key).toEqual([{ username: 'ksadmin', public_key: KEY_4096 }]);
    });
    test('THEN it is a Standard_F4s_v2 with a Standard HDD OS disk', () => {
      expect(vm.size).toBe('Standard_F4s_v2');
      expect(vm.os_disk.storage_account_type).toBe('Standard_LRS');
    });
    test('THEN its NIC sits in the Compute subnet with the static IP and no public IP', () => {
      const nic = onlyResource(tf, 'azurerm_network_interface');
      expect(nic.ip_configuration[0]).toMatchObject({ private_ip_address_allocation: 'Static', private_ip_address: '10.2.0.10' });
      expect(nic.ip_configuration[0].subnet_id).toMatch(/Network_ComputeSubnet/);
      expect(nic.ip_configuration[0].public_ip_address_id).toBeUndefined();
      // The only public IP is the gateway's.
      expect(resourcesOf(tf, 'azurerm_public_ip').map((p) => p.name)).toEqual(['test-ergw-pip']);
    });
    test('THEN only 443 and 22 are admitted, from the admin CIDRs to the VM', () => {
      const rules = resourcesOf(tf, 'azurerm_network_security_rule');
      expect(rules.map((r) => [r.destination_port_range, r.source_address_prefixes, r.destination_address_prefix])).toEqual([
        ['443', ['203.0.113.0/24'], '10.2.0.10'],
        ['22', ['203.0.113.0/24'], '10.2.0.10'],
      ]);
    });
  });

  test('a public IP, when asked for, is Standard and static', () => {
    const tf = synthStack((stack) => ctm(stack, { publicIp: true }));
    const pip = resourcesOf(tf, 'azurerm_public_ip').find((p) => p.name === 'ctm-1-pip');
    expect(pip).toMatchObject({ sku: 'Standard', allocation_method: 'Static' });
  });

  test('cloud-init custom data is base64-encoded', () => {
    const tf = synthStack((stack) => ctm(stack, { customData: '#cloud-config\nhostname: ctm-1\n' }));
    expect(Buffer.from(onlyResource(tf, 'azurerm_linux_virtual_machine').custom_data, 'base64').toString()).toBe('#cloud-config\nhostname: ctm-1\n');
  });

  test('the marketplace agreement can be left to another stack', () => {
    const tf = synthStack((stack) => ctm(stack, { acceptMarketplaceTerms: false }));
    expect(resourcesOf(tf, 'azurerm_marketplace_agreement')).toHaveLength(0);
  });

  describe('validation', () => {
    const attempt = (props: Partial<CipherTrustManagerProps>) => () => synthStack((stack) => ctm(stack, props));
    test('fails when the admin user is not ksadmin', () => {
      expect(attempt({ adminUsername: 'azureuser' })).toThrow(/adminUsername: received "azureuser"; allowed: "ksadmin"/);
    });
    test('fails when the SSH key is RSA below 2048 bits', () => {
      expect(attempt({ sshPublicKey: sshRsaPublicKey(1024) })).toThrow(/sshPublicKey: received "1024-bit RSA"; allowed: RSA of 2048 bits or more/);
    });
    test('fails when the SSH key is not RSA', () => {
      const ed25519 = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]).toString('base64')} x`;
      expect(attempt({ sshPublicKey: ed25519 })).toThrow(/sshPublicKey: received "ssh-ed25519"; allowed: an RSA key/);
    });
    test('fails when the SSH key is a password or garbage', () => {
      expect(attempt({ sshPublicKey: 'Hunter2!Hunter2!' })).toThrow(/sshPublicKey: received "\(not an OpenSSH public key line\)"/);
      expect(attempt({ sshPublicKey: 'Hunter2!Hunter2!' })).not.toThrow(/Hunter2/);
    });
    test('fails when the image version is not pinned', () => {
      expect(attempt({ imageVersion: 'latest' })).toThrow(/imageVersion: received "latest"; allowed: a pinned version/);
    });
    test('fails when custom data carries a secret, without echoing it', () => {
      const err = (() => {
        try {
          attempt({ customData: '#cloud-config\npassword: S3cretValue99\n' })();
        } catch (e) {
          return e as Error;
        }
        throw new Error('expected a failure');
      })();
      expect(err.message).toMatch(/customData: received <redacted>; allowed: cloud-init without secrets \(found an assignment to a secret-looking field\)/);
      expect(err.message).not.toContain('S3cretValue99');
    });
    test('fails when the private IP is outside the Compute subnet', () => {
      expect(attempt({ privateIpAddress: '10.2.1.10' })).toThrow(/privateIpAddress: received "10.2.1.10"; allowed: an IPv4 address inside the Compute subnet 10.2.0.0\/24/);
    });
    test('fails when the OS disk type is unknown', () => {
      expect(attempt({ osDiskType: 'UltraSSD_LRS' as never })).toThrow(/osDiskType: received "UltraSSD_LRS"/);
    });
  });
});
