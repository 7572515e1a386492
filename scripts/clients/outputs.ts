import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../flags';

/**
 * The Terraform outputs of a real deployment, as `hsmctl --from-outputs FILE|DIR` reads them. Two shapes are
 * accepted (and a third, flat one):
 *
 *   terraform output -json   (one stack; run in cdktf.out/stacks/<stack>)
 *     {"hsm_uri": {"sensitive": false, "type": "string", "value": "https://x.managedhsm.azure.net/"}, ...}
 *     The stack is named after the file (hsm-prod.json -> hsm-prod).
 *   cdktf output --outputs-file FILE   (every stack; cdktf deploy --outputs-file writes the same)
 *     {"hsm-prod": {"hsm_uri": "https://...", ...}, "hsm-prod-dr": {...}}
 *   flat   (terraform output -json | jq 'map_values(.value)')
 *     {"hsm_uri": "https://...", ...}
 *
 * A DIR holds any number of such *.json files (for example one `terraform output -json` per stack). The outputs
 * the stacks write (stacks/environment-stack.ts): hsm_uri, managed_hsm_id, managed_hsm_name,
 * dedicated_hsm_private_ips, dedicated_hsm_ids, ciphertrust_private_ip, luna_client_private_ip,
 * resource_group_name, vnet_id. They are identifiers and addresses: an output marked sensitive is never read
 * (and never printed); asking for one is an error that says so.
 */
export interface StackOutputs {
  readonly stack: string;
  readonly file: string;
  /** Output name -> value, sensitive outputs left out. */
  readonly values: Readonly<Record<string, unknown>>;
  /** Names of outputs marked sensitive (their values are not kept). */
  readonly sensitive: readonly string[];
}

export interface DeploymentOutputs {
  readonly source: string;
  readonly stacks: readonly StackOutputs[];
}

export interface ManagedHsmOutput {
  readonly stack: string;
  readonly name: string;
  readonly hsmUri: string;
  readonly id?: string;
  readonly resourceGroup?: string;
}

export interface DedicatedHsmOutput {
  readonly stack: string;
  readonly name: string;
  readonly id: string;
  readonly privateIp: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
}

/** Values that tools print in place of a sensitive one. */
const REDACTED = new Set(['<sensitive>', '(sensitive value)', '(sensitive)', '<sensitive value>']);
const ARM_ID = /^\/subscriptions\/([0-9a-fA-F-]{36})\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export class OutputsError extends UsageError {}

/** Reads FILE, or every *.json in DIR. Errors name the file and what was wrong; they never echo values. */
export function readOutputs(fileOrDir: string): DeploymentOutputs {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(fileOrDir);
  } catch {
    throw new OutputsError(`--from-outputs ${fileOrDir}: no such file or folder (write one with \`terraform output -json > outputs.json\` in cdktf.out/stacks/<stack>, or \`cdktf output --outputs-file outputs.json\`)`);
  }
  const files = stat.isDirectory()
    ? fs
        .readdirSync(fileOrDir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => path.join(fileOrDir, f))
    : [fileOrDir];
  if (files.length === 0) throw new OutputsError(`--from-outputs ${fileOrDir}: the folder holds no *.json outputs file`);
  const stacks = files.flatMap(parseOutputsFile);
  const seen = new Set<string>();
  for (const s of stacks) {
    if (seen.has(s.stack)) throw new OutputsError(`--from-outputs ${fileOrDir}: the stack ${s.stack} appears twice (${stacks.filter((x) => x.stack === s.stack).map((x) => x.file).join(', ')})`);
    seen.add(s.stack);
  }
  return { source: fileOrDir, stacks };
}

