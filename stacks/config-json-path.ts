import { ValidationError } from '../constructs/validation';
import type { EnvironmentConfig } from './environment-config';

/**
 * The JSON path in the environment config of a value a construct refused, so a config error names the field
 * the user wrote rather than a construct path. `stack` is 'environment' (hsm-<env>) or 'dr' (hsm-<env>-dr).
 * Undefined when the value did not come from one config field.
 */
export function configPathOf(error: ValidationError, stack: 'environment' | 'dr', config: EnvironmentConfig): string | undefined {
  const [, ...inStack] = error.constructPath.split('/');
  const construct = inStack.join('/');
  const prop = error.prop;
  const field = (base: string) => `${base}.${prop}`;
  const rename = (renames: Record<string, string>, base: string): string => {
    const head = prop.split(/[.[]/)[0];
    return renames[head] !== undefined ? renames[head] + prop.slice(head.length) : field(base);
  };
  if (construct === 'Network') {
    if (stack === 'dr') {
      return rename({ location: '$.disasterRecovery.location', resourceGroupName: '$.disasterRecovery.resourceGroupName', addressSpace: '$.disasterRecovery.addressSpace', computeSubnetCidr: '$.disasterRecovery.computeSubnetCidr', namePrefix: '$.namePrefix', adminCidrs: '$.network.adminCidrs' }, '$.network');
    }
    return rename({ location: '$.location', resourceGroupName: '$.resourceGroupName', namePrefix: '$.namePrefix', dedicatedHsmSubnet: '$.network' }, '$.network');
  }
  if (construct === 'DedicatedHsm') return rename({ network: '$.dedicatedHsm' }, '$.dedicatedHsm');
  if (construct === 'DedicatedHsmPair') return rename({ privateIpAddresses: '$.dedicatedHsm.haPairPrivateIpAddresses', primaryFromSingleHsm: '$.dedicatedHsm' }, '$.dedicatedHsm');
  const member = /^DedicatedHsmPair\/(Primary|Secondary)$/.exec(construct);
  if (member) {
    const index = member[1] === 'Primary' ? 0 : 1;
    return rename({ privateIpAddress: `$.dedicatedHsm.haPairPrivateIpAddresses[${index}]`, network: '$.dedicatedHsm', stampId: '$.dedicatedHsm.stampId' }, '$.dedicatedHsm');
  }
  if (construct === 'ManagedHsm') {
    const renames: Record<string, string> = { tenantId: '$.tenantId' };
    if (prop === 'privateEndpoint.privateIpAddress') return '$.managedHsm.privateEndpointIpAddress';
    if (prop === 'privateEndpoint.privateDnsZoneId') return '$.managedHsm.privateDnsZoneId';
    if (prop === 'diagnostics.logAnalyticsWorkspaceId') return '$.managedHsm.logAnalyticsWorkspaceId';
    if (stack === 'dr') {
      renames.name = '$.disasterRecovery.managedHsmName';
      renames.diagnostics = '$.disasterRecovery.diagnostics';
    }
    return rename(renames, '$.managedHsm');
  }
  const key = /^ManagedHsm\/Key-(.+)$/.exec(construct);
  if (key && stack === 'environment') {
    const index = (config.managedHsm?.keys ?? []).findIndex((k) => k.name === key[1]);
    return index < 0 ? undefined : field(`$.managedHsm.keys[${index}]`);
  }
  if (construct === 'CipherTrustManager') return field('$.cipherTrustManager');
  if (construct === 'LunaClientHost') return field('$.lunaClientHost');
  return undefined;
}
