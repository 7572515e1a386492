import { LinuxVirtualMachine } from '@cdktf/provider-azurerm/lib/linux-virtual-machine';
import { MarketplaceAgreement } from '@cdktf/provider-azurerm/lib/marketplace-agreement';
import { Construct } from 'constructs';
import { ComputeVmNic } from './compute-vm-network';
import { HsmNetwork } from './hsm-network';
import { findSecretLikeContent } from './secret-patterns';
import { parseSshPublicKey } from './ssh-public-key';
import { checkName, checkOneOf, fail, failSecret, isKnown } from './validation';

export const CIPHERTRUST_IMAGE = {
  publisher: 'thalesdiscplusainc1596561677238',
  offer: 'cm_k170v',
  sku: 'ciphertrust_manager',
} as const;
/** The only admin user the CipherTrust Manager image accepts. */
export const CIPHERTRUST_ADMIN_USER = 'ksadmin';
export const OS_DISK_TYPES = ['Standard_LRS', 'StandardSSD_LRS', 'Premium_LRS'] as const;
export type OsDiskType = (typeof OS_DISK_TYPES)[number];

export interface CipherTrustManagerProps {
  /** VM name: 1-64 letters, digits and hyphens. */
  readonly name: string;
  readonly network: HsmNetwork;
  /** Marketplace image version, pinned, e.g. '2.6.6506' (`az vm image list --offer cm_k170v --all`). */
  readonly imageVersion: string;
  /** OpenSSH RSA public key of 2048 bits or more (4096 recommended) for ksadmin. */
  readonly sshPublicKey: string;
  /** @default 'ksadmin' (the only value the image accepts) */
  readonly adminUsername?: string;
  /** @default 'Standard_F4s_v2' */
  readonly size?: string;
  /** @default 'Standard_LRS' (Standard HDD) */
  readonly osDiskType?: OsDiskType;
  /** Static private IP in the Compute subnet. @default dynamic */
  readonly privateIpAddress?: string;
  /** @default false: reachable only inside the VNet */
  readonly publicIp?: boolean;
  /** cloud-init configuration (plain text; encoded here). Must not carry secrets. @default none */
  readonly customData?: string;
  /**
   * Accept the image's marketplace terms in this stack. Turn off when another stack of the subscription
   * already accepts them (the agreement is one per subscription and image plan).
   * @default true
   */
  readonly acceptMarketplaceTerms?: boolean;
  /** @default the network's tags */
  readonly tags?: Record<string, string>;
}

const NAME_RULE = /^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}[a-zA-Z0-9]$/;
const VERSION_RULE = /^\d+\.\d+\.\d+$/;
const MIN_RSA_BITS = 2048;

/**
 * A Virtual CipherTrust Manager from the Azure Marketplace in the Compute subnet: SSH key only for ksadmin,
 * HTTPS (443) and SSH (22) admitted only from the admin CIDRs.
 */
export class CipherTrustManager extends Construct {
  readonly vm: LinuxVirtualMachine;
  readonly nic: ComputeVmNic;
  readonly privateIpAddress: string;
  readonly id: string;

  constructor(scope: Construct, id: string, props: CipherTrustManagerProps) {
    super(scope, id);
    checkName(this, 'name', props.name, NAME_RULE, '2-64 letters, digits and hyphens, not starting or ending with a hyphen');
    if (isKnown(props.imageVersion) && !VERSION_RULE.test(props.imageVersion)) {
      fail(this, 'imageVersion', props.imageVersion, 'a pinned version such as 2.6.6506 (not "latest")');
    }
    const adminUsername = props.adminUsername ?? CIPHERTRUST_ADMIN_USER;
    checkOneOf(this, 'adminUsername', adminUsername, [CIPHERTRUST_ADMIN_USER]);
    if (isKnown(props.sshPublicKey)) {
      const key = parseSshPublicKey(props.sshPublicKey);
      if (!key) fail(this, 'sshPublicKey', '(not an OpenSSH public key line)', 'an OpenSSH RSA public key: "ssh-rsa AAAA... comment"');
      if (key.type !== 'ssh-rsa') fail(this, 'sshPublicKey', key.type, 'an RSA key (ssh-rsa); CipherTrust Manager supports no other type');
      if ((key.bits ?? 0) < MIN_RSA_BITS) fail(this, 'sshPublicKey', `${key.bits}-bit RSA`, `RSA of ${MIN_RSA_BITS} bits or more (4096 recommended)`);
    }
    const osDiskType = props.osDiskType ?? 'Standard_LRS';
    checkOneOf(this, 'osDiskType', osDiskType, OS_DISK_TYPES);
    if (props.customData !== undefined && isKnown(props.customData)) {
      const reason = findSecretLikeContent(props.customData);
      if (reason) failSecret(this, 'customData', `cloud-init without secrets (found ${reason}); pass secrets at first login or from Key Vault`);
    }

    this.nic = new ComputeVmNic(this, 'Network', {
      network: props.network,
      vmName: props.name,
      privateIpAddress: props.privateIpAddress,
      publicIp: props.publicIp,
    });
    this.privateIpAddress = this.nic.privateIpAddress;

    const agreement =
      props.acceptMarketplaceTerms === false
        ? undefined
        : new MarketplaceAgreement(this, 'MarketplaceAgreement', {
            publisher: CIPHERTRUST_IMAGE.publisher,
            offer: CIPHERTRUST_IMAGE.offer,
            plan: CIPHERTRUST_IMAGE.sku,
          });

    this.vm = new LinuxVirtualMachine(this, 'Resource', {
      name: props.name,
      resourceGroupName: props.network.resourceGroupName,
      location: props.network.location,
      size: props.size ?? 'Standard_F4s_v2',
      adminUsername,
      disablePasswordAuthentication: true,
      adminSshKey: [{ username: adminUsername, publicKey: props.sshPublicKey }],
      networkInterfaceIds: [this.nic.nic.id],
      osDisk: { caching: 'ReadWrite', storageAccountType: osDiskType },
      sourceImageReference: { ...CIPHERTRUST_IMAGE, version: props.imageVersion },
      plan: { name: CIPHERTRUST_IMAGE.sku, product: CIPHERTRUST_IMAGE.offer, publisher: CIPHERTRUST_IMAGE.publisher },
      customData: props.customData === undefined ? undefined : Buffer.from(props.customData, 'utf8').toString('base64'),
      tags: props.tags ?? props.network.tags,
      dependsOn: agreement ? [agreement] : undefined,
    });
    this.id = this.vm.id;

    props.network.allowAdminInbound(`${ruleStem(props.name)}Https`, 443, this.privateIpAddress);
    props.network.allowAdminInbound(`${ruleStem(props.name)}Ssh`, 22, this.privateIpAddress);
  }
}

/** NSG rule names are derived from the VM name: letters and digits only. */
export function ruleStem(vmName: string): string {
  const stem = vmName.replace(/[^A-Za-z0-9]/g, '');
  return /^[A-Za-z]/.test(stem) ? stem : `Vm${stem}`;
}
