import { errors } from './errors';
import { RequestContext } from './server';

export type Json = Record<string, unknown>;

/**
 * Request validation at the boundary: every helper either returns a well-typed value or throws BadParameter
 * naming the property, what it received (shortened, never a secret value) and what is allowed.
 */
export function jsonBody(ctx: RequestContext): Json {
  if (ctx.rawBody.length === 0) throw errors.badParameter('The request body is empty; a JSON object is required.');
  let v: unknown;
  try {
    v = JSON.parse(ctx.rawBody.toString('utf8'));
  } catch {
    throw errors.badParameter('The request body is not valid JSON.');
  }
  if (!isObject(v)) throw errors.badParameter(`The request body must be a JSON object, got ${kind(v)}.`);
  return v;
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

export function optString(o: Json, prop: string): string | undefined {
  const v = o[prop];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw errors.badParameter(`Property '${prop}' must be a string, got ${kind(v)}.`);
  return v;
}

export function reqString(o: Json, prop: string): string {
  const v = optString(o, prop);
  if (v === undefined || v === '') throw errors.badParameter(`Property '${prop}' is required.`);
  return v;
}

export function optBool(o: Json, prop: string): boolean | undefined {
  const v = o[prop];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw errors.badParameter(`Property '${prop}' must be a boolean, got ${kind(v)}.`);
  return v;
}

export function optInt(o: Json, prop: string, min: number, max: number): number | undefined {
  const v = o[prop];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw errors.badParameter(`Property '${prop}' must be an integer from ${min} to ${max}, got ${typeof v === 'number' ? v : kind(v)}.`);
  }
  return v;
}

export function optObject(o: Json, prop: string): Json | undefined {
  const v = o[prop];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw errors.badParameter(`Property '${prop}' must be an object, got ${kind(v)}.`);
  return v;
}

export function optStringArray(o: Json, prop: string): string[] | undefined {
  const v = o[prop];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw errors.badParameter(`Property '${prop}' must be an array of strings.`);
  return v as string[];
}

/** Strict base64url (the padding '=' tolerated): '+', '/' and stray characters are refused. */
export function b64url(o: Json, prop: string, required: true): Buffer;
export function b64url(o: Json, prop: string, required?: false): Buffer | undefined;
export function b64url(o: Json, prop: string, required = false): Buffer | undefined {
  const v = required ? reqString(o, prop) : optString(o, prop);
  if (v === undefined) return undefined;
  return decodeB64url(v, prop);
}

export function decodeB64url(v: string, prop: string): Buffer {
  const s = v.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw errors.badParameter(`Property '${prop}' is not valid base64url.`);
  return Buffer.from(s, 'base64url');
}

/** Unix seconds, as Key Vault attributes carry times. */
export function optTime(o: Json, prop: string): number | undefined {
  return optInt(o, prop, 0, 253402300799);
}
