import { errors } from '../http/errors';
import { isObject, kind } from '../http/validate';

/**
 * Secure key release policies in the grammar Microsoft documents for Managed HSM ("policy grammar"):
 *   {version: "1.0.0", anyOf: [{authority: URL, allOf|anyOf: [condition, ...]}, ...]}
 *   condition = {claim: NAME, equals|notEquals|less|lessOrEquals|greater|greaterOrEquals|exists: VALUE}
 *             | {anyOf: [condition, ...]} | {allOf: [condition, ...]}
 * A release is allowed when the token's issuer is one of the authorities and that authority's conditions hold
 * over the token's claims (a dotted claim name reaches into nested claims, e.g. x-ms-isolation-tee.x-ms-attestation-type).
 */
export type Operator = 'equals' | 'notEquals' | 'less' | 'lessOrEquals' | 'greater' | 'greaterOrEquals' | 'exists';
type Value = string | number | boolean;
export type Condition = { claim: string; op: Operator; value: Value } | { anyOf: Condition[] } | { allOf: Condition[] };
export interface ReleasePolicy {
  version: string;
  authorities: Array<{ authority: string; condition: Condition }>;
}

const OPERATORS: Operator[] = ['equals', 'notEquals', 'less', 'lessOrEquals', 'greater', 'greaterOrEquals', 'exists'];
export const RELEASE_POLICY_CONTENT_TYPE = 'application/json; charset=utf-8';
const MAX_DEPTH = 8;

/** Parses and checks a policy document; every refusal names the JSON path and what is allowed. */
export function parseReleasePolicy(doc: unknown): ReleasePolicy {
  const bad = (where: string, why: string) => errors.badParameter(`The key release policy is not valid: ${where} ${why}.`);
  if (!isObject(doc)) throw bad('the policy', `must be a JSON object, got ${kind(doc)}`);
  const version = field(doc, 'version');
  if (version !== '1.0.0') throw bad('version', `must be "1.0.0"; got ${JSON.stringify(version)?.slice(0, 20)}`);
  const list = field(doc, 'anyOf');
  if (!Array.isArray(list) || list.length === 0) throw bad('anyOf', 'must be a non-empty array of authorities');
  const unknown = Object.keys(doc).filter((k) => !['version', 'anyof'].includes(k.toLowerCase()));
  if (unknown.length) throw bad(unknown[0].slice(0, 40), 'is not part of the grammar (version, anyOf)');
  const authorities = list.map((a, i) => {
    const where = `anyOf[${i}]`;
    if (!isObject(a)) throw bad(where, 'must be an object {authority, allOf|anyOf}');
    const authority = field(a, 'authority');
    if (typeof authority !== 'string' || !/^https:\/\/[^\s]+$/i.test(authority)) throw bad(`${where}.authority`, 'must be the https URL of an attestation provider');
    const rest = Object.keys(a).filter((k) => k.toLowerCase() !== 'authority');
    if (rest.length !== 1 || !['anyof', 'allof'].includes(rest[0].toLowerCase())) throw bad(where, 'must hold exactly one of allOf and anyOf beside authority');
    return { authority, condition: parseCondition(a, where, bad, 1) };
  });
  return { version, authorities };
}

function parseCondition(c: Record<string, unknown>, where: string, bad: (w: string, why: string) => Error, depth: number): Condition {
  if (depth > MAX_DEPTH) throw bad(where, `nests deeper than ${MAX_DEPTH} levels`);
  const keys = Object.keys(c).filter((k) => k.toLowerCase() !== 'authority');
  const group = keys.find((k) => ['anyof', 'allof'].includes(k.toLowerCase()));
  if (group) {
    if (keys.length !== 1) throw bad(where, 'must hold only its allOf or anyOf array');
    const items = c[group];
    if (!Array.isArray(items) || items.length === 0) throw bad(`${where}.${group}`, 'must be a non-empty array of conditions');
    const parsed = items.map((x, i) => {
      if (!isObject(x)) throw bad(`${where}.${group}[${i}]`, 'must be a condition object');
      return parseCondition(x, `${where}.${group}[${i}]`, bad, depth + 1);
    });
    return group.toLowerCase() === 'anyof' ? { anyOf: parsed } : { allOf: parsed };
  }
  const claim = c.claim;
  if (typeof claim !== 'string' || claim === '') throw bad(`${where}.claim`, 'must name a claim');
  const ops = keys.filter((k) => k !== 'claim');
  const op = OPERATORS.find((o) => o.toLowerCase() === ops[0]?.toLowerCase());
  if (ops.length !== 1 || !op) throw bad(where, `must hold one operator beside claim: ${OPERATORS.join(', ')}`);
  const value = c[ops[0]];
  if (!['string', 'number', 'boolean'].includes(typeof value)) throw bad(`${where}.${ops[0]}`, 'must be a string, number or boolean');
  if (op === 'exists' && typeof value !== 'boolean') throw bad(`${where}.exists`, 'must be true or false');
  if (['less', 'lessOrEquals', 'greater', 'greaterOrEquals'].includes(op) && typeof value !== 'number') throw bad(`${where}.${ops[0]}`, 'must be a number');
  return { claim, op, value: value as Value };
}

