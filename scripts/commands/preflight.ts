import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { TokenCredential } from '@azure/identity';
import { Command } from '../command';
import { ParsedFlags, UsageError } from '../flags';
import { ENVIRONMENT_FLAGS, loadEnvironment } from '../environment';
import { GUID } from '../guid';

/**
 * `hsmctl preflight`: what must hold before a Dedicated HSM deploy (seeds 001/002, reference/dedicated-hsm-and-luna.md),
 * checked before 25-35 minutes of gateway and HSM provisioning find out:
 * - the subscription's AzureDedicatedHSM and AllowBaremetalServers feature registrations (ARM features API);
 * - the Microsoft.HardwareSecurityModules, Microsoft.KeyVault and Microsoft.Network resource providers;
 * - in the synthesized plan: the HSM subnet delegated to Microsoft.HardwareSecurityModules/dedicatedHSMs with no NSG
 *   and no route table on it, a GatewaySubnet with an ExpressRoute gateway in it, the HSM depending on that gateway,
 *   and an HA pair spread over stamp1 and stamp2.
 * Each check passes or fails with the fix; exit 0 only if every check passes.
 */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to do when it fails (a command, or the change to make). */
  readonly fix?: string;
}

const ARM_SCOPE = 'https://management.azure.com/.default';
const DELEGATION = 'Microsoft.HardwareSecurityModules/dedicatedHSMs';
export const FEATURES = [
  { namespace: 'Microsoft.HardwareSecurityModules', name: 'AzureDedicatedHSM', note: 'access is granted by Microsoft on request (HSMrequest@microsoft.com); until then the registration stays Pending' },
  { namespace: 'Microsoft.Network', name: 'AllowBaremetalServers' },
] as const;
export const PROVIDERS = ['Microsoft.HardwareSecurityModules', 'Microsoft.KeyVault', 'Microsoft.Network'] as const;

type Json = Record<string, any>;
const REF = /^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}$/;

