import { Journal } from '../store/journal';
import { KeyedMutex } from '../keyed-mutex';
import { armErrors } from './errors';
import { LOCATIONS } from './locations';
import { RESOURCE_TYPES } from './model';

/**
 * Subscription registrations, as `az feature show|register` and `az provider show|register` see them: preview
 * features (Microsoft.Features) and resource providers (Microsoft.Resources). A Dedicated HSM deploy needs the
 * AzureDedicatedHSM and AllowBaremetalServers features and the providers registered (seeds 001/002); this is what
 * `hsmctl preflight` checks, so the simulator keeps that state per subscription, in the journal.
 *
 * Transitions follow Azure: features NotRegistered -> (register) Registering -> Registered -> (unregister)
 * Unregistering -> Unregistered; providers NotRegistered -> Registering -> Registered -> Unregistering ->
 * NotRegistered. A transitional state lasts `stepMs` and is resolved when read (no timers: a restart in the middle
 * finds the state as the clock left it). Registrations are reported, not enforced: a PUT of a resource in an
 * unregistered namespace still succeeds (see README: Decisions).
 */
export const REGISTRATIONS = 'arm-registrations';

export type FeatureState = 'NotRegistered' | 'Registering' | 'Registered' | 'Unregistering' | 'Unregistered';
export type ProviderState = 'NotRegistered' | 'Registering' | 'Registered' | 'Unregistering';

/** api-versions of Microsoft.Features (features) and Microsoft.Resources (providers) the routes accept. */
export const FEATURES_API_VERSIONS = ['2014-08-01-preview', '2015-12-01', '2021-07-01'] as const;
/** 2025-04-01: @azure/arm-resources 7.0.0; the others: the Azure CLI and azurerm generations. */
export const PROVIDERS_API_VERSIONS = ['2019-10-01', '2020-06-01', '2021-04-01', '2022-09-01', '2023-07-01', '2024-03-01', '2024-07-01', '2024-11-01', '2025-03-01', '2025-04-01'] as const;

/** The preview features the simulator knows; any other name is FeatureNotFound. */
export const KNOWN_FEATURES: ReadonlyArray<{ namespace: string; name: string }> = [
  { namespace: 'Microsoft.HardwareSecurityModules', name: 'AzureDedicatedHSM' },
  { namespace: 'Microsoft.Network', name: 'AllowBaremetalServers' },
];

/** Resource providers the simulator knows, with what `az provider show` lists for them (abridged). */
export const KNOWN_PROVIDERS: ReadonlyArray<{ namespace: string; registeredByDefault?: boolean; resourceTypes: string[] }> = [
  { namespace: 'Microsoft.HardwareSecurityModules', resourceTypes: ['dedicatedHSMs', 'operations', 'locations'] },
  { namespace: 'Microsoft.KeyVault', resourceTypes: ['vaults', 'managedHSMs', 'deletedManagedHSMs', 'checkMhsmNameAvailability', 'operations', 'locations'] },
  { namespace: 'Microsoft.Network', resourceTypes: ['virtualNetworks', 'networkSecurityGroups', 'virtualNetworkGateways', 'publicIPAddresses', 'networkInterfaces', 'privateEndpoints', 'privateDnsZones'] },
  { namespace: 'Microsoft.Compute', resourceTypes: ['virtualMachines', 'disks'] },
  { namespace: 'Microsoft.Storage', resourceTypes: ['storageAccounts'] },
  { namespace: 'Microsoft.Insights', resourceTypes: ['diagnosticSettings'] },
  { namespace: 'Microsoft.OperationalInsights', resourceTypes: ['workspaces'] },
  { namespace: 'Microsoft.MarketplaceOrdering', resourceTypes: ['agreements'] },
  // Registered in every subscription from the start (RegistrationFree on Azure).
  { namespace: 'Microsoft.Resources', registeredByDefault: true, resourceTypes: ['resourceGroups', 'subscriptions', 'providers', 'deployments'] },
  { namespace: 'Microsoft.Features', registeredByDefault: true, resourceTypes: ['features', 'providers'] },
  { namespace: 'Microsoft.Authorization', registeredByDefault: true, resourceTypes: ['roleAssignments', 'roleDefinitions'] },
];

