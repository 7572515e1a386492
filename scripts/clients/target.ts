import * as fs from 'fs';
import * as path from 'path';
import { ClientSecretCredential, DefaultAzureCredential, TokenCredential } from '@azure/identity';
import { FlagSpecs, ParsedFlags, UsageError } from '../flags';
import type { KeyClient } from '@azure/keyvault-keys';
import { dedicatedHsmsOf, managedHsmsOf, readOutputs, selectManagedHsm } from './outputs';
import type { Endpoints } from '../../simulator';
import { CeremonyError } from '../failure';

/**
 * Where an hsmctl ceremony command points: a Managed HSM endpoint and a credential. The simulator and Azure are
 * two endpoints of the same kind: with --simulator DIR the URL, the CA and a ClientSecretCredential for an
 * administrator come from DIR/endpoints.json and DIR/secrets/; otherwise the HSM URL is given and the
 * credential is DefaultAzureCredential (environment, managed identity, Azure CLI login...). With
 * --from-outputs FILE|DIR the HSM comes from the Terraform outputs of a deployment (scripts/clients/outputs.ts);
 * --hsm then only chooses among several, and --simulator, if also given, stands in for Azure's credential.
 */
export interface HsmTarget {
  hsmUri: string;
  credential: TokenCredential;
  /** Extra CA to trust (PEM), for the simulator's certificates. */
  ca?: string;
  /** For messages: "simulator DIR" or "Azure". */
  where: string;
}

export const TARGET_FLAGS: FlagSpecs = {
  hsm: { type: 'string', value: 'URL|NAME', description: 'the Managed HSM: its URL (https://<name>.managedhsm.azure.net), or its name with --simulator or --from-outputs' },
  'from-outputs': { type: 'string', value: 'FILE|DIR', description: 'take the HSM from the Terraform outputs of a deployment (terraform output -json, or cdktf output --outputs-file)' },
  simulator: { type: 'string', value: 'DIR', description: 'a simulator state folder: endpoint, CA and administrator credential from DIR/endpoints.json' },
  principal: { type: 'string', value: 'OBJECT_ID', description: 'with --simulator: the principal to act as (default: an administrator of the HSM)' },
  ca: { type: 'string', value: 'FILE', description: 'extra CA certificate (PEM) to trust for the HSM endpoint' },
};

/** endpoints.json as the simulator writes it. */
type SimulatorEndpoints = Endpoints;

/**
 * The endpoints of the simulator running from DIR. A folder whose simulator stopped (no endpoints.json) or died
 * (its process is gone) is reported at once with the command that starts it, instead of a token request that
 * times out against a closed port.
 */
