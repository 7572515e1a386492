import { RequestContext } from '../http/server';
import { GUID } from '../identity/principals';
import { checkHsmName } from '../managedhsm/names';
import { armErrors, shown } from './errors';
import { checkLocation } from './locations';
import { ManagedHsmProps, ResourceKind } from './model';

/**
 * Request validation at the ARM boundary: every helper returns a well-typed value or throws the ARM error that
 * names the property, the value received (shortened) and what is allowed. Nothing is changed before a request
 * has passed all of it.
 */
export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

export function jsonBody(ctx: RequestContext): Json {
  if (ctx.rawBody.length === 0) throw armErrors.invalidContent('The request content was invalid and could not be deserialized: the body is empty; a JSON object is required.');
  let v: unknown;
  try {
    v = JSON.parse(ctx.rawBody.toString('utf8'));
  } catch (err) {
    throw armErrors.invalidContent(`The request content was invalid and could not be deserialized: ${shown((err as Error).message, 120)}.`);
  }
  if (!isObject(v)) throw armErrors.invalidContent(`The request content was invalid and could not be deserialized: a JSON object is required, got ${kind(v)}.`);
  return v;
}

export function checkSubscription(sub: string): string {
  if (!GUID.test(sub)) throw armErrors.invalidSubscription(sub);
  return sub.toLowerCase();
}

export function checkResourceGroup(rg: string): string {
  if (!/^[A-Za-z0-9_.()-]{1,90}$/.test(rg) || rg.endsWith('.')) throw armErrors.invalidResourceGroup(rg);
  return rg;
}

export function checkName(k: ResourceKind, name: string): string {
  if (k === 'dedicatedHSMs') {
    // The pattern of the 2021-11-30 spec (and of the SDK's client-side check).
    if (!/^[a-zA-Z0-9-]{3,24}$/.test(name)) {
      throw armErrors.invalidName(`The Dedicated HSM name '${shown(name)}' is invalid: 3-24 letters, digits and hyphens.`);
    }
    return name;
  }
  const why = checkHsmName(name);
  if (why) throw armErrors.invalidName(why);
  return name;
}

function str(o: Json, prop: string, path: string, required: true): string;
function str(o: Json, prop: string, path: string, required?: false): string | undefined;
function str(o: Json, prop: string, path: string, required = false): string | undefined {
  const v = o[prop];
  if (v === undefined || v === null) {
    if (required) throw armErrors.invalidParameter(`The property '${path}' is required.`);
    return undefined;
  }
  if (typeof v !== 'string') throw armErrors.invalidParameter(`The property '${path}' must be a string, got ${kind(v)}.`);
  if (required && v === '') throw armErrors.invalidParameter(`The property '${path}' is required and may not be empty.`);
  return v;
}

function obj(o: Json, prop: string, path: string, required: true): Json;
function obj(o: Json, prop: string, path: string, required?: false): Json | undefined;
function obj(o: Json, prop: string, path: string, required = false): Json | undefined {
  const v = o[prop];
  if (v === undefined || v === null) {
    if (required) throw armErrors.invalidParameter(`The property '${path}' is required.`);
    return undefined;
  }
  if (!isObject(v)) throw armErrors.invalidParameter(`The property '${path}' must be an object, got ${kind(v)}.`);
  return v;
}

function bool(o: Json, prop: string, path: string): boolean | undefined {
  const v = o[prop];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw armErrors.invalidParameter(`The property '${path}' must be a boolean, got ${kind(v)}.`);
  return v;
}

function arr(o: Json, prop: string, path: string): unknown[] | undefined {
  const v = o[prop];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw armErrors.invalidParameter(`The property '${path}' must be an array, got ${kind(v)}.`);
  return v;
}

/**
 * Azure location names: "westeurope" (display names such as "West Europe" are normalised to it), one of the regions
 * the resource type is offered in (locations.ts).
 */
