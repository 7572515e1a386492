import { blocks, Json, PolicyDocument, PolicyProvider, PolicyResource } from './policy-document';

/** One entry of a plan's resource_changes: what Terraform will do to one resource instance. */
export interface ResourceChange {
  readonly address: string;
  readonly type: string;
  readonly mode: string;
  readonly actions: readonly string[];
  readonly before?: Json | null;
  readonly after?: Json | null;
  readonly replacePaths: ReadonlyArray<ReadonlyArray<string | number>>;
  readonly actionReason?: string;
}

export interface TerraformPlan {
  readonly document: PolicyDocument;
  readonly changes: readonly ResourceChange[];
}

/** The input is not a plan this reader understands; the message says what was expected. */
export class PlanFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanFormatError';
  }
}

const RESOURCE_ATTRIBUTE_REF = /^(data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+(\[[^\]]+\])?\.[a-z0-9_]+/;

/**
 * Reads the output of `terraform show -json PLANFILE` (format_version 1.x, as Terraform documents it in
 * "JSON Output Format"): the planned values become the policy document, and every attribute the
 * configuration sets from a reference is written back as the "${address.attr}" string a cdk.tf.json would
 * hold, so relationship rules (a lock on the HSM, an endpoint to it) read plans and configurations alike.
 */
export function readPlan(plan: unknown): TerraformPlan {
  if (plan === null || typeof plan !== 'object' || Array.isArray(plan)) throw new PlanFormatError('not a JSON object; expected the output of terraform show -json PLANFILE');
  const p = plan as Json;
  if (typeof p.format_version !== 'string' || !/^1\.\d+$/.test(p.format_version)) {
    throw new PlanFormatError(`format_version ${JSON.stringify(p.format_version)}; allowed: "1.x" (terraform show -json of a plan, Terraform 1.x)`);
  }
  if (p.resource_changes !== undefined && !Array.isArray(p.resource_changes)) throw new PlanFormatError('resource_changes is not a list');
  if (p.planned_values === undefined && p.resource_changes === undefined) {
    throw new PlanFormatError('no planned_values and no resource_changes: this looks like a state, not a plan (run terraform show -json on the plan file)');
  }
  const configs = configurationResources(p.configuration?.root_module, '');
  const resources: PolicyResource[] = [];
  walkValues(p.planned_values?.root_module, (r) => {
    const values = structuredClone((r.values ?? {}) as Json);
    const config = configs.get(String(r.address).replace(/\[[^\]]*\]$/, ''));
    if (config) overlayReferences(values, config.expressions ?? {}, config.prefix);
    resources.push({ mode: r.mode === 'data' ? 'data' : 'managed', type: r.type, name: r.name, address: r.address, attrs: values });
  });
  const providers: PolicyProvider[] = Object.values((p.configuration?.provider_config ?? {}) as Record<string, Json>).map((c) => ({
    name: c.name,
    alias: c.alias,
    address: `provider.${c.name}${c.alias ? `.${c.alias}` : ''}`,
    attrs: valuesOf(c.expressions ?? {}),
  }));
  const changes: ResourceChange[] = ((p.resource_changes ?? []) as Json[]).map((c, i) => {
    if (typeof c?.address !== 'string' || !Array.isArray(c?.change?.actions)) {
      throw new PlanFormatError(`resource_changes[${i}] has no address or change.actions`);
    }
    return {
      address: c.address,
      type: c.type,
      mode: c.mode,
      actions: c.change.actions,
      before: c.change.before,
      after: c.change.after,
      replacePaths: Array.isArray(c.change.replace_paths) ? c.change.replace_paths : [],
      actionReason: c.action_reason,
    };
  });
  return { document: { kind: 'plan', resources, providers, modules: [], acknowledgements: [] }, changes };
}

function walkValues(module: Json | undefined, visit: (r: Json) => void): void {
  if (!module) return;
  for (const r of module.resources ?? []) visit(r);
  for (const child of module.child_modules ?? []) walkValues(child, visit);
}

function configurationResources(module: Json | undefined, prefix: string, into = new Map<string, Json & { prefix: string }>()) {
  if (!module) return into;
  for (const r of module.resources ?? []) into.set(`${prefix}${r.address}`, { ...r, prefix });
  for (const [name, call] of Object.entries((module.module_calls ?? {}) as Record<string, Json>)) {
    configurationResources(call.module, `${prefix}module.${name}.`, into);
  }
  return into;
}

function isExpression(e: unknown): e is { constant_value?: unknown; references?: string[] } {
  return e !== null && typeof e === 'object' && !Array.isArray(e) && ('constant_value' in e || 'references' in e);
}

function attributeRefs(expr: { references?: string[] }, prefix: string): string[] {
  const refs = (expr.references ?? []).filter((r) => RESOURCE_ATTRIBUTE_REF.test(r) && !/^(var|local|each|count|path|terraform|module)\./.test(r));
  return [...new Set(refs.map((r) => `\${${prefix}${r}}`))];
}

/** Writes each referenced attribute as a "${ref}" string, into the values (nested blocks included). */
function overlayReferences(values: Json, expressions: Json, prefix: string): void {
  for (const [key, expr] of Object.entries(expressions)) {
    if (isExpression(expr)) {
      const refs = attributeRefs(expr, prefix);
      if (refs.length === 0) continue;
      values[key] = Array.isArray(values[key]) ? refs : refs[0];
    } else if (Array.isArray(expr)) {
      const targets = blocks(values[key]);
      if (targets.length === 0 && expr.length > 0) values[key] = targets;
      expr.forEach((block, i) => {
        if (!targets[i]) targets[i] = {};
        overlayReferences(targets[i], block as Json, prefix);
      });
      if (!Array.isArray(values[key])) values[key] = targets;
    } else if (expr && typeof expr === 'object') {
      const target = blocks(values[key])[0] ?? (values[key] = {});
      overlayReferences(target, expr as Json, prefix);
    }
  }
}

/** A provider block's values from its expressions: constants as they are, references as "${ref}". */
function valuesOf(expressions: Json): Json {
  const out: Json = {};
  for (const [key, expr] of Object.entries(expressions)) {
    if (isExpression(expr)) out[key] = 'constant_value' in expr ? expr.constant_value : attributeRefs(expr, '')[0];
    else if (Array.isArray(expr)) out[key] = expr.map((b) => valuesOf(b as Json));
    else if (expr && typeof expr === 'object') out[key] = [valuesOf(expr as Json)];
  }
  return out;
}
