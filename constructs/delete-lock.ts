import { ManagementLock } from '@cdktf/provider-azurerm/lib/management-lock';
import { Construct } from 'constructs';

/**
 * A CanNotDelete management lock on one Azure resource (or resource group): Azure then refuses to delete it,
 * whichever tool or person asks, until the lock itself is removed.
 */
export function addDeleteLock(scope: Construct, id: string, targetName: string, targetId: string): ManagementLock {
  return new ManagementLock(scope, id, {
    name: `${targetName}-delete-lock`,
    scope: targetId,
    lockLevel: 'CanNotDelete',
    notes: 'Managed by azure-hsm-cdktf: HSMs and their keys cannot be recovered once deleted. Remove this lock deliberately before any deletion.',
  });
}
