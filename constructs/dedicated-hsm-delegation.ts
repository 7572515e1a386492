/**
 * The subnet delegation Azure requires for Dedicated HSM NICs, and the actions the azurerm documentation gives
 * for it. Kept apart from hsm-network.ts so the policy can use it without loading the provider classes.
 */
export const DEDICATED_HSM_DELEGATION = 'Microsoft.HardwareSecurityModules/dedicatedHSMs';
export const DEDICATED_HSM_DELEGATION_ACTIONS = [
  'Microsoft.Network/networkinterfaces/*',
  'Microsoft.Network/virtualNetworks/subnets/join/action',
];