export function readEndpoints(dir: string): SimulatorEndpoints {
  const file = path.join(dir, 'endpoints.json');
  const start = `npx hsmctl simulator start --state-dir ${dir}`;
  if (!fs.existsSync(dir)) throw new UsageError(`--simulator ${dir}: no such folder (a simulator's state folder, as ${start} makes it)`);
  if (!fs.existsSync(file)) {
    const known = fs.existsSync(path.join(dir, 'state')) || fs.existsSync(path.join(dir, 'softhsm'));
    throw new CeremonyError(known ? `the simulator in ${dir} is not running (it was stopped); start it with: ${start}` : `${dir} holds no simulator (no endpoints.json); start one with: ${start}`);
  }
  let e: SimulatorEndpoints;
  try {
    e = JSON.parse(fs.readFileSync(file, 'utf8')) as SimulatorEndpoints;
  } catch (err) {
    throw new CeremonyError(`--simulator ${dir}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (typeof e.pid === 'number' && !processAlive(e.pid)) {
    throw new CeremonyError(`the simulator in ${dir} is not running (its process ${e.pid} is gone; endpoints.json is left from that run); start it with: ${start}`);
  }
  return e;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A ClientSecretCredential for a simulator principal whose secret file the simulator wrote. */
export function simulatorCredential(e: SimulatorEndpoints, dir: string, objectId: string): ClientSecretCredential {
  const p = e.principals.find((x) => x.objectId === objectId.toLowerCase());
  const file = p?.secretFile ?? path.join(dir, 'secrets', `${objectId.toLowerCase()}.secret`);
  let secret: string;
  try {
    secret = fs.readFileSync(file, 'utf8').trim();
  } catch {
    throw new UsageError(`no client secret for principal ${objectId} in ${path.dirname(file)}`);
  }
  return new ClientSecretCredential(e.tenantId, objectId, secret, {
    authorityHost: e.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: fs.readFileSync(e.caCertificate, 'utf8') },
  } as ConstructorParameters<typeof ClientSecretCredential>[3]);
}

export function resolveTarget(flags: ParsedFlags): HsmTarget {
  const hsm = flags.hsm as string | undefined;
  const extraCa = flags.ca ? readCa(flags.ca as string) : undefined;
  const dir = flags.simulator as string | undefined;
  const outputsFile = flags['from-outputs'] as string | undefined;
  if (outputsFile) {
    const m = selectManagedHsm(readOutputs(outputsFile), hsm);
    const where = `outputs ${outputsFile} (stack ${m.stack})`;
    if (dir) return { ...simulatorTarget(dir, m.hsmUri, flags.principal as string | undefined, extraCa), where: `${where}, simulator ${dir}` };
    if (flags.principal) throw new UsageError('--principal needs --simulator (against Azure the credential comes from DefaultAzureCredential)');
    return { hsmUri: checkedUrl(m.hsmUri, `output hsm_uri of stack ${m.stack}`), credential: new DefaultAzureCredential(), ca: extraCa, where: `Azure, ${where}` };
  }
  if (!hsm) throw new UsageError('--hsm is required (or --from-outputs FILE)');
  if (dir) return simulatorTarget(dir, hsm, flags.principal as string | undefined, extraCa);
  if (flags.principal) throw new UsageError('--principal needs --simulator (against Azure the credential comes from DefaultAzureCredential)');
  return { hsmUri: checkedUrl(hsm, `--hsm ${hsm}`), credential: new DefaultAzureCredential(), ca: extraCa, where: 'Azure' };
}

/** A Managed HSM of the simulator in DIR (by name or URL), with a credential of one of its administrators. */
export function simulatorTarget(dir: string, hsm: string, principal: string | undefined, extraCa?: string): HsmTarget {
  const e = readEndpoints(dir);
  const norm = (u: string) => u.replace(/\/+$/, '').toLowerCase();
  const m = e.managedHsms.find((x) => x.name === hsm.toLowerCase() || norm(x.hsmUri) === norm(hsm));
  if (!m) throw new UsageError(`--hsm ${hsm}: no such Managed HSM in ${dir}/endpoints.json (have: ${e.managedHsms.map((x) => x.name).join(', ') || 'none'})`);
  const who = principal ?? m.administrators.find((a) => e.principals.some((p) => p.objectId === a));
  if (!who) throw new UsageError(`--hsm ${hsm}: none of its administrators has a secret file in ${dir}/secrets; pass --principal`);
  const ca = [fs.readFileSync(e.caCertificate, 'utf8'), extraCa].filter(Boolean).join('\n');
  return { hsmUri: m.hsmUri, credential: simulatorCredential(e, dir, who), ca, where: `simulator ${dir}` };
}

function checkedUrl(hsm: string, what: string): string {
  let u: URL;
  try {
    u = new URL(hsm);
  } catch {
    throw new UsageError(`${what}: give the HSM's URL (https://<name>.managedhsm.azure.net), or --simulator DIR with its name`);
  }
  if (u.protocol !== 'https:') throw new UsageError(`${what}: the URL must be https`);
  return u.origin + '/';
}

function readCa(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--ca ${file}: ${(err as Error).message}`);
  }
}

/**
 * Every HSM a report covers (hsmctl status): the Managed HSMs and Dedicated HSMs of the Terraform outputs
 * (--from-outputs), of the simulator (--simulator), or the one --hsm URL names. With --hsm alongside outputs or a
 * simulator, only that Managed HSM.
 */
export interface DedicatedTarget {
  name: string;
  /** Where its SSH answers: the private IP on Azure, 127.0.0.1 and the appliance's port in the simulator. */
  host: string;
  port: number;
  where: string;
}

export function resolveAllTargets(flags: ParsedFlags): { managed: Array<HsmTarget & { name: string }>; dedicated: DedicatedTarget[] } {
  const dir = flags.simulator as string | undefined;
  const hsm = flags.hsm as string | undefined;
  const outputsFile = flags['from-outputs'] as string | undefined;
  const principal = flags.principal as string | undefined;
  if (outputsFile) {
    const o = readOutputs(outputsFile);
    const managed = hsm ? [selectManagedHsm(o, hsm)] : managedHsmsOf(o);
    const sim = dir ? readEndpoints(dir) : undefined;
    const credential = dir ? undefined : new DefaultAzureCredential();
    if (!dir && principal) throw new UsageError('--principal needs --simulator (against Azure the credential comes from DefaultAzureCredential)');
    return {
      managed: managed.map((m) => ({
        name: m.name,
        ...(dir ? simulatorTarget(dir, m.hsmUri, principal) : { hsmUri: m.hsmUri, credential: credential!, where: 'Azure' }),
      })),
      dedicated: hsm
        ? []
        : dedicatedHsmsOf(o).map((d) => {
            if (!sim) return { name: d.name, host: d.privateIp, port: 22, where: 'Azure' };
            const a = sim.dedicatedHsms?.find((x) => x.name.toLowerCase() === d.name.toLowerCase());
            return { name: d.name, host: '127.0.0.1', port: a?.sshPort ?? 0, where: `simulator ${dir}` };
          }),
    };
  }
  if (dir && !hsm) {
    const e = readEndpoints(dir);
    return {
      managed: e.managedHsms.map((m) => ({ name: m.name, ...simulatorTarget(dir, m.name, principal) })),
      dedicated: (e.dedicatedHsms ?? []).map((d) => ({ name: d.name, host: '127.0.0.1', port: d.sshPort ?? 0, where: `simulator ${dir}` })),
    };
  }
  if (!hsm) throw new UsageError('say which HSMs: --from-outputs FILE|DIR, --simulator DIR, or --hsm URL');
  const t = resolveTarget(flags);
  return { managed: [{ name: nameOf(t.hsmUri), ...t }], dedicated: [] };
}

function nameOf(hsmUri: string): string {
  const u = new URL(hsmUri);
  return u.hostname.endsWith('.managedhsm.azure.net') ? u.hostname.split('.')[0] : u.host;
}

/** A KeyClient for a target: the simulator's certificates trusted, its 127.0.0.1 host accepted as the challenge resource. */
export function keyClientFor(t: HsmTarget): KeyClient {
  const { KeyClient } = require('@azure/keyvault-keys') as typeof import('@azure/keyvault-keys');
  const local = !new URL(t.hsmUri).hostname.endsWith('.azure.net');
  return new KeyClient(t.hsmUri, t.credential, {
    ...(local ? { disableChallengeResourceVerification: true } : {}),
    ...(t.ca ? { tlsOptions: { ca: t.ca } } : {}),
    retryOptions: { maxRetries: 2 },
  } as ConstructorParameters<typeof KeyClient>[2]);
}
