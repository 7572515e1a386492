import { WindowsVirtualMachine } from '@cdktf/provider-azurerm/lib/windows-virtual-machine';
import { TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import { ruleStem } from './ciphertrust-manager';
import { ComputeVmNic } from './compute-vm-network';
import { HsmNetwork } from './hsm-network';
import { checkName, failSecret, isKnown } from './validation';

export interface WindowsImage {
  readonly publisher: string;
  readonly offer: string;
  readonly sku: string;
  readonly version: string;
}

/** Windows 10 Pro, as the Dedicated HSM guide uses for the Luna client host. */
export const DEFAULT_LUNA_CLIENT_IMAGE: WindowsImage = {
  publisher: 'MicrosoftWindowsDesktop',
  offer: 'Windows-10',
  sku: 'win10-22h2-pro',
  version: 'latest',
};

export interface LunaClientHostProps {
  /** VM name: 1-15 letters, digits and hyphens (Windows computer names). */
  readonly name: string;
  readonly network: HsmNetwork;
  /** @default Windows 10 Pro 22H2 */
  readonly image?: WindowsImage;
  /** @default 'lunaadmin' */
  readonly adminUsername?: string;
  /**
   * Admin password as a Terraform reference (a sensitive variable, a Key Vault secret data source). A
   * literal string is refused: it would be written in clear into the synthesized JSON.
   * @default a sensitive Terraform variable `<vm name>_admin_password` (hyphens become underscores), set with TF_VAR_... at plan time
   */
  readonly adminPassword?: string;
  /** @default 'Standard_D2s_v5' */
  readonly size?: string;
  /** Static private IP in the Compute subnet. @default dynamic */
  readonly privateIpAddress?: string;
  /** @default false: reach it over the VNet (Bastion, VPN) */
  readonly publicIp?: boolean;
  /** @default the network's tags */
  readonly tags?: Record<string, string>;
}

const NAME_RULE = /^[a-zA-Z0-9][a-zA-Z0-9-]{0,14}$/;
const USER_RULE = /^[a-zA-Z][a-zA-Z0-9._-]{0,19}$/;
const RESERVED_USERS = ['administrator', 'admin', 'user', 'guest', 'root', 'test'];

/**
 * The Windows VM that hosts the Luna client in the Compute subnet, with a Standard HDD and RDP admitted
 * only from the admin CIDRs. Its password never appears in the synthesized JSON.
 */
export class LunaClientHost extends Construct {
  readonly vm: WindowsVirtualMachine;
  readonly nic: ComputeVmNic;
  readonly privateIpAddress: string;
  readonly id: string;
  /** The variable holding the admin password, when this construct made one. */
  readonly adminPasswordVariable?: TerraformVariable;

  constructor(scope: Construct, id: string, props: LunaClientHostProps) {
    super(scope, id);
    checkName(this, 'name', props.name, NAME_RULE, '1-15 letters, digits and hyphens, not starting with a hyphen');
    const adminUsername = props.adminUsername ?? 'lunaadmin';
    checkName(this, 'adminUsername', adminUsername, USER_RULE, '1-20 letters, digits, dots, hyphens or underscores, starting with a letter');
    if (RESERVED_USERS.includes(adminUsername.toLowerCase())) {
      checkName(this, 'adminUsername', adminUsername, /^$/, `a name Azure allows (not ${RESERVED_USERS.join(', ')})`);
    }
    if (props.adminPassword !== undefined && isKnown(props.adminPassword)) {
      failSecret(this, 'adminPassword', 'a Terraform reference (a sensitive TerraformVariable or a Key Vault secret), never a literal');
    }
    let adminPassword = props.adminPassword;
    if (adminPassword === undefined) {
      this.adminPasswordVariable = new TerraformVariable(this, 'AdminPassword', {
        type: 'string',
        sensitive: true,
        nullable: false,
        description: `Admin password of the Luna client host ${props.name} (12-123 characters, 3 of: lower, upper, digit, symbol)`,
      });
      // A readable name, so users can set it as TF_VAR_<vm name>_admin_password; VM names are unique per group.
      this.adminPasswordVariable.overrideLogicalId(`${props.name.replace(/-/g, '_')}_admin_password`);
      adminPassword = this.adminPasswordVariable.stringValue;
    }

    this.nic = new ComputeVmNic(this, 'Network', {
      network: props.network,
      vmName: props.name,
      privateIpAddress: props.privateIpAddress,
      publicIp: props.publicIp,
    });
    this.privateIpAddress = this.nic.privateIpAddress;

    this.vm = new WindowsVirtualMachine(this, 'Resource', {
      name: props.name,
      resourceGroupName: props.network.resourceGroupName,
      location: props.network.location,
      size: props.size ?? 'Standard_D2s_v5',
      adminUsername,
      adminPassword,
      networkInterfaceIds: [this.nic.nic.id],
      osDisk: { caching: 'ReadWrite', storageAccountType: 'Standard_LRS' },
      sourceImageReference: { ...(props.image ?? DEFAULT_LUNA_CLIENT_IMAGE) },
      tags: props.tags ?? props.network.tags,
    });
    this.id = this.vm.id;
    props.network.allowAdminInbound(`${ruleStem(props.name)}Rdp`, 3389, this.privateIpAddress);
  }
}
