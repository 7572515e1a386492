import * as fs from 'fs';
import { Command } from '../command';
import { ParsedFlags, UsageError } from '../flags';
import { TARGET_FLAGS } from '../clients/target';
import { CeremonyError } from '../failure';
import { keyName } from './key-name';

/**
 * `hsmctl keys create`: a key in a Managed HSM with its type, size or curve, operations, expiry and rotation
 * policy, validated here before anything is sent (the HSM's own refusals are reported as they come).
 */
const KTYS = ['RSA-HSM', 'EC-HSM', 'oct-HSM'] as const;
const RSA_SIZES = [2048, 3072, 4096];
const OCT_SIZES = [128, 192, 256];
const CURVES = ['P-256', 'P-384', 'P-521', 'P-256K'];
const OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import'];
const OPS_BY_KTY: Record<string, string[]> = {
  'RSA-HSM': OPS,
  'EC-HSM': ['sign', 'verify'],
  'oct-HSM': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
};
export const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;


export interface KeySpec {
  kty: (typeof KTYS)[number];
  keySize?: number;
  curve?: string;
  keyOps?: string[];
  expiresOn?: Date;
  notBefore?: Date;
  tags?: Record<string, string>;
  rotationPolicy?: { expiresIn?: string; lifetimeActions: Array<{ action: 'Rotate' | 'Notify'; timeAfterCreate?: string; timeBeforeExpiry?: string }> };
}

/** Validates every flag of keys create; a UsageError names the flag, the value received and what is allowed. */
export function keySpecFromFlags(flags: ParsedFlags, now = Date.now()): KeySpec {
  const ktyRaw = flags.kty as string | undefined;
  if (!ktyRaw) throw new UsageError(`--kty is required: ${KTYS.join(', ')}`);
  const kty = KTYS.find((k) => k.toLowerCase() === ktyRaw.toLowerCase());
  if (!kty) {
    const soft = ['rsa', 'ec', 'oct'].includes(ktyRaw.toLowerCase());
    throw new UsageError(`--kty ${ktyRaw}: ${soft ? 'a Managed HSM holds only HSM-protected keys; use ' : 'allowed: '}${KTYS.join(', ')}`);
  }
  const spec: KeySpec = { kty };
  const size = flags.size as string | undefined;
  if (kty === 'EC-HSM') {
    if (size !== undefined) throw new UsageError('--size is for RSA-HSM and oct-HSM keys; an EC-HSM key takes --curve');
    const curve = (flags.curve as string | undefined) ?? 'P-256';
    const c = CURVES.find((x) => x.toLowerCase() === curve.toLowerCase());
    if (!c) throw new UsageError(`--curve ${curve}: allowed ${CURVES.join(', ')}`);
    spec.curve = c;
  } else {
    if (flags.curve !== undefined) throw new UsageError(`--curve is for EC-HSM keys; a ${kty} key takes --size`);
    const allowed = kty === 'RSA-HSM' ? RSA_SIZES : OCT_SIZES;
    const n = size === undefined ? allowed[kty === 'RSA-HSM' ? 0 : 2] : Number(size);
    if (!allowed.includes(n)) throw new UsageError(`--size ${size}: a ${kty} key is ${allowed.join(', ')} bits`);
    spec.keySize = n;
  }
  const ops = flags.ops as string[] | undefined;
  if (ops) {
    const list = ops.flatMap((o) => o.split(',')).filter(Boolean);
    for (const o of list) {
      const canon = OPS.find((x) => x.toLowerCase() === o.toLowerCase());
      if (!canon) throw new UsageError(`--ops ${o}: allowed ${OPS.join(', ')}`);
      if (!OPS_BY_KTY[kty].includes(canon)) throw new UsageError(`--ops ${canon} does not apply to a ${kty} key (allowed: ${OPS_BY_KTY[kty].join(', ')})`);
    }
    spec.keyOps = [...new Set(list.map((o) => OPS.find((x) => x.toLowerCase() === o.toLowerCase())!))];
    if (spec.keyOps.includes('import') && spec.keyOps.length > 1) throw new UsageError('--ops import makes a BYOK key-exchange key: it takes no other operation');
  }
  spec.expiresOn = dateFlag(flags, 'expires', now);
  spec.notBefore = dateFlag(flags, 'not-before', now);
  if (spec.expiresOn && spec.expiresOn.getTime() <= now) throw new UsageError('--expires must be in the future');
  if (spec.expiresOn && spec.notBefore && spec.notBefore >= spec.expiresOn) throw new UsageError('--not-before must come before --expires');
  const tags = flags.tag as string[] | undefined;
  if (tags) {
    spec.tags = {};
    for (const t of tags) {
      const m = /^([^=]{1,256})=(.{0,256})$/.exec(t);
      if (!m) throw new UsageError(`--tag ${JSON.stringify(t.slice(0, 40))}: write KEY=VALUE (key 1-256, value up to 256 characters)`);
      spec.tags[m[1]] = m[2];
    }
    if (Object.keys(spec.tags).length > 15) throw new UsageError('--tag: at most 15 tags');
  }
  if (flags['rotation-policy'] !== undefined) spec.rotationPolicy = rotationPolicy(flags['rotation-policy'] as string);
  return spec;
}

