import type { EnvironmentConfig } from './environment-config';

/**
 * Every private IP the config pins, with its JSON path: the Dedicated HSM (or HA members), the VMs, the
 * Managed HSM's private endpoint and the firewalls that register as Luna clients. They share one routing
 * domain, so each address may appear only once.
 */
export function pinnedAddresses(c: EnvironmentConfig): Array<{ readonly path: string; readonly ip: string }> {
  const found: Array<{ path: string; ip: string }> = [];
  const add = (path: string, ip: unknown) => {
    if (typeof ip === 'string') found.push({ path, ip });
  };
  // With haPairFromSingleHsm, privateIpAddress repeats the first member's IP: the same HSM, counted once.
  if (!c.dedicatedHsm?.haPairPrivateIpAddresses) add('$.dedicatedHsm.privateIpAddress', c.dedicatedHsm?.privateIpAddress);
  (c.dedicatedHsm?.haPairPrivateIpAddresses ?? []).forEach((ip, i) => add(`$.dedicatedHsm.haPairPrivateIpAddresses[${i}]`, ip));
  add('$.cipherTrustManager.privateIpAddress', c.cipherTrustManager?.privateIpAddress);
  add('$.lunaClientHost.privateIpAddress', c.lunaClientHost?.privateIpAddress);
  add('$.managedHsm.privateEndpointIpAddress', c.managedHsm?.privateEndpointIpAddress);
  (c.firewallClients ?? []).forEach((f, i) => add(`$.firewallClients[${i}].ip`, f.ip));
  return found;
}

/** One problem per address used twice, naming both JSON paths. */
export function duplicateAddressProblems(c: EnvironmentConfig): string[] {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const { path, ip } of pinnedAddresses(c)) {
    const first = seen.get(ip);
    if (first === undefined) seen.set(ip, path);
    else problems.push(`${path}: received "${ip}", already used by ${first}; allowed: a private IP no other VM, HSM or endpoint of the environment uses`);
  }
  return problems;
}