/** The plan checks over the synthesized stacks (stack name -> cdk.tf.json). */
export function planChecks(stacks: Record<string, Json>): Check[] {
  const checks: Check[] = [];
  for (const [stack, tf] of Object.entries(stacks)) {
    const res = (tf.resource ?? {}) as Record<string, Record<string, Json>>;
    const hsms = Object.entries(res.azurerm_dedicated_hardware_security_module ?? {});
    if (hsms.length === 0) continue;
    const subnets = res.azurerm_subnet ?? {};
    const refTo = (v: unknown, type: string): string | undefined => {
      const m = typeof v === 'string' ? REF.exec(v) : null;
      return m && m[1] === type ? m[2] : undefined;
    };
    const gateways = Object.entries(res.azurerm_virtual_network_gateway ?? {});
    for (const [hsmId, h] of hsms) {
      const label = `${stack}: Dedicated HSM ${h.name}`;
      const subnetId = refTo(h.network_profile?.subnet_id, 'azurerm_subnet');
      const subnet = subnetId ? subnets[subnetId] : undefined;
      if (!subnet) {
        checks.push({ name: `${label}: HSM subnet`, ok: false, detail: 'its network_profile.subnet_id does not refer to a subnet of the same stack', fix: 'place the HSM in the HsmNetwork construct\'s HSM subnet' });
        continue;
      }
      const delegations = ([] as Json[]).concat(subnet.delegation ?? []);
      const delegated = delegations.some((d) => d?.service_delegation?.name === DELEGATION);
      checks.push({
        name: `${label}: subnet ${subnet.name} delegated to ${DELEGATION}`,
        ok: delegated,
        detail: delegated ? 'delegated' : `delegations: ${delegations.map((d) => d?.service_delegation?.name).join(', ') || 'none'}`,
        fix: delegated ? undefined : `delegate the subnet (HsmNetwork does); on an existing VNet: az network vnet subnet update -g <rg> --vnet-name <vnet> -n ${subnet.name} --delegations ${DELEGATION}`,
      });
      const nsg = Object.values(res.azurerm_subnet_network_security_group_association ?? {}).some((a) => refTo(a.subnet_id, 'azurerm_subnet') === subnetId);
      checks.push({
        name: `${label}: no NSG on subnet ${subnet.name}`,
        ok: !nsg,
        detail: nsg ? 'an azurerm_subnet_network_security_group_association puts an NSG on it' : 'none',
        fix: nsg ? 'remove the NSG association from the HSM subnet: a Dedicated HSM subnet takes no NSG' : undefined,
      });
      const udr = Object.values(res.azurerm_subnet_route_table_association ?? {}).some((a) => refTo(a.subnet_id, 'azurerm_subnet') === subnetId);
      checks.push({
        name: `${label}: no route table on subnet ${subnet.name}`,
        ok: !udr,
        detail: udr ? 'an azurerm_subnet_route_table_association puts a route table on it' : 'none',
        fix: udr ? 'remove the route table association from the HSM subnet: a Dedicated HSM subnet takes no UDR' : undefined,
      });
      const gwSubnetId = Object.entries(subnets).find(([, s]) => s.name === 'GatewaySubnet' && s.virtual_network_name === subnet.virtual_network_name)?.[0];
      checks.push({
        name: `${label}: GatewaySubnet in the same VNet`,
        ok: !!gwSubnetId,
        detail: gwSubnetId ? 'present' : 'no subnet named GatewaySubnet in the HSM\'s VNet',
        fix: gwSubnetId ? undefined : 'add a subnet named exactly GatewaySubnet (a /27 or larger) to the VNet (network.gatewaySubnetCidr in the config)',
      });
      const gw = gateways.find(([, g]) => ([] as Json[]).concat(g.ip_configuration ?? []).some((c) => gwSubnetId && refTo(c.subnet_id, 'azurerm_subnet') === gwSubnetId));
      const gwOk = !!gw && gw[1].type === 'ExpressRoute';
      checks.push({
        name: `${label}: ExpressRoute gateway in GatewaySubnet`,
        ok: gwOk,
        detail: gw ? `${gw[1].name} (type ${gw[1].type})` : 'no virtual network gateway in GatewaySubnet',
        fix: gwOk ? undefined : 'add an ExpressRoute virtual network gateway in GatewaySubnet (HsmNetwork does); it takes 25-35 minutes to create',
      });
      const deps = ([] as string[]).concat(h.depends_on ?? []);
      const dependsOk = !!gw && deps.includes(`azurerm_virtual_network_gateway.${gw[0]}`);
      checks.push({
        name: `${label}: depends on the gateway`,
        ok: dependsOk,
        detail: dependsOk ? `depends_on ${gw![0]}` : `depends_on: ${deps.join(', ') || 'none'}`,
        fix: dependsOk ? undefined : 'make the HSM depend on the gateway (DedicatedHsm does with the network prop): deployed before it, the HSM fails',
      });
      void hsmId;
    }
    if (hsms.length === 2) {
      const stamps = hsms.map(([, h]) => h.stamp_id).sort();
      const ok = stamps[0] === 'stamp1' && stamps[1] === 'stamp2';
      const zones = hsms.every(([, h]) => Array.isArray(h.zones) && h.zones.length > 0);
      checks.push({
        name: `${stack}: HA pair in two stamps`,
        ok: ok || zones,
        detail: `stamps ${stamps.map((s) => s ?? 'none').join(', ')}${zones ? ' (zones given)' : ''}`,
        fix: ok || zones ? undefined : 'put one HSM in stamp1 and the other in stamp2',
      });
    }
  }
  return checks;
}

