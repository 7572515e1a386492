import { armErrors } from './errors';
import { RESOURCE_TYPES, ResourceKind } from './model';

/**
 * The regions each resource type is offered in, as the provider registration lists them
 * (`GET /subscriptions/{id}/providers/{ns}` -> resourceTypes[].locations, display names) and as ARM checks a PUT
 * against them (400 LocationNotAvailableForResourceType).
 *
 * dedicatedHSMs: the public-cloud regions of Microsoft's "Azure Dedicated HSM deployment architecture" page (its two
 * US Gov regions belong to another cloud and are left out). managedHSMs: abridged, the regions Microsoft's Managed
 * HSM documentation names (multi-region replication notes, quickstart templates); the service is offered in more.
 */
export const LOCATIONS: Record<ResourceKind, readonly string[]> = {
  dedicatedHSMs: [
    'East US',
    'East US 2',
    'West US',
    'West US 2',
    'Canada East',
    'Canada Central',
    'South Central US',
    'Southeast Asia',
    'Central India',
    'South India',
    'Japan East',
    'Japan West',
    'North Europe',
    'West Europe',
    'UK South',
    'UK West',
    'Australia East',
    'Australia Southeast',
    'Switzerland North',
    'Switzerland West',
  ],
  managedHSMs: [
    'East US',
    'East US 2',
    'South Central US',
    'West US 2',
    'West Central US',
    'Canada Central',
    'Canada East',
    'North Europe',
    'West Europe',
    'UK South',
    'Switzerland North',
    'Poland Central',
    'Qatar Central',
    'Central India',
    'Japan West',
    'Australia East',
  ],
};

/** "West Europe" -> "westeurope": the name form ARM stores and compares. */
export function locationName(s: string): string {
  return s.toLowerCase().replace(/\s+/g, '');
}

/** Refuses a region the resource type is not offered in, with ARM's code and message. */
export function checkLocation(kind: ResourceKind, location: string): void {
  const names = LOCATIONS[kind].map(locationName);
  if (!names.includes(locationName(location))) throw armErrors.locationNotAvailable(location, RESOURCE_TYPES[kind].fullType, names);
}