export function location(body: Json, k: ResourceKind): string {
  const raw = str(body, 'location', 'location', true);
  const l = raw.toLowerCase().replace(/\s+/g, '');
  if (!/^[a-z][a-z0-9]{1,39}$/.test(l)) throw armErrors.invalidParameter(`The location '${shown(raw)}' is not a valid Azure location name (for example 'westeurope').`);
  checkLocation(k, l);
  return l;
}

/** ARM's tag rules: at most 50, names 1-512 characters without < > % & \ ? /, values strings of at most 256. */
export function tags(body: Json, required = false): Record<string, string> | undefined {
  const v = body.tags;
  if (v === undefined || v === null) {
    if (required) throw armErrors.invalidParameter("The property 'tags' is required.");
    return undefined;
  }
  if (!isObject(v)) throw armErrors.invalidParameter(`The property 'tags' must be an object of strings, got ${kind(v)}.`);
  const entries = Object.entries(v);
  if (entries.length > 50) throw armErrors.invalidParameter(`A resource can have at most 50 tags; got ${entries.length}.`);
  for (const [k, val] of entries) {
    if (k.length === 0 || k.length > 512 || /[<>%&\\?/]/.test(k)) {
      throw armErrors.invalidParameter(`The tag name '${shown(k)}' is invalid: 1-512 characters, none of < > % & \\ ? /.`);
    }
    if (typeof val !== 'string') throw armErrors.invalidParameter(`The value of tag '${shown(k)}' must be a string, got ${kind(val)}.`);
    if (val.length > 256) throw armErrors.invalidParameter(`The value of tag '${shown(k)}' is longer than 256 characters.`);
  }
  // fromEntries defines own properties, so a tag named "__proto__" stays a tag.
  return Object.fromEntries(entries) as Record<string, string>;
}

const SUBNET_ID = /^\/subscriptions\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/resourceGroups\/([A-Za-z0-9_.()-]{1,90})\/providers\/Microsoft\.Network\/virtualNetworks\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]|[A-Za-z0-9])\/subnets\/([A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]|[A-Za-z0-9])$/i;

/** A well-formed IPv4 unicast address (no leading zeros, not 0/8, loopback, link-local, multicast or reserved). */
export function checkPrivateIp(ip: string, path: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  const parts = m ? m.slice(1).map((p) => (p.length > 1 && p.startsWith('0') ? 256 : Number(p))) : [];
  const bad = !m || parts.some((p) => p > 255) || parts[0] === 0 || parts[0] === 127 || parts[0] >= 224 || (parts[0] === 169 && parts[1] === 254);
  if (bad) throw armErrors.invalidParameter(`The property '${path}' must be a unicast IPv4 address such as 10.0.2.4; got '${shown(ip)}'.`);
  return ip;
}

export const DEDICATED_SKUS = [
  'SafeNet Luna Network HSM A790',
  'payShield10K_LMK1_CPS60',
  'payShield10K_LMK1_CPS250',
  'payShield10K_LMK1_CPS2500',
  'payShield10K_LMK2_CPS60',
  'payShield10K_LMK2_CPS250',
  'payShield10K_LMK2_CPS2500',
] as const;
export const LUNA_SKU = DEDICATED_SKUS[0];
export const STAMPS = ['stamp1', 'stamp2'] as const;

export interface DedicatedHsmInput {
  location: string;
  skuName: string;
  zones?: string[];
  stampId?: string;
  subnetId: string;
  privateIpAddress: string;
  tags: Record<string, string>;
}

/**
 * A dedicatedHSMs PUT body (2021-11-30): known SKU; stampId or zones, not both; the subnet id present and well
 * formed; one network interface whose private IP is well formed (the simulator cannot allocate one: it does not
 * know the subnet's range); managementNetworkProfile only for payShield.
 */
