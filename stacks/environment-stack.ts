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
      ...config.network,
      tags,
    });

    const d = config.dedicatedHsm;
    if (d?.haPairPrivateIpAddresses) {
      const pair = new DedicatedHsmHaPair(this, 'DedicatedHsmPair', {
        name: d.name,
        network: this.network,
        privateIpAddresses: d.haPairPrivateIpAddresses,
        skuName: d.skuName,
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
        privateEndpoint: { subnetId: this.network.computeSubnet.id, virtualNetworkId: this.network.vnet.id },
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
    new TerraformOutput(this, 'resource_group_name', { value: this.network.resourceGroupName });
    new TerraformOutput(this, 'vnet_id', { value: this.network.vnet.id });
    if (this.managedHsm) {
      new TerraformOutput(this, 'hsm_uri', { value: this.managedHsm.hsmUri, description: 'Managed HSM data-plane URI' });
      new TerraformOutput(this, 'managed_hsm_id', { value: this.managedHsm.id });
      new TerraformOutput(this, 'managed_hsm_name', { value: this.managedHsm.name });
    }
    if (this.dedicatedHsms.length > 0) {
      new TerraformOutput(this, 'dedicated_hsm_private_ips', { value: this.dedicatedHsms.map((h) => h.privateIpAddress) });
      new TerraformOutput(this, 'dedicated_hsm_ids', { value: this.dedicatedHsms.map((h) => h.id) });
    }
    if (this.cipherTrustManager) {
      new TerraformOutput(this, 'ciphertrust_private_ip', { value: this.cipherTrustManager.privateIpAddress });
      new TerraformOutput(this, 'ciphertrust_vm_id', { value: this.cipherTrustManager.id });
    }
    if (this.lunaClientHost) {
      new TerraformOutput(this, 'luna_client_private_ip', { value: this.lunaClientHost.privateIpAddress });
      new TerraformOutput(this, 'luna_client_vm_id', { value: this.lunaClientHost.id });
    }
  }
}
