import { TerraformOutput } from 'cdktf';
import { Construct } from 'constructs';
import { CipherTrustManager } from '../constructs/ciphertrust-manager';
import { DedicatedHsm } from '../constructs/dedicated-hsm';
import { DedicatedHsmHaPair } from '../constructs/dedicated-hsm-ha-pair';
import { HsmNetwork } from '../constructs/hsm-network';
import { LunaClientHost } from '../constructs/luna-client-host';
import { ManagedHsm } from '../constructs/managed-hsm';
import { EnvironmentConfig } from './environment-config';
import { HsmStack } from './hsm-stack';

/**
 * One environment of the HSM estate, built from its config: the network always, and each of the Dedicated
 * HSM (or HA pair), Managed HSM, CipherTrust Manager and Luna client host when configured.
 * Construct ids are a contract: renaming one makes Terraform replace the real resource.
 */
export class EnvironmentStack extends HsmStack {
  readonly network: HsmNetwork;
  readonly dedicatedHsms: DedicatedHsm[] = [];
  readonly managedHsm?: ManagedHsm;
  readonly cipherTrustManager?: CipherTrustManager;
  readonly lunaClientHost?: LunaClientHost;

  constructor(scope: Construct, config: EnvironmentConfig) {
    super(scope, `hsm-${config.name}`, config);
    const tags = { environment: config.name, 'managed-by': 'azure-hsm-cdktf', ...config.tags };

    this.network = new HsmNetwork(this, 'Network', {
      location: config.location,
      resourceGroupName: config.resourceGroupName,
      existingResourceGroup: config.existingResourceGroup,
      namePrefix: config.namePrefix,
      dedicatedHsmSubnet: config.dedicatedHsm !== undefined,
      resourceGroupDeleteLock: config.resourceGroupDeleteLock,
      ...config.network,
      tags,
    });

    const d = config.dedicatedHsm;
    const protection = { timeouts: d?.timeouts, dangerouslyAllowDestroy: d?.dangerouslyAllowDestroy, dangerouslySkipDeleteLock: d?.dangerouslySkipDeleteLock };
    if (d?.haPairPrivateIpAddresses) {
      const pair = new DedicatedHsmHaPair(this, 'DedicatedHsmPair', {
        name: d.name,
        network: this.network,
        privateIpAddresses: d.haPairPrivateIpAddresses,
        skuName: d.skuName,
        ...protection,
        // The single HSM lived at 'DedicatedHsm' (below): the primary takes over its address, name and stamp.
        primaryFromSingleHsm: d.haPairFromSingleHsm ? { constructPath: 'DedicatedHsm', name: d.name, stampId: d.stampId! } : undefined,
      });
      this.dedicatedHsms.push(...pair.members);
    } else if (d) {
      this.dedicatedHsms.push(
        new DedicatedHsm(this, 'DedicatedHsm', {
          name: d.name,
          network: this.network,
          privateIpAddress: d.privateIpAddress!,
          skuName: d.skuName,
          stampId: d.stampId,
          zones: d.zones,
          ...protection,
        }),
      );
    }

    const m = config.managedHsm;
    if (m) {
      const dataPlane = m.securityDomainActivated === true;
      this.managedHsm = new ManagedHsm(this, 'ManagedHsm', {
        name: m.name,
        resourceGroupName: this.network.resourceGroupName,
        location: this.network.location,
        tenantId: config.tenantId,
        adminObjectIds: m.adminObjectIds,
        skuName: m.skuName,
        softDeleteRetentionDays: m.softDeleteRetentionDays,
        dangerouslyDisablePurgeProtection: m.dangerouslyDisablePurgeProtection,
        publicNetworkAccessEnabled: m.publicNetworkAccessEnabled,
        logAnalyticsWorkspaceId: m.logAnalyticsWorkspaceId,
        diagnostics: m.diagnostics,
        privateEndpoint: {
          subnetId: this.network.computeSubnet.id,
          virtualNetworkId: m.privateDnsZoneId === undefined ? this.network.vnet.id : undefined,
          privateDnsZoneId: m.privateDnsZoneId,
          privateIpAddress: m.privateEndpointIpAddress,
        },
        timeouts: m.timeouts,
        dangerouslyAllowDestroy: m.dangerouslyAllowDestroy,
        dangerouslySkipDeleteLock: m.dangerouslySkipDeleteLock,
        roleDefinitions: dataPlane ? m.roleDefinitions : [],
        roleAssignments: dataPlane ? m.roleAssignments : [],
        keys: dataPlane ? m.keys : [],
        tags,
      });
    }

    if (config.cipherTrustManager) {
      this.cipherTrustManager = new CipherTrustManager(this, 'CipherTrustManager', { ...config.cipherTrustManager, network: this.network });
    }
    if (config.lunaClientHost) {
      this.lunaClientHost = new LunaClientHost(this, 'LunaClientHost', { ...config.lunaClientHost, network: this.network });
    }

    this.addOutputs();
  }

  private addOutputs(): void {
    const output = (id: string, value: unknown, description: string) => new TerraformOutput(this, id, { value, description });
    output('resource_group_name', this.network.resourceGroupName, 'Resource group that holds the estate');
    output('vnet_id', this.network.vnet.id, 'Resource id of the estate VNet');
    if (this.managedHsm) {
      output('hsm_uri', this.managedHsm.hsmUri, 'Managed HSM data-plane URI (hsmctl --hsm)');
      output('managed_hsm_id', this.managedHsm.id, 'Resource id of the Managed HSM');
      output('managed_hsm_name', this.managedHsm.name, 'Name of the Managed HSM');
    }
    if (this.dedicatedHsms.length > 0) {
      output('dedicated_hsm_private_ips', this.dedicatedHsms.map((h) => h.privateIpAddress), 'Private IPs of the Dedicated HSMs (LunaSH over SSH, NTLS on 1792), primary first');
      output('dedicated_hsm_ids', this.dedicatedHsms.map((h) => h.id), 'Resource ids of the Dedicated HSMs, primary first');
    }
    if (this.cipherTrustManager) {
      output('ciphertrust_private_ip', this.cipherTrustManager.privateIpAddress, 'Private IP of the CipherTrust Manager VM (HTTPS and SSH from the admin CIDRs)');
      output('ciphertrust_vm_id', this.cipherTrustManager.id, 'Resource id of the CipherTrust Manager VM');
    }
    if (this.lunaClientHost) {
      output('luna_client_private_ip', this.lunaClientHost.privateIpAddress, 'Private IP of the Luna client host (RDP from the admin CIDRs)');
      output('luna_client_vm_id', this.lunaClientHost.id, 'Resource id of the Luna client host VM');
    }
  }
}