export function dedicatedHsmInput(body: Json): DedicatedHsmInput {
  const loc = location(body, 'dedicatedHSMs');
  const sku = obj(body, 'sku', 'sku', true);
  const skuName = str(sku, 'name', 'sku.name', true);
  const known = DEDICATED_SKUS.find((s) => s.toLowerCase() === skuName.toLowerCase());
  if (!known) throw armErrors.invalidParameter(`The SKU '${shown(skuName)}' is not a Dedicated HSM SKU; allowed: ${DEDICATED_SKUS.map((s) => `'${s}'`).join(', ')}.`);

  let zones: string[] | undefined;
  const z = arr(body, 'zones', 'zones');
  if (z && z.length > 0) {
    if (z.length > 1 || typeof z[0] !== 'string' || !['1', '2', '3'].includes(z[0])) {
      throw armErrors.invalidParameter(`The property 'zones' must name one availability zone, '1', '2' or '3'; got ${shown(z)}.`);
    }
    zones = [z[0]];
  }
  const props = obj(body, 'properties', 'properties', true);
  const stamp = str(props, 'stampId', 'properties.stampId');
  let stampId: string | undefined;
  if (stamp !== undefined && stamp !== '') {
    stampId = STAMPS.find((s) => s === stamp.toLowerCase());
    if (!stampId) throw armErrors.invalidParameter(`The property 'properties.stampId' must be 'stamp1' or 'stamp2'; got '${shown(stamp)}'.`);
  }
  if (stampId && zones) {
    throw armErrors.invalidParameter("The properties 'properties.stampId' and 'zones' cannot be used together: use stampId in regions without availability zones, zones in regions with them.");
  }
  const np = obj(props, 'networkProfile', 'properties.networkProfile', true);
  const subnet = obj(np, 'subnet', 'properties.networkProfile.subnet', true);
  const subnetId = str(subnet, 'id', 'properties.networkProfile.subnet.id', true);
  if (!SUBNET_ID.test(subnetId)) {
    throw armErrors.invalidParameter(
      `The property 'properties.networkProfile.subnet.id' must be a subnet id of the form /subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}; got '${shown(subnetId, 200)}'.`,
    );
  }
  const nics = arr(np, 'networkInterfaces', 'properties.networkProfile.networkInterfaces');
  if (!nics || nics.length !== 1 || !isObject(nics[0])) {
    throw armErrors.invalidParameter(
      "The property 'properties.networkProfile.networkInterfaces' must hold exactly one network interface with a privateIpAddress (the simulator does not allocate addresses from the subnet).",
    );
  }
  const ip = str(nics[0], 'privateIpAddress', 'properties.networkProfile.networkInterfaces[0].privateIpAddress', true);
  checkPrivateIp(ip, 'properties.networkProfile.networkInterfaces[0].privateIpAddress');
  const mgmt = obj(props, 'managementNetworkProfile', 'properties.managementNetworkProfile');
  if (mgmt && known === LUNA_SKU) {
    throw armErrors.invalidParameter(`The property 'properties.managementNetworkProfile' is only for payShield10K SKUs, not for '${LUNA_SKU}'.`);
  }
  if (!known.startsWith('SafeNet')) {
    // Valid for Azure, but there is no payShield device behind it here: refused before anything is created.
    throw armErrors.notSupported(`The SKU '${known}' (a payShield 10K device)`);
  }
  return { location: loc, skuName: known, zones, stampId, subnetId, privateIpAddress: ip, tags: tags(body) ?? {} };
}

export const MANAGED_SKUS = ['Standard_B1', 'Custom_B32', 'Custom_B6'] as const;

export interface ManagedHsmInput extends ManagedHsmProps {
  createMode: 'default';
  location: string;
  tags: Record<string, string>;
}

/** createMode 'recover': the deleted HSM comes back with its own settings; tags replace its tags only when given. */
export interface ManagedHsmRecoverInput {
  createMode: 'recover';
  location: string;
  tenantId: string;
  tags?: Record<string, string>;
}

/**
 * A managedHSMs PUT body: SKU family B and a known name; tenantId the simulator's tenant; at least one initial
 * administrator (object ids); soft delete always on, retention 7-90 days; no extra regions. Network ACLs are
 * validated and stored but not enforced: the data plane listens on loopback only. With createMode 'recover' (any
 * case: `az keyvault recover --hsm-name` sends 'Recover') only location, tenantId and, when present, the SKU are
 * read: the CLI sends nothing else, and the deleted HSM's own settings come back.
 */