export function parseOutputsFile(file: string): StackOutputs[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new OutputsError(`--from-outputs: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OutputsError(`--from-outputs: ${file} is not JSON (${(err as Error).message}); expected the output of \`terraform output -json\` or \`cdktf output --outputs-file\``);
  }
  if (!isObject(json)) throw new OutputsError(`--from-outputs: ${file} holds ${Array.isArray(json) ? 'an array' : typeof json}, not an object of outputs`);
  if ('resource' in json && ('terraform' in json || 'provider' in json)) {
    throw new OutputsError(`--from-outputs: ${file} is synthesized Terraform (cdk.tf.json), not the outputs of a deployment: run \`terraform output -json\` after \`cdktf deploy\``);
  }
  const stackName = path.basename(file).replace(/\.json$/, '');
  const entries = Object.entries(json);
  if (entries.length === 0) throw new OutputsError(`--from-outputs: ${file} holds no outputs (was the stack deployed? \`terraform output -json\` prints {} before the first apply)`);
  if (entries.some(([, v]) => isTerraformOutput(v))) {
    // terraform output -json: every entry is {sensitive, type, value}.
    const bad = entries.filter(([, v]) => !isTerraformOutput(v)).map(([k]) => k);
    if (bad.length) throw new OutputsError(`--from-outputs: ${file} mixes \`terraform output -json\` entries with other values (${bad.slice(0, 5).join(', ')})`);
    return [stackOf(stackName, file, entries.map(([k, v]) => [k, (v as TfOutput).value, (v as TfOutput).sensitive === true]))];
  }
  if (entries.every(([, v]) => isObject(v)) && !entries.some(([k]) => KNOWN_OUTPUTS.has(k))) {
    // cdktf outputs file: stack -> outputs. cdktf leaves sensitive outputs out unless --outputs-file-include-sensitive-outputs.
    return entries.map(([stack, outs]) => stackOf(stack, file, Object.entries(outs as Record<string, unknown>).map(([k, v]) => [k, v, false])));
  }
  return [stackOf(stackName, file, entries.map(([k, v]) => [k, v, false]))];
}

interface TfOutput {
  sensitive?: boolean;
  type?: unknown;
  value?: unknown;
}

function isTerraformOutput(v: unknown): v is TfOutput {
  return isObject(v) && 'value' in v && ('type' in v || 'sensitive' in v) && Object.keys(v).every((k) => ['sensitive', 'type', 'value', 'description', 'ephemeral'].includes(k));
}

function stackOf(stack: string, file: string, entries: Array<[string, unknown, boolean]>): StackOutputs {
  const values: Record<string, unknown> = {};
  const sensitive: string[] = [];
  for (const [k, v, isSensitive] of entries) {
    if (isSensitive || (typeof v === 'string' && REDACTED.has(v))) sensitive.push(k);
    else values[k] = v;
  }
  return { stack, file, values, sensitive };
}

export const KNOWN_OUTPUTS = new Set([
  'hsm_uri',
  'managed_hsm_id',
  'managed_hsm_name',
  'dedicated_hsm_private_ips',
  'dedicated_hsm_ids',
  'ciphertrust_private_ip',
  'ciphertrust_vm_id',
  'luna_client_private_ip',
  'luna_client_vm_id',
  'resource_group_name',
  'vnet_id',
]);

/** One output of one stack, undefined when the stack has none of that name; sensitive or unresolved ones are errors. */
export function outputOf(s: StackOutputs, name: string): unknown {
  if (s.sensitive.includes(name)) {
    throw new OutputsError(`--from-outputs: output ${name} of stack ${s.stack} (${s.file}) is marked sensitive or redacted; hsmctl reads only non-sensitive outputs (identifiers and addresses): declare it without sensitive = true`);
  }
  const v = s.values[name];
  if (typeof v === 'string' && v.includes('${')) {
    throw new OutputsError(`--from-outputs: output ${name} of stack ${s.stack} (${s.file}) is an unresolved Terraform expression: give the outputs of a deployment, not of synth`);
  }
  return v;
}

function str(s: StackOutputs, name: string, check?: (v: string) => boolean, want?: string): string | undefined {
  const v = outputOf(s, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '' || (check && !check(v))) {
    throw new OutputsError(`--from-outputs: output ${name} of stack ${s.stack} (${s.file}) is not ${want ?? 'a non-empty string'}; got ${describe(v)}`);
  }
  return v;
}

function strList(s: StackOutputs, name: string, check: (v: string) => boolean, want: string): string[] | undefined {
  const v = outputOf(s, name);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !check(x))) {
    throw new OutputsError(`--from-outputs: output ${name} of stack ${s.stack} (${s.file}) must be a list of ${want}; got ${describe(v)}`);
  }
  return v as string[];
}

const isHttpsUrl = (v: string) => {
  try {
    return new URL(v).protocol === 'https:';
  } catch {
    return false;
  }
};

