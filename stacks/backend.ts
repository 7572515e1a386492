import { AzurermBackend, CloudBackend, LocalBackend, NamedCloudWorkspace, TerraformStack } from 'cdktf';
import { BackendConfig } from './environment-config';

/**
 * Where the stack keeps its Terraform state. Local by default; azurerm for teams (the state blob is locked
 * with a lease during each run, and authentication uses Entra ID rather than an account key); HCP Terraform.
 */
export function applyBackend(stack: TerraformStack, stackName: string, backend: BackendConfig = { type: 'local' }): void {
  switch (backend.type) {
    case 'local':
      new LocalBackend(stack, { path: backend.path ?? `terraform.${stackName}.tfstate` });
      return;
    case 'azurerm':
      new AzurermBackend(stack, {
        resourceGroupName: backend.resourceGroupName,
        storageAccountName: backend.storageAccountName,
        containerName: backend.containerName,
        key: backend.key ?? `${stackName}.tfstate`,
        subscriptionId: backend.subscriptionId,
        useAzureadAuth: true,
      });
      return;
    case 'cloud':
      new CloudBackend(stack, {
        organization: backend.organization,
        workspaces: new NamedCloudWorkspace(backend.workspace),
        hostname: backend.hostname,
      });
      return;
  }
}

export function describeBackend(backend: BackendConfig = { type: 'local' }): string {
  switch (backend.type) {
    case 'local':
      return `local (${backend.path ?? 'terraform.<stack>.tfstate'})`;
    case 'azurerm':
      return `azurerm (storage account ${backend.storageAccountName}, container ${backend.containerName}, locked by blob lease)`;
    case 'cloud':
      return `HCP Terraform (organization ${backend.organization}, workspace ${backend.workspace})`;
  }
}
