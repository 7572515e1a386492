/**
 * What the policy reads: the resources and provider blocks of one Terraform configuration, by address, with
 * their attributes as Terraform JSON writes them (snake_case, references as "${type.name.attr}" strings).
 * It is built from a synthesized cdk.tf.json (or any *.tf.json) or from a `terraform show -json` plan, so
 * one set of rules checks all three.
 */
export type Json = Record<string, any>;

export interface PolicyResource {
  /** 'managed' for resource blocks, 'data' for data sources. */
  readonly mode: 'managed' | 'data';
  readonly type: string;
  readonly name: string;
  /** e.g. azurerm_subnet.Network_ComputeSubnet_1A2B3C, data.azurerm_resource_group.x, module.m.azurerm_subnet.s */
  readonly address: string;
  readonly attrs: Json;
  /** The cdktf construct path that made it, when the JSON records one. */
  readonly constructPath?: string;
  /** The file it was read from, for reports. */
  readonly file?: string;
}

export interface PolicyProvider {
  readonly name: string;
  readonly alias?: string;
  /** provider.azurerm or provider.azurerm.ALIAS */
  readonly address: string;
  readonly attrs: Json;
  readonly file?: string;
}

/**
 * A module block of a configuration (module "x" { source = ... }). The resources it makes are not in the
 * configuration's JSON, so the rules cannot see them; a plan lists them (planned values of child modules).
 */
export interface PolicyModule {
  /** module.NAME */
  readonly address: string;
  readonly source?: string;
  readonly constructPath?: string;
  readonly file?: string;
}

/**
 * A waiver recorded with the configuration: the rule does not apply to these addresses ('*': every address
 * of the configuration). cdk.tf.json carries them under "//".policy.acknowledgements, written at synth
 * from acknowledgePolicy; hand-written Terraform JSON may carry them the same way.
 */
export interface RecordedAcknowledgement {
  readonly ruleId: string;
  readonly reason: string;
  readonly addresses: readonly string[];
  /** The construct the acknowledgement was made on (cdktf only). */
  readonly construct?: string;
}

export interface PolicyDocument {
  /** 'configuration' (Terraform JSON) or 'plan' (planned values: lifecycle blocks are not part of a plan). */
  readonly kind: 'configuration' | 'plan';
  readonly resources: readonly PolicyResource[];
  readonly providers: readonly PolicyProvider[];
  /** Module blocks (configurations only: a plan's document holds the modules' resources instead). */
  readonly modules: readonly PolicyModule[];
  readonly acknowledgements: readonly RecordedAcknowledgement[];
}

/** Nested blocks come as an object or a list of objects; this always gives a list. */
export function blocks(value: unknown): Json[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).filter((v) => v !== null && typeof v === 'object') as Json[];
}

/** Whether an attribute value is (or contains) a reference to an attribute of `target`. */
export function refersTo(value: unknown, target: { address: string }): boolean {
  return typeof value === 'string' && value.includes(`\${${target.address}.`);
}

/**
 * Whether an attribute value is a reference to the resource id of `target`: what a lock's scope, a diagnostic
 * setting's target_resource_id or an endpoint's private_connection_resource_id must hold (its name, say, is not).
 */
export function refersToId(value: unknown, target: { address: string }): boolean {
  return typeof value === 'string' && value.includes(`\${${target.address}.id}`);
}

export function ofType(doc: PolicyDocument, ...types: string[]): PolicyResource[] {
  return doc.resources.filter((r) => r.mode === 'managed' && types.includes(r.type));
}

/** Terraform JSON allows a block's labels as an object or as a list of objects; this walks both. */
function entries(value: unknown): Array<[string, unknown]> {
  return blocks(value).flatMap((o) => Object.entries(o));
}

/** A configuration read from Terraform JSON (cdk.tf.json, main.tf.json, ...); several files form one module. */
export function documentFromTerraformJson(files: ReadonlyArray<{ json: Json; file?: string }>): PolicyDocument {
  const resources: PolicyResource[] = [];
  const providers: PolicyProvider[] = [];
  const modules: PolicyModule[] = [];
  const acknowledgements: RecordedAcknowledgement[] = [];
  for (const { json, file } of files) {
    for (const [name, body] of entries(json.module)) {
      const attrs = (blocks(body)[0] ?? {}) as Json;
      const constructPath = typeof attrs['//']?.metadata?.path === 'string' ? attrs['//'].metadata.path : undefined;
      modules.push({ address: `module.${name}`, source: typeof attrs.source === 'string' ? attrs.source : undefined, constructPath, file });
    }
    for (const [mode, key] of [['managed', 'resource'], ['data', 'data']] as const) {
      for (const [type, byName] of entries(json[key])) {
        for (const [name, body] of entries(byName)) {
          const attrs = (blocks(body)[0] ?? {}) as Json;
          const address = `${mode === 'data' ? 'data.' : ''}${type}.${name}`;
          const constructPath = typeof attrs['//']?.metadata?.path === 'string' ? attrs['//'].metadata.path : undefined;
          resources.push({ mode, type, name, address, attrs, constructPath, file });
        }
      }
    }
    for (const [name, configs] of entries(json.provider)) {
      for (const attrs of blocks(configs)) {
        const alias = typeof attrs.alias === 'string' ? attrs.alias : undefined;
        providers.push({ name, alias, address: `provider.${name}${alias ? `.${alias}` : ''}`, attrs, file });
      }
    }
    acknowledgements.push(...recordedAcknowledgements(json));
  }
  return { kind: 'configuration', resources, providers, modules, acknowledgements };
}

/** The acknowledgements a Terraform JSON file records; malformed entries are dropped (and never waive). */
export function recordedAcknowledgements(json: Json): RecordedAcknowledgement[] {
  const list = json['//']?.policy?.acknowledgements;
  if (!Array.isArray(list)) return [];
  return list
    .filter(
      (a): a is RecordedAcknowledgement =>
        a !== null && typeof a === 'object' && typeof a.ruleId === 'string' && typeof a.reason === 'string' && a.reason.trim().length >= 10 &&
        Array.isArray(a.addresses) && a.addresses.every((x: unknown) => typeof x === 'string'),
    )
    .map(({ ruleId, reason, addresses, construct }) => ({ ruleId, reason, addresses, ...(typeof construct === 'string' ? { construct } : {}) }));
}