export const preflightCommand: Command = {
  details: [
    'Checks the subscription (AzureDedicatedHSM and AllowBaremetalServers features; Microsoft.HardwareSecurityModules,',
    'Microsoft.KeyVault and Microsoft.Network providers) through ARM, and the synthesized plan of the environment (HSM subnet',
    'delegated with no NSG or route table, GatewaySubnet, ExpressRoute gateway, HSM depending on it, HA stamps).',
    'Against Azure with DefaultAzureCredential, or against the simulator\'s ARM plane with --simulator DIR.',
    'The subscription: --subscription, else the config\'s subscriptionId, else $AZURE_SUBSCRIPTION_ID / $ARM_SUBSCRIPTION_ID.',
    'Exit 0 when every check passes, 1 when one fails, 2 on a usage error.',
    '',
    'example: hsmctl preflight --env prod',
    '         hsmctl preflight --config ./config/example.json --simulator .hsm-state --json',
  ].join('\n'),
  flags: {
    ...ENVIRONMENT_FLAGS,
    subscription: { type: 'string', value: 'GUID', description: 'the subscription to check' },
    simulator: { type: 'string', value: 'DIR', description: "check against the simulator's ARM plane (DIR/endpoints.json)" },
    principal: { type: 'string', value: 'OBJECT_ID', description: 'with --simulator: the principal to act as (default: the first with a secret)' },
    json: { type: 'boolean', description: 'print {ok, checks: [...]} as JSON' },
  },
  async run(flags) {
    if (flags.principal && !flags.simulator) throw new UsageError('--principal needs --simulator (against Azure the credential comes from DefaultAzureCredential)');
    const { config } = loadEnvironment(flags, (line) => console.error(line));
    const subscription = subscriptionOf(flags, config.subscriptionId);
    const arm = armAccess(flags);

    const checks: Check[] = [];
    // The plan first: it needs no network, and says whether a Dedicated HSM is there at all.
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsm-preflight-'));
    let stacks: Record<string, Json>;
    try {
      const { buildApp } = require('../../stacks/app') as typeof import('../../stacks/app');
      buildApp(config, outdir).app.synth();
      const dir = path.join(outdir, 'stacks');
      stacks = Object.fromEntries(fs.readdirSync(dir).map((s) => [s, JSON.parse(fs.readFileSync(path.join(dir, s, 'cdk.tf.json'), 'utf8'))]));
    } catch (err) {
      console.error(`hsmctl preflight: synth failed:\n${(err as Error).message}`);
      return 1;
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
    const plan = planChecks(stacks);
    const dedicated = Object.values(stacks).some((tf) => Object.keys(tf.resource?.azurerm_dedicated_hardware_security_module ?? {}).length > 0);

    if (dedicated) checks.push(...(await featureChecks(arm, subscription)));
    checks.push(...(await providerChecks(arm, subscription, dedicated ? PROVIDERS : PROVIDERS.filter((p) => p !== 'Microsoft.HardwareSecurityModules'))));
    checks.push(...plan);
    if (!dedicated) checks.push({ name: 'plan: Dedicated HSM', ok: true, detail: `config ${config.name} has no Dedicated HSM: its feature, subnet and gateway checks do not apply` });

    const ok = checks.every((c) => c.ok);
    if (flags.json) console.log(JSON.stringify({ ok, subscription, where: arm.where, checks }, null, 2));
    else {
      console.log(`preflight of ${config.name} in subscription ${subscription} (${arm.where})`);
      for (const c of checks) {
        console.log(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
        if (!c.ok && c.fix) console.log(`        fix: ${c.fix}`);
      }
      console.log(ok ? 'preflight passed' : `preflight failed: ${checks.filter((c) => !c.ok).length} of ${checks.length} checks`);
    }
    return ok ? 0 : 1;
  },
};

function subscriptionOf(flags: ParsedFlags, fromConfig?: string): string {
  const s = (flags.subscription as string | undefined) ?? fromConfig ?? process.env.AZURE_SUBSCRIPTION_ID ?? process.env.ARM_SUBSCRIPTION_ID;
  if (!s) throw new UsageError('which subscription? --subscription GUID, subscriptionId in the config, or $AZURE_SUBSCRIPTION_ID');
  if (!GUID.test(s)) throw new UsageError(`the subscription must be a GUID; got ${JSON.stringify(s.slice(0, 40))}`);
  return s.toLowerCase();
}

interface ArmAccess {
  credential: TokenCredential;
  options: Record<string, unknown>;
  where: string;
}

function armAccess(flags: ParsedFlags): ArmAccess {
  const dir = flags.simulator as string | undefined;
  if (!dir) {
    const { DefaultAzureCredential } = require('@azure/identity') as typeof import('@azure/identity');
    return { credential: new DefaultAzureCredential(), options: {}, where: 'Azure' };
  }
  const { readEndpoints, simulatorCredential } = require('../clients/target') as typeof import('../clients/target');
  const e = readEndpoints(dir);
  if (!e.armEndpoint) throw new UsageError(`--simulator ${dir}: its endpoints.json names no ARM endpoint`);
  const principal = (flags.principal as string | undefined) ?? e.principals[0]?.objectId;
  if (!principal) throw new UsageError(`--simulator ${dir}: no principal with a secret file is listed; pass --principal OBJECT_ID`);
  return {
    credential: simulatorCredential(e, dir, principal),
    // A custom endpoint would otherwise become the token scope (reference/real-clients.md).
    options: { endpoint: e.armEndpoint, credentialScopes: [ARM_SCOPE], tlsOptions: { ca: fs.readFileSync(e.caCertificate, 'utf8') }, retryOptions: { maxRetries: 1 } },
    where: `simulator ${dir}`,
  };
}

function failureOf(err: unknown): string {
  const e = err as { statusCode?: number; code?: string; message?: string };
  return `${e.statusCode ? `${e.statusCode} ` : ''}${e.code ? `${e.code}: ` : ''}${String(e.message ?? err).split('\n')[0]}`;
}

async function featureChecks(arm: ArmAccess, subscription: string): Promise<Check[]> {
  const { FeatureClient } = require('@azure/arm-features') as typeof import('@azure/arm-features');
  const client = new FeatureClient(arm.credential, subscription, arm.options as never);
  const out: Check[] = [];
  for (const f of FEATURES) {
    const name = `feature ${f.namespace}/${f.name} Registered`;
    const register = `az feature register --namespace ${f.namespace} --name ${f.name} --subscription ${subscription}, wait for "Registered" (az feature show ...), then az provider register --namespace ${f.namespace}`;
    try {
      const state = (await client.features.get(f.namespace, f.name)).properties?.state ?? 'unknown';
      const ok = state === 'Registered';
      const note = 'note' in f ? `; ${f.note}` : '';
      out.push({
        name,
        ok,
        detail: state,
        fix: ok ? undefined : state === 'Registering' || state === 'Pending' ? `wait: the registration is ${state}${note}` : `${register}${note}`,
      });
    } catch (err) {
      out.push({ name, ok: false, detail: `could not be read: ${failureOf(err)}`, fix: 'sign in with a principal that may read the subscription (az login, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)' });
    }
  }
  return out;
}

async function providerChecks(arm: ArmAccess, subscription: string, providers: readonly string[]): Promise<Check[]> {
  const { ResourceManagementClient } = require('@azure/arm-resources') as typeof import('@azure/arm-resources');
  const client = new ResourceManagementClient(arm.credential, subscription, arm.options as never);
  const out: Check[] = [];
  for (const ns of providers) {
    const name = `provider ${ns} Registered`;
    try {
      const state = (await client.providers.get(ns)).registrationState ?? 'unknown';
      const ok = state === 'Registered';
      out.push({ name, ok, detail: state, fix: ok ? undefined : state === 'Registering' ? 'wait: the registration is in progress (az provider show -n ' + ns + ')' : `az provider register --namespace ${ns} --subscription ${subscription}` });
    } catch (err) {
      out.push({ name, ok: false, detail: `could not be read: ${failureOf(err)}`, fix: 'sign in with a principal that may read the subscription (az login, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)' });
    }
  }
  return out;
}