interface RegistrationRecord {
  kind: 'feature' | 'provider';
  subscriptionId: string;
  namespace: string;
  /** The feature's name; absent for a provider. */
  name?: string;
  state: FeatureState | ProviderState;
  /** For a transitional state: when it becomes `next`. */
  until?: number;
  next?: FeatureState | ProviderState;
}

export interface FeatureView {
  id: string;
  name: string;
  type: 'Microsoft.Features/providers/features';
  properties: { state: FeatureState };
}

export interface ProviderView {
  id: string;
  namespace: string;
  registrationState: ProviderState;
  registrationPolicy: 'RegistrationRequired' | 'RegistrationFree';
  resourceTypes: Array<{ resourceType: string; locations: string[] }>;
}

const NAMESPACE = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/;

export class RegistrationService {
  private readonly mutex = new KeyedMutex();

  constructor(private readonly deps: { store: Journal; stepMs: number; now?: () => number }) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  // ---- features ----

  /** The known feature with this name (case-insensitive), or FeatureNotFound. */
  private feature(namespace: string, name: string): { namespace: string; name: string } {
    checkNamespace(namespace);
    const f = KNOWN_FEATURES.find((x) => x.namespace.toLowerCase() === namespace.toLowerCase() && x.name.toLowerCase() === name.toLowerCase());
    if (!f) throw armErrors.featureNotFound(namespace, name);
    return f;
  }

  getFeature(sub: string, namespace: string, name: string): FeatureView {
    const f = this.feature(namespace, name);
    return featureView(sub, f, this.state(featureKey(sub, f.namespace, f.name), 'NotRegistered') as FeatureState);
  }

  listFeatures(sub: string, namespace?: string): FeatureView[] {
    if (namespace !== undefined) checkNamespace(namespace);
    return KNOWN_FEATURES.filter((f) => namespace === undefined || f.namespace.toLowerCase() === namespace.toLowerCase()).map((f) =>
      featureView(sub, f, this.state(featureKey(sub, f.namespace, f.name), 'NotRegistered') as FeatureState),
    );
  }

  async registerFeature(sub: string, namespace: string, name: string, register: boolean): Promise<FeatureView> {
    const f = this.feature(namespace, name);
    const key = featureKey(sub, f.namespace, f.name);
    return this.mutex.run(key, async () => {
      const cur = this.state(key, 'NotRegistered') as FeatureState;
      // Already there or on the way: unchanged (register and unregister are idempotent on Azure).
      const settled: FeatureState[] = register ? ['Registered', 'Registering'] : ['Unregistered', 'Unregistering', 'NotRegistered'];
      if (!settled.includes(cur)) {
        const [via, to]: FeatureState[] = register ? ['Registering', 'Registered'] : ['Unregistering', 'Unregistered'];
        await this.put({ kind: 'feature', subscriptionId: sub, namespace: f.namespace, name: f.name, state: via, until: this.now() + this.deps.stepMs, next: to });
      }
      return featureView(sub, f, this.state(key, 'NotRegistered') as FeatureState);
    });
  }

  // ---- providers ----

  private provider(namespace: string) {
    checkNamespace(namespace);
    const p = KNOWN_PROVIDERS.find((x) => x.namespace.toLowerCase() === namespace.toLowerCase());
    if (!p) throw armErrors.providerNotFound(namespace);
    return p;
  }

  getProvider(sub: string, namespace: string): ProviderView {
    const p = this.provider(namespace);
    return providerView(sub, p, this.providerState(sub, p));
  }