export function managedHsmInput(body: Json, simulatorTenant: string): ManagedHsmInput | ManagedHsmRecoverInput {
  const loc = location(body, 'managedHSMs');
  const sku = obj(body, 'sku', 'sku');
  const props = obj(body, 'properties', 'properties', true);
  const createMode = str(props, 'createMode', 'properties.createMode');
  if (createMode !== undefined && !['default', 'recover'].includes(createMode.toLowerCase())) {
    throw armErrors.invalidParameter(`The property 'properties.createMode' must be 'default' or 'recover'; got '${shown(createMode)}'.`);
  }
  const recover = createMode?.toLowerCase() === 'recover';
  if (!sku && !recover) throw armErrors.invalidParameter("The property 'sku' is required.");
  let known: (typeof MANAGED_SKUS)[number] | undefined;
  if (sku) {
    const family = str(sku, 'family', 'sku.family', true);
    if (family !== 'B') throw armErrors.invalidParameter(`The property 'sku.family' must be 'B'; got '${shown(family)}'.`);
    const skuName = str(sku, 'name', 'sku.name', true);
    known = MANAGED_SKUS.find((s) => s.toLowerCase() === skuName.toLowerCase());
    if (!known) throw armErrors.invalidParameter(`The SKU '${shown(skuName)}' is not a Managed HSM SKU; allowed: ${MANAGED_SKUS.join(', ')}.`);
  }
  const tenantId = str(props, 'tenantId', 'properties.tenantId', true);
  if (!GUID.test(tenantId)) throw armErrors.invalidParameter(`The property 'properties.tenantId' must be a GUID; got '${shown(tenantId)}'.`);
  if (tenantId.toLowerCase() !== simulatorTenant.toLowerCase()) {
    throw armErrors.invalidParameter(`The tenant '${tenantId}' in 'properties.tenantId' is not the subscription's tenant (${simulatorTenant}).`);
  }
  if (recover) return { createMode: 'recover', location: loc, tenantId: tenantId.toLowerCase(), tags: tags(body) };
  const admins = arr(props, 'initialAdminObjectIds', 'properties.initialAdminObjectIds');
  if (!admins || admins.length === 0 || admins.some((a) => typeof a !== 'string' || !GUID.test(a))) {
    throw armErrors.invalidParameter("The property 'properties.initialAdminObjectIds' must be a non-empty list of object ids (GUIDs).");
  }
  if (bool(props, 'enableSoftDelete', 'properties.enableSoftDelete') === false) {
    throw armErrors.invalidParameter("Soft delete cannot be turned off on a Managed HSM: 'properties.enableSoftDelete' must be true or absent.");
  }
  const daysRaw = props.softDeleteRetentionInDays;
  let days = 90;
  if (daysRaw !== undefined && daysRaw !== null) {
    if (typeof daysRaw !== 'number' || !Number.isInteger(daysRaw) || daysRaw < 7 || daysRaw > 90) {
      throw armErrors.invalidParameter(`The property 'properties.softDeleteRetentionInDays' must be an integer from 7 to 90; got ${shown(daysRaw)}.`);
    }
    days = daysRaw;
  }
  const purge = bool(props, 'enablePurgeProtection', 'properties.enablePurgeProtection') ?? false;
  const pna = str(props, 'publicNetworkAccess', 'properties.publicNetworkAccess') ?? 'Enabled';
  const publicNetworkAccess = (['Enabled', 'Disabled'] as const).find((v) => v.toLowerCase() === pna.toLowerCase());
  if (!publicNetworkAccess) throw armErrors.invalidParameter(`The property 'properties.publicNetworkAccess' must be 'Enabled' or 'Disabled'; got '${shown(pna)}'.`);
  const identity = obj(body, 'identity', 'identity');
  if (identity && identity.type !== undefined && identity.type !== null && identity.type !== 'None') throw armErrors.notSupported('Managed identities on a Managed HSM (identity)');
  const regions = arr(props, 'regions', 'properties.regions');
  if (regions && regions.length > 0) throw armErrors.notSupported('Managed HSM multi-region replication (properties.regions)');
  const acls = obj(props, 'networkAcls', 'properties.networkAcls');
  let networkAcls: ManagedHsmProps['networkAcls'];
  if (acls) {
    const bypass = str(acls, 'bypass', 'properties.networkAcls.bypass') ?? 'AzureServices';
    if (!['AzureServices', 'None'].includes(bypass)) throw armErrors.invalidParameter(`The property 'properties.networkAcls.bypass' must be 'AzureServices' or 'None'; got '${shown(bypass)}'.`);
    const defaultAction = str(acls, 'defaultAction', 'properties.networkAcls.defaultAction') ?? 'Allow';
    if (!['Allow', 'Deny'].includes(defaultAction)) throw armErrors.invalidParameter(`The property 'properties.networkAcls.defaultAction' must be 'Allow' or 'Deny'; got '${shown(defaultAction)}'.`);
    const ipRules = (arr(acls, 'ipRules', 'properties.networkAcls.ipRules') ?? []).map((r, i) => {
      const value = isObject(r) ? r.value : undefined;
      if (typeof value !== 'string' || !/^(\d{1,3}\.){3}\d{1,3}(\/([0-9]|[12][0-9]|3[0-2]))?$/.test(value) || value.split('/')[0].split('.').some((p) => Number(p) > 255)) {
        throw armErrors.invalidParameter(`The property 'properties.networkAcls.ipRules[${i}].value' must be an IPv4 address or CIDR range; got ${shown(value)}.`);
      }
      return { value };
    });
    const virtualNetworkRules = (arr(acls, 'virtualNetworkRules', 'properties.networkAcls.virtualNetworkRules') ?? []).map((r, i) => {
      const id = isObject(r) ? r.id : undefined;
      if (typeof id !== 'string' || !SUBNET_ID.test(id)) throw armErrors.invalidParameter(`The property 'properties.networkAcls.virtualNetworkRules[${i}].id' must be a subnet id; got ${shown(id)}.`);
      return { id };
    });
    networkAcls = { bypass, defaultAction, ipRules, virtualNetworkRules };
  }
  return {
    createMode: 'default',
    location: loc,
    tags: tags(body) ?? {},
    skuName: known!,
    tenantId: tenantId.toLowerCase(),
    initialAdminObjectIds: (admins as string[]).map((a) => a.toLowerCase()),
    softDeleteRetentionInDays: days,
    enablePurgeProtection: purge,
    publicNetworkAccess,
    networkAcls,
  };
}

/** PATCH bodies change tags only; anything else is refused rather than ignored. */
export function patchInput(body: Json): Record<string, string> {
  const other = Object.keys(body).filter((k) => k !== 'tags');
  if (other.length > 0) throw armErrors.invalidParameter(`PATCH changes only 'tags'; use PUT to change ${other.map((k) => `'${shown(k, 40)}'`).join(', ')}.`);
  return tags(body, true)!;
}

/** $top for list calls: 1-1000. */
export function top(q: URLSearchParams): number | undefined {
  const v = q.get('$top');
  if (v === null) return undefined;
  if (!/^\d{1,4}$/.test(v) || Number(v) < 1 || Number(v) > 1000) throw armErrors.invalidParameter(`The query parameter '$top' must be an integer from 1 to 1000; got '${shown(v, 20)}'.`);
  return Number(v);
}

export function skipToken(q: URLSearchParams): number {
  const v = q.get('$skiptoken');
  if (v === null) return 0;
  if (!/^\d{1,6}$/.test(v)) throw armErrors.invalidParameter(`The query parameter '$skiptoken' is not one this service issued: '${shown(v, 20)}'.`);
  return Number(v);
}
