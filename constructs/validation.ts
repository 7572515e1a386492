import { Token } from 'cdktf';
import { Construct } from 'constructs';

/**
 * A construct was given a value it cannot accept. The message names the construct path, the prop, the
 * value received (or "<redacted>" for secrets) and what is allowed.
 */
export class ValidationError extends Error {
  constructor(
    readonly constructPath: string,
    readonly prop: string,
    readonly received: string,
    readonly allowed: string,
  ) {
    super(`${constructPath}: invalid ${prop}: received ${received}; allowed: ${allowed}`);
    this.name = 'ValidationError';
  }
}

export function fail(scope: Construct, prop: string, received: unknown, allowed: string): never {
  throw new ValidationError(scope.node.path, prop, JSON.stringify(received) ?? 'undefined', allowed);
}

/** For values that must never be echoed back (passwords, keys). */
export function failSecret(scope: Construct, prop: string, allowed: string): never {
  throw new ValidationError(scope.node.path, prop, '<redacted>', allowed);
}

/** Tokens resolve at deploy time; validation only looks at values known now. */
export function isKnown(value: unknown): boolean {
  return value !== undefined && !Token.isUnresolved(value);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

export function checkGuid(scope: Construct, prop: string, value: string): void {
  if (isKnown(value) && !isGuid(value)) fail(scope, prop, value, 'a GUID such as 00000000-0000-0000-0000-000000000000');
}

export function checkOneOf<T extends string>(scope: Construct, prop: string, value: T, allowed: readonly T[]): void {
  if (isKnown(value) && !allowed.includes(value)) fail(scope, prop, value, allowed.map((a) => `"${a}"`).join(', '));
}

export function checkIntRange(scope: Construct, prop: string, value: number, min: number, max: number): void {
  if (isKnown(value) && (!Number.isInteger(value) || value < min || value > max)) {
    fail(scope, prop, value, `a whole number from ${min} to ${max}`);
  }
}

/** Azure resource names: the service's own rule is passed as a regex and described in words. */
export function checkName(scope: Construct, prop: string, value: string, rule: RegExp, described: string): void {
  if (isKnown(value) && !rule.test(value)) fail(scope, prop, value, described);
}
