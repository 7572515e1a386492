import { AzureDedicatedHSMResourceProvider } from '@azure/arm-hardwaresecuritymodules';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { TokenCredential } from '@azure/identity';

const ARM_SCOPE = 'https://management.azure.com/.default';

/**
 * The real Azure SDK management clients, pointed at an ARM endpoint: the simulator's, or Azure's when
 * `endpoint` is undefined. `ca` trusts the simulator's certificates; `pollMs` shortens long-running polls.
 */
export function armClients(credential: TokenCredential, subscriptionId: string, o: { endpoint?: string; ca?: string; pollMs?: number } = {}) {
  const options = {
    // A custom endpoint would otherwise become the token scope; the older SDK generation reads
    // credentialScopes, the newer (arm-keyvault 5) credentials.scopes.
    ...(o.endpoint ? { endpoint: o.endpoint, credentialScopes: [ARM_SCOPE], credentials: { scopes: [ARM_SCOPE] } } : {}),
    ...(o.ca ? { tlsOptions: { ca: o.ca } } : {}),
  };
  return {
    dedicatedHsms: new AzureDedicatedHSMResourceProvider(credential, subscriptionId, options as never),
    keyVault: new KeyVaultManagementClient(credential, subscriptionId, options as never),
    pollOptions: { updateIntervalInMs: o.pollMs ?? 2000 },
  };
}