/** Case-insensitive property of the grammar's keywords ("anyOf" and "anyof" are both seen). */
function field(o: Record<string, unknown>, name: string): unknown {
  const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : o[k];
}

/** Authorities compare as URLs: scheme and host case-insensitively, a trailing slash ignored. */
export function sameAuthority(a: string, b: string): boolean {
  const norm = (s: string) => {
    try {
      const u = new URL(s);
      return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`.toLowerCase();
    } catch {
      return s.replace(/\/+$/, '').toLowerCase();
    }
  };
  return norm(a) === norm(b);
}

/** Whether the claims satisfy the policy for tokens of this issuer; with why not when they do not. */
export function evaluate(policy: ReleasePolicy, issuer: string, claims: Record<string, unknown>): { allowed: boolean; reason?: string } {
  const mine = policy.authorities.filter((a) => sameAuthority(a.authority, issuer));
  if (mine.length === 0) return { allowed: false, reason: `the token's issuer ${issuer.slice(0, 200)} is not an authority of the key's release policy` };
  const failed: string[] = [];
  for (const a of mine) {
    if (holds(a.condition, claims, failed)) return { allowed: true };
  }
  return { allowed: false, reason: `the token's claims do not satisfy the release policy (${[...new Set(failed)].slice(0, 3).join('; ')})` };
}

function holds(c: Condition, claims: Record<string, unknown>, failed: string[]): boolean {
  if ('anyOf' in c) return c.anyOf.some((x) => holds(x, claims, failed));
  if ('allOf' in c) return c.allOf.every((x) => holds(x, claims, failed));
  const v = claimValue(claims, c.claim);
  const ok = compare(v, c.op, c.value);
  if (!ok) failed.push(`${c.claim.slice(0, 60)} ${c.op} ${JSON.stringify(c.value).slice(0, 60)}`);
  return ok;
}

function compare(v: unknown, op: Operator, want: Value): boolean {
  if (op === 'exists') return (v !== undefined) === want;
  if (op === 'equals') return v === want;
  if (op === 'notEquals') return v !== undefined && v !== want;
  if (typeof v !== 'number' || typeof want !== 'number') return false;
  if (op === 'less') return v < want;
  if (op === 'lessOrEquals') return v <= want;
  if (op === 'greater') return v > want;
  return v >= want;
}

/** A claim by name, or by a dotted path into nested objects when no claim has the whole name. */
function claimValue(claims: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, name)) return claims[name];
  let cur: unknown = claims;
  for (const part of name.split('.')) {
    if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** A key version's release policy as stored and returned: the document as the caller encoded it. */
export interface ReleasePolicyRecord {
  contentType: string;
  /** base64url of the policy document. */
  data: string;
  immutable: boolean;
}

/**
 * The release_policy of a create, import or update body, checked: {contentType?, data: base64url of the policy,
 * immutable?}. Undefined when the body has none.
 */
export function releasePolicyOf(body: Record<string, unknown>): ReleasePolicyRecord | undefined {
  const rp = body.release_policy;
  if (rp === undefined || rp === null) return undefined;
  if (!isObject(rp)) throw errors.badParameter(`Property 'release_policy' must be an object {contentType, data, immutable}, got ${kind(rp)}.`);
  const contentType = rp.contentType ?? RELEASE_POLICY_CONTENT_TYPE;
  if (typeof contentType !== 'string' || !/^application\/json(\s*;.*)?$/i.test(contentType)) throw errors.badParameter(`release_policy.contentType must be application/json (with an optional charset or version); got ${JSON.stringify(contentType)?.slice(0, 60)}.`);
  if (typeof rp.data !== 'string' || !/^[A-Za-z0-9_-]+={0,2}$/.test(rp.data)) throw errors.badParameter('release_policy.data must be the base64url encoding of the policy document.');
  if (rp.immutable !== undefined && typeof rp.immutable !== 'boolean') throw errors.badParameter('release_policy.immutable must be a boolean.');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(rp.data, 'base64url').toString('utf8'));
  } catch {
    throw errors.badParameter('release_policy.data does not decode to a JSON policy document.');
  }
  parseReleasePolicy(doc);
  return { contentType, data: rp.data.replace(/=+$/, ''), immutable: rp.immutable === true };
}

/** Exportable keys need a release policy, and only they may have one. */
export function checkExportable(exportable: boolean | undefined, policy: ReleasePolicyRecord | undefined): void {
  if (exportable && !policy) throw errors.badParameter('An exportable key needs a release_policy (secure key release): give one, or create the key without attributes.exportable.');
  if (!exportable && policy) throw errors.badParameter('A release_policy is only for exportable keys: set attributes.exportable to true.');
}