  listProviders(sub: string): ProviderView[] {
    return KNOWN_PROVIDERS.map((p) => providerView(sub, p, this.providerState(sub, p)));
  }

  async registerProvider(sub: string, namespace: string, register: boolean): Promise<ProviderView> {
    const p = this.provider(namespace);
    const key = providerKey(sub, p.namespace);
    return this.mutex.run(key, async () => {
      const cur = this.providerState(sub, p);
      // Providers registered by default cannot be unregistered on Azure either; asking changes nothing.
      if (!p.registeredByDefault) {
        if (register && (cur === 'NotRegistered' || cur === 'Unregistering')) {
          await this.put({ kind: 'provider', subscriptionId: sub, namespace: p.namespace, state: 'Registering', until: this.now() + this.deps.stepMs, next: 'Registered' });
        } else if (!register && (cur === 'Registered' || cur === 'Registering')) {
          await this.put({ kind: 'provider', subscriptionId: sub, namespace: p.namespace, state: 'Unregistering', until: this.now() + this.deps.stepMs, next: 'NotRegistered' });
        }
      }
      return providerView(sub, p, this.providerState(sub, p));
    });
  }

  private providerState(sub: string, p: (typeof KNOWN_PROVIDERS)[number]): ProviderState {
    return this.state(providerKey(sub, p.namespace), p.registeredByDefault ? 'Registered' : 'NotRegistered') as ProviderState;
  }

  // ---- records ----

  /** The state now: a transitional state whose time is up reads as the state it leads to. */
  private state(key: string, initial: FeatureState | ProviderState): FeatureState | ProviderState {
    const r = this.deps.store.get<RegistrationRecord>(REGISTRATIONS, key);
    if (!r) return initial;
    if (r.until !== undefined && r.next && this.now() >= r.until) return r.next;
    return r.state;
  }

  private async put(r: RegistrationRecord): Promise<void> {
    const key = r.kind === 'feature' ? featureKey(r.subscriptionId, r.namespace, r.name!) : providerKey(r.subscriptionId, r.namespace);
    await this.deps.store.commit([{ c: REGISTRATIONS, id: key, v: r }]);
  }
}

function checkNamespace(ns: string): void {
  if (!NAMESPACE.test(ns) || ns.length > 100) throw armErrors.invalidNamespaceFormat(ns);
}

const featureKey = (sub: string, ns: string, name: string) => `feature:${sub}:${ns}/${name}`.toLowerCase();
const providerKey = (sub: string, ns: string) => `provider:${sub}:${ns}`.toLowerCase();

function featureView(sub: string, f: { namespace: string; name: string }, state: FeatureState): FeatureView {
  return {
    id: `/subscriptions/${sub}/providers/Microsoft.Features/providers/${f.namespace}/features/${f.name}`,
    name: `${f.namespace}/${f.name}`,
    type: 'Microsoft.Features/providers/features',
    properties: { state },
  };
}

function providerView(sub: string, p: (typeof KNOWN_PROVIDERS)[number], state: ProviderState): ProviderView {
  return {
    id: `/subscriptions/${sub}/providers/${p.namespace}`,
    namespace: p.namespace,
    registrationState: state,
    registrationPolicy: p.registeredByDefault ? 'RegistrationFree' : 'RegistrationRequired',
    // The resource types the simulator serves list the regions a PUT is checked against (locations.ts).
    resourceTypes: p.resourceTypes.map((resourceType) => ({ resourceType, locations: [...(servedLocations(p.namespace, resourceType) ?? [])] })),
  };
}

/** The regions of a resource type the ARM plane serves; undefined for the others (listed without regions). */
function servedLocations(namespace: string, resourceType: string): readonly string[] | undefined {
  const t = Object.values(RESOURCE_TYPES).find((x) => x.namespace === namespace && x.kind === resourceType);
  return t ? LOCATIONS[t.kind] : undefined;
}
