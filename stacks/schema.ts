/**
 * A small schema language for validating JSON config: every problem is reported with its path, the value
 * received and what is allowed, and unknown fields are refused (a typo must not silently drop a setting).
 */
export type Schema =
  | { kind: 'string'; pattern?: RegExp; allowed?: string; enum?: readonly string[] }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'array'; items: Schema; minItems?: number; maxItems?: number }
  | { kind: 'record'; values: Schema }
  | { kind: 'object'; fields: Record<string, Field> }
  | { kind: 'oneOf'; discriminator: string; variants: Record<string, Schema & { kind: 'object' }> };

export interface Field {
  readonly schema: Schema;
  readonly optional?: boolean;
}

export const str = (pattern?: RegExp, allowed?: string): Schema => ({ kind: 'string', pattern, allowed });
export const oneOfStrings = (values: readonly string[]): Schema => ({ kind: 'string', enum: values });
export const int = (min: number, max: number): Schema => ({ kind: 'number', min, max });
export const bool: Schema = { kind: 'boolean' };
export const arrayOf = (items: Schema, minItems = 0, maxItems = Number.MAX_SAFE_INTEGER): Schema => ({ kind: 'array', items, minItems, maxItems });
export const recordOf = (values: Schema): Schema => ({ kind: 'record', values });
export const obj = (fields: Record<string, Schema | Field>): Schema & { kind: 'object' } => ({
  kind: 'object',
  fields: Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, 'schema' in f ? f : { schema: f }])),
});
export const optional = (schema: Schema): Field => ({ schema, optional: true });

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'nothing' : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describe(schema: Schema): string {
  switch (schema.kind) {
    case 'string':
      return schema.enum ? `one of ${schema.enum.map((e) => `"${e}"`).join(', ')}` : schema.allowed ?? 'a string';
    case 'number':
      return `a whole number from ${schema.min} to ${schema.max}`;
    case 'boolean':
      return 'true or false';
    case 'array':
      return `a list of ${schema.minItems ?? 0}${schema.maxItems === Number.MAX_SAFE_INTEGER ? ' or more' : `-${schema.maxItems}`} items`;
    case 'record':
      return 'an object of names to values';
    case 'object':
      return `an object with ${Object.keys(schema.fields).join(', ')}`;
    case 'oneOf':
      return `an object whose "${schema.discriminator}" is one of ${Object.keys(schema.variants).map((v) => `"${v}"`).join(', ')}`;
  }
}

/** Edit distance (insertions, deletions, substitutions), case-insensitive: how far a typo is from a name. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length];
}

/** The known field a misspelt one most likely meant: close enough to be a typo (2 edits, or a third of its length if more), else none. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

/** Returns every problem found, as "path: received X; allowed: Y". */
export function validate(value: unknown, schema: Schema, path: string): string[] {
  const problem = (allowed = describe(schema)) => [`${path}: received ${show(value)}; allowed: ${allowed}`];
  switch (schema.kind) {
    case 'string':
      if (typeof value !== 'string') return problem();
      if (schema.enum && !schema.enum.includes(value)) return problem();
      if (schema.pattern && !schema.pattern.test(value)) return problem();
      return [];
    case 'number':
      return typeof value === 'number' && Number.isInteger(value) && value >= schema.min && value <= schema.max ? [] : problem();
    case 'boolean':
      return typeof value === 'boolean' ? [] : problem();
    case 'array': {
      if (!Array.isArray(value)) return problem();
      if (value.length < (schema.minItems ?? 0) || value.length > (schema.maxItems ?? Infinity)) return problem();
      return value.flatMap((item, i) => validate(item, schema.items, `${path}[${i}]`));
    }
    case 'record': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return problem();
      return Object.entries(value).flatMap(([k, v]) => validate(v, schema.values, `${path}.${k}`));
    }
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return problem();
      const record = value as Record<string, unknown>;
      const unknown = Object.keys(record)
        .filter((k) => !Object.hasOwn(schema.fields, k))
        .map((k) => {
          const near = nearestName(k, Object.keys(schema.fields));
          return `${path}.${k}: unknown field; allowed fields: ${Object.keys(schema.fields).join(', ')}${near ? `; did you mean "${near}"?` : ''}`;
        });
      const fields = Object.entries(schema.fields).flatMap(([k, f]) =>
        record[k] === undefined ? (f.optional ? [] : [`${path}.${k}: missing; allowed: ${describe(f.schema)}`]) : validate(record[k], f.schema, `${path}.${k}`),
      );
      return [...unknown, ...fields];
    }
    case 'oneOf': {
      const tag = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[schema.discriminator] : undefined;
      const variant = typeof tag === 'string' && Object.hasOwn(schema.variants, tag) ? schema.variants[tag] : undefined;
      return variant ? validate(value, variant, path) : problem();
    }
  }
}
