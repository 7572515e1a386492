import { TerraformOutput } from 'cdktf';
import { Construct } from 'constructs';
import { HsmNetwork } from '../constructs/hsm-network';
import { ManagedHsm } from '../constructs/managed-hsm';
import { EnvironmentConfig } from './environment-config';
import { HsmStack } from './hsm-stack';

/**
 * A second Managed HSM in another region, left unactivated: the target into which a recovery drill (or a
 * real disaster) uploads the primary's security domain and restores its backup.
 */
export class DisasterRecoveryStack extends HsmStack {
  readonly network: HsmNetwork;
  readonly managedHsm: ManagedHsm;

  constructor(scope: Construct, config: EnvironmentConfig) {
    super(scope, `hsm-${config.name}-dr`, config);
    const dr = config.disasterRecovery!;
    const primary = config.managedHsm!;
    const tags = { environment: config.name, role: 'disaster-recovery', 'managed-by': 'azure-hsm-cdktf', ...config.tags };

    this.network = new HsmNetwork(this, 'Network', {
      location: dr.location,
      resourceGroupName: dr.resourceGroupName,
      namePrefix: `${config.namePrefix}-dr`,
      dedicatedHsmSubnet: false,
      addressSpace: dr.addressSpace ?? ['10.3.0.0/16'],
      computeSubnetCidr: dr.computeSubnetCidr ?? '10.3.0.0/24',
      adminCidrs: config.network.adminCidrs,
      resourceGroupDeleteLock: config.resourceGroupDeleteLock,
      tags,
    });
    this.managedHsm = new ManagedHsm(this, 'ManagedHsm', {
      name: dr.managedHsmName,
      resourceGroupName: this.network.resourceGroupName,
      location: this.network.location,
      tenantId: config.tenantId,
      adminObjectIds: primary.adminObjectIds,
      skuName: primary.skuName,
      softDeleteRetentionDays: primary.softDeleteRetentionDays,
      dangerouslyDisablePurgeProtection: primary.dangerouslyDisablePurgeProtection,
      publicNetworkAccessEnabled: primary.publicNetworkAccessEnabled,
      // Azure Monitor takes a storage account or event hub only in the resource's own region, a workspace in
      // any: the DR HSM shares the primary's workspace, never its storage or event hub (DiagnosticsConfig).
      logAnalyticsWorkspaceId: primary.logAnalyticsWorkspaceId,
      diagnostics: dr.diagnostics,
      // The primary's private DNS zone id (a hub zone) serves the DR region too; its static IP does not.
      privateEndpoint: {
        subnetId: this.network.computeSubnet.id,
        virtualNetworkId: primary.privateDnsZoneId === undefined ? this.network.vnet.id : undefined,
        privateDnsZoneId: primary.privateDnsZoneId,
      },
      timeouts: primary.timeouts,
      dangerouslyAllowDestroy: primary.dangerouslyAllowDestroy,
      dangerouslySkipDeleteLock: primary.dangerouslySkipDeleteLock,
      tags,
    });

    new TerraformOutput(this, 'resource_group_name', { value: this.network.resourceGroupName, description: 'Resource group of the disaster-recovery estate' });
    new TerraformOutput(this, 'hsm_uri', { value: this.managedHsm.hsmUri, description: 'DR Managed HSM data-plane URI' });
    new TerraformOutput(this, 'managed_hsm_id', { value: this.managedHsm.id, description: 'Resource id of the DR Managed HSM' });
    new TerraformOutput(this, 'managed_hsm_name', { value: this.managedHsm.name, description: 'Name of the DR Managed HSM' });
  }
}