/** Every Managed HSM of the deployment (stacks with hsm_uri). A stack with a name or id but no hsm_uri is an error. */
export function managedHsmsOf(o: DeploymentOutputs): ManagedHsmOutput[] {
  const found: ManagedHsmOutput[] = [];
  for (const s of o.stacks) {
    const hsmUri = str(s, 'hsm_uri', isHttpsUrl, 'an https URL');
    const id = str(s, 'managed_hsm_id', (v) => ARM_ID.test(v), 'a Managed HSM resource id');
    const name = str(s, 'managed_hsm_name');
    if (!hsmUri) {
      if (id || name) throw new OutputsError(`--from-outputs: stack ${s.stack} (${s.file}) names a Managed HSM but has no hsm_uri output`);
      continue;
    }
    const fromId = id ? ARM_ID.exec(id) : null;
    found.push({
      stack: s.stack,
      name: name ?? fromId?.[5] ?? new URL(hsmUri).hostname.split('.')[0],
      hsmUri: hsmUri.replace(/\/*$/, '/'),
      id,
      resourceGroup: str(s, 'resource_group_name') ?? fromId?.[2],
    });
  }
  return found;
}

/** Every Dedicated HSM: dedicated_hsm_ids paired with dedicated_hsm_private_ips, in order. */
export function dedicatedHsmsOf(o: DeploymentOutputs): DedicatedHsmOutput[] {
  const found: DedicatedHsmOutput[] = [];
  for (const s of o.stacks) {
    const ids = strList(s, 'dedicated_hsm_ids', (v) => ARM_ID.test(v) && /\/providers\/Microsoft\.HardwareSecurityModules\/dedicatedHSMs\//i.test(v), 'Dedicated HSM resource ids');
    const ips = strList(s, 'dedicated_hsm_private_ips', (v) => IPV4.test(v), 'IPv4 addresses');
    if (!ids && !ips) continue;
    if (!ids || !ips || ids.length !== ips.length) {
      throw new OutputsError(`--from-outputs: stack ${s.stack} (${s.file}): dedicated_hsm_ids and dedicated_hsm_private_ips must both be present, with one address per HSM (got ${ids?.length ?? 'no'} ids, ${ips?.length ?? 'no'} addresses)`);
    }
    ids.forEach((id, i) => {
      const m = ARM_ID.exec(id)!;
      found.push({ stack: s.stack, name: m[5], id, privateIp: ips[i], subscriptionId: m[1].toLowerCase(), resourceGroup: m[2] });
    });
  }
  return found;
}

/** The subscription the deployment is in, from its resource ids (vnet_id, managed_hsm_id, dedicated_hsm_ids). */
export function subscriptionOf(o: DeploymentOutputs): string | undefined {
  for (const s of o.stacks) {
    for (const name of ['vnet_id', 'managed_hsm_id']) {
      const v = outputOf(s, name);
      const m = typeof v === 'string' ? /^\/subscriptions\/([0-9a-fA-F-]{36})\//.exec(v) : null;
      if (m) return m[1].toLowerCase();
    }
  }
  return dedicatedHsmsOf(o)[0]?.subscriptionId;
}

/**
 * The one Managed HSM a command acts on: the one named by `select` (its name, its URL, or "stack:<stack>"), or the
 * only one there is.
 */
export function selectManagedHsm(o: DeploymentOutputs, select?: string): ManagedHsmOutput {
  const all = managedHsmsOf(o);
  const names = all.map((m) => `${m.name} (stack ${m.stack})`).join(', ');
  if (all.length === 0) throw new OutputsError(`--from-outputs ${o.source}: no stack has an hsm_uri output (stacks: ${o.stacks.map((s) => s.stack).join(', ')}); was the Managed HSM deployed?`);
  if (!select) {
    if (all.length > 1) throw new OutputsError(`--from-outputs ${o.source} holds ${all.length} Managed HSMs: choose one with --hsm NAME (${names})`);
    return all[0];
  }
  const norm = (u: string) => u.replace(/\/+$/, '').toLowerCase();
  const m = all.find((x) => x.name.toLowerCase() === select.toLowerCase() || norm(x.hsmUri) === norm(select) || `stack:${x.stack}` === select);
  if (!m) throw new OutputsError(`--hsm ${select}: not among the Managed HSMs of ${o.source} (${names})`);
  return m;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The kind of a value, not the value: output values stay out of messages. */
function describe(v: unknown): string {
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v === '') return 'an empty string';
  return typeof v === 'string' ? `a string of ${v.length} characters` : typeof v === 'object' ? 'an object' : typeof v;
}
