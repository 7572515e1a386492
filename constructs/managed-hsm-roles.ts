/** The Managed HSM local RBAC built-in roles, by the names the portal and CLI show, with their fixed ids. */
export const MANAGED_HSM_BUILT_IN_ROLES = {
  'Managed HSM Administrator': 'a290e904-7015-4bba-90c8-60543313cdb4',
  'Managed HSM Crypto Officer': '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
  'Managed HSM Crypto User': '21dbd100-6940-42c2-9190-5d6cb909625b',
  'Managed HSM Policy Administrator': '4bd23610-cdcf-4971-bdee-bdc562cc28e4',
  'Managed HSM Crypto Auditor': '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3',
  'Managed HSM Crypto Service Encryption User': '33413926-3206-4cdd-b39a-83574fe37a17',
  'Managed HSM Crypto Service Release User': '21dbd100-6940-42c2-9190-5d6cb909625c',
  'Managed HSM Backup User': '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8',
  'Managed HSM Restore User': '6efe6056-5259-49d2-8b3d-d3d73544b20b',
} as const;

export type ManagedHsmRoleName = keyof typeof MANAGED_HSM_BUILT_IN_ROLES;
export const MANAGED_HSM_ROLE_NAMES = Object.keys(MANAGED_HSM_BUILT_IN_ROLES) as ManagedHsmRoleName[];

/** The scoped role definition id the azurerm provider expects for a built-in role (scope "/"). */
export function roleDefinitionResourceId(role: ManagedHsmRoleName): string {
  return `/providers/Microsoft.Authorization/roleDefinitions/${MANAGED_HSM_BUILT_IN_ROLES[role]}`;
}

/** Built-in roles whose holders may create role assignments (and so grant any role, Administrator included). */
export const ROLE_MANAGEMENT_ROLES: readonly ManagedHsmRoleName[] = ['Managed HSM Administrator', 'Managed HSM Crypto Officer', 'Managed HSM Policy Administrator'];

/** Built-in roles that use or change key material: granted at "/", they reach every key of the HSM. */
export const KEY_USE_ROLES: readonly ManagedHsmRoleName[] = [
  'Managed HSM Crypto User',
  'Managed HSM Crypto Service Encryption User',
  'Managed HSM Crypto Service Release User',
];

/** The built-in role whose id ends a role definition id, if any. */
export function builtInRoleOf(roleDefinitionId: string): ManagedHsmRoleName | undefined {
  const guid = roleDefinitionId.split('/').pop()?.toLowerCase();
  return MANAGED_HSM_ROLE_NAMES.find((name) => MANAGED_HSM_BUILT_IN_ROLES[name] === guid);
}