/** --expires / --not-before: an ISO 8601 date-time, or a duration from now (P90D, P1Y). */
function dateFlag(flags: ParsedFlags, name: string, now: number): Date | undefined {
  const v = flags[name] as string | undefined;
  if (v === undefined) return undefined;
  if (DURATION.test(v)) return new Date(now + durationMs(v));
  const d = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v) ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} ${JSON.stringify(v.slice(0, 40))}: give a date (2027-12-31, 2027-12-31T00:00:00Z) or a duration from now (P90D, P1Y)`);
  return d;
}

function durationMs(d: string): number {
  const m = DURATION.exec(d)!;
  const n = (i: number) => (m[i] ? parseInt(m[i], 10) : 0);
  return ((n(1) * 365 + n(2) * 30 + n(3) * 7 + n(4)) * 24 * 3600 + n(6) * 3600 + n(7) * 60 + n(8)) * 1000;
}

/**
 * --rotation-policy FILE|JSON. Two shapes: the SDK's `{expiresIn, lifetimeActions: [{action, timeAfterCreate |
 * timeBeforeExpiry}]}` and the REST/CLI one (`az keyvault key rotation-policy update --value`):
 * `{lifetimeActions: [{trigger: {timeAfterCreate | timeBeforeExpiry}, action: {type}}], attributes: {expiryTime}}`.
 */
export function rotationPolicy(arg: string): NonNullable<KeySpec['rotationPolicy']> {
  let text = arg;
  if (!arg.trim().startsWith('{')) {
    try {
      text = fs.readFileSync(arg, 'utf8');
    } catch (err) {
      throw new UsageError(`--rotation-policy ${arg}: not inline JSON and not a readable file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let p: any;
  try {
    p = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--rotation-policy: not JSON (${(err as Error).message})`);
  }
  const bad = (why: string) => new UsageError(`--rotation-policy: ${why}`);
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad('expected an object with lifetimeActions');
  const expiresIn = p.expiresIn ?? p.attributes?.expiryTime;
  if (expiresIn !== undefined && (typeof expiresIn !== 'string' || !DURATION.test(expiresIn))) throw bad(`expiresIn must be an ISO 8601 duration such as P2Y; got ${JSON.stringify(expiresIn).slice(0, 40)}`);
  if (!Array.isArray(p.lifetimeActions) || p.lifetimeActions.length === 0 || p.lifetimeActions.length > 2) throw bad('lifetimeActions must list 1 or 2 actions');
  const lifetimeActions = p.lifetimeActions.map((a: any, i: number) => {
    const action = typeof a?.action === 'string' ? a.action : a?.action?.type;
    const trig = a?.trigger ?? a;
    const canon = ['Rotate', 'Notify'].find((x) => x.toLowerCase() === String(action).toLowerCase()) as 'Rotate' | 'Notify' | undefined;
    if (!canon) throw bad(`lifetimeActions[${i}].action must be Rotate or Notify`);
    const { timeAfterCreate, timeBeforeExpiry } = trig ?? {};
    if ((timeAfterCreate === undefined) === (timeBeforeExpiry === undefined)) throw bad(`lifetimeActions[${i}] needs exactly one of timeAfterCreate and timeBeforeExpiry`);
    for (const [k, v] of Object.entries({ timeAfterCreate, timeBeforeExpiry })) {
      if (v !== undefined && (typeof v !== 'string' || !DURATION.test(v))) throw bad(`lifetimeActions[${i}].${k} must be an ISO 8601 duration such as P90D`);
    }
    if (timeBeforeExpiry !== undefined && expiresIn === undefined) throw bad(`lifetimeActions[${i}] uses timeBeforeExpiry: the policy needs expiresIn`);
    return { action: canon, ...(timeAfterCreate ? { timeAfterCreate } : { timeBeforeExpiry }) };
  });
  if (expiresIn) {
    for (const a of lifetimeActions) {
      if (a.timeAfterCreate && durationMs(a.timeAfterCreate) >= durationMs(expiresIn)) throw bad(`timeAfterCreate ${a.timeAfterCreate} is not before expiresIn ${expiresIn}: the key would expire before it rotates`);
    }
  }
  return { ...(expiresIn ? { expiresIn } : {}), lifetimeActions };
}

export const keysCreateCommand: Command = {
  details: [
    'hsmctl keys create NAME --kty RSA-HSM|EC-HSM|oct-HSM [--size BITS | --curve CURVE] [--ops OP...] [--expires DATE|DURATION]',
    '  RSA-HSM 2048 (default), 3072, 4096; oct-HSM 128, 192, 256 (default); EC-HSM P-256 (default), P-384, P-521, P-256K.',
    '  --rotation-policy takes a file or inline JSON: {"expiresIn":"P2Y","lifetimeActions":[{"action":"Rotate","timeAfterCreate":"P1Y"}]}',
    '  (the REST/az shape with trigger/action.type/attributes.expiryTime is accepted too). An existing key is refused:',
    '  use `hsmctl keys rotate` for a new version.',
    '',
    'example: hsmctl keys create app-signing --from-outputs outputs.json --kty EC-HSM --curve P-256 --ops sign verify --expires P1Y',
  ].join('\n'),
  args: [{ name: 'NAME', description: 'the key name: 1-127 letters, digits and hyphens' }],
  flags: {
    ...TARGET_FLAGS,
    kty: { type: 'string', value: 'TYPE', description: 'RSA-HSM, EC-HSM or oct-HSM (required)' },
    size: { type: 'string', value: 'BITS', description: 'RSA-HSM: 2048/3072/4096 (default 2048); oct-HSM: 128/192/256 (default 256)' },
    curve: { type: 'string', value: 'CURVE', description: 'EC-HSM: P-256 (default), P-384, P-521, P-256K' },
    ops: { type: 'list', value: 'OP...', description: `key operations (${OPS.join(', ')}); default: all the type allows` },
    expires: { type: 'string', value: 'DATE|DURATION', description: 'expiry: 2027-12-31T00:00:00Z, or a duration from now such as P1Y' },
    'not-before': { type: 'string', value: 'DATE|DURATION', description: 'not usable before this date' },
    tag: { type: 'list', value: 'KEY=VALUE...', description: 'tags (at most 15)' },
    'rotation-policy': { type: 'string', value: 'FILE|JSON', description: 'rotation policy to set on the key' },
    json: { type: 'boolean', description: 'print the created key as JSON' },
  },
  needs: { role: 'Managed HSM Crypto User', scope: '/keys' },
  async run(flags, positionals) {
    const name = keyName(positionals, 'keys create');
    const spec = keySpecFromFlags(flags);
    const { resolveTarget, keyClientFor } = require('../clients/target') as typeof import('../clients/target');
    const { describeKey, keyFailure } = require('./keys-show') as typeof import('./keys-show');
    const target = resolveTarget(flags);
    const keys = keyClientFor(target);
    try {
      const existing = await keys.getKey(name).catch((err) => {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        throw err;
      });
      if (existing) throw new CeremonyError(`a key named ${name} already exists in ${target.hsmUri} (use \`hsmctl keys rotate ${name}\` for a new version); nothing was changed`);
      const key = await keys.createKey(name, spec.kty, {
        keySize: spec.keySize,
        curve: spec.curve as never,
        keyOps: spec.keyOps as never,
        expiresOn: spec.expiresOn,
        notBefore: spec.notBefore,
        tags: spec.tags,
      });
      let policy;
      if (spec.rotationPolicy) {
        try {
          policy = await keys.updateKeyRotationPolicy(name, spec.rotationPolicy);
        } catch (err) {
          throw new CeremonyError(`key ${name} was created (version ${key.properties.version}) but its rotation policy was refused: ${(err as Error).message}; set it again with the same --rotation-policy after fixing it`);
        }
      }
      const d = describeKey(key, policy);
      if (flags.json) console.log(JSON.stringify(d, null, 2));
      else console.log(`created ${name}: ${d.kty}${d.size ? ` ${d.size}` : ''}${d.curve ? ` ${d.curve}` : ''}, ops ${d.keyOps.join(',')}, version ${d.version}${d.expires ? `, expires ${d.expires}` : ''}${policy ? ', rotation policy set' : ''}`);
      return 0;
    } catch (err) {
      throw err instanceof CeremonyError ? err : keyFailure(err, name);
    }
  },
};
