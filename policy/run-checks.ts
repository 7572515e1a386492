import { dirname, relative } from 'path';
import { CheckReport, lineOf, ReportFinding, RuleDescription } from './check-report';
import { DESTRUCTIVE_CHANGE_RULE, destructiveChanges } from './destructive-changes';
import { evaluateDocument, JSON_WAIVER } from './engine';
import { readPlan, PlanFormatError } from './plan-document';
import { documentFromTerraformJson, PolicyDocument, RecordedAcknowledgement, recordedAcknowledgements } from './policy-document';
import { POLICY_RULES } from './rules';
import { CheckInputError, JsonFile, readJsonFile, terraformJsonConfigurations } from './terraform-json-files';

const RULES: RuleDescription[] = POLICY_RULES.map(({ id, title, fix }) => ({ id, title, fix }));

function show(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

function ruleFindings(doc: PolicyDocument, files: readonly JsonFile[], waiver: string, locate: (address: string, file?: JsonFile) => number | undefined): ReportFinding[] {
  return evaluateDocument(doc, { waiver }).map((v) => {
    const file = files.find((f) => f.file === v.file) ?? (files.length === 1 ? files[0] : undefined);
    const waiver = v.waiver && { construct: v.waiver.construct, everyAddress: !v.waiver.addresses.includes(v.address) };
    return { ruleId: v.ruleId, address: v.address, problem: v.problem, message: v.message, file: file?.file, line: locate(v.address, file), acknowledged: v.acknowledged, waiver };
  });
}

/** Where a resource (or provider block) sits in a Terraform JSON text. */
function configurationLine(address: string, file?: JsonFile): number | undefined {
  if (!file) return undefined;
  const parts = address.split('.');
  if (parts[0] === 'provider') return lineOf(file.text, ['"provider"', `"${parts[1]}"`]);
  if (parts[0] === 'module') return lineOf(file.text, ['"module"', `"${parts[1]}"`]);
  const [type, name] = parts[0] === 'data' ? parts.slice(1) : parts;
  return lineOf(file.text, [parts[0] === 'data' ? '"data"' : '"resource"', `"${type}"`, `"${name}"`]);
}

/** `hsmctl policy check PATH`: every Terraform JSON configuration at PATH, with the acknowledgements it records. */
export function checkTerraformJson(path: string): CheckReport {
  const configurations = terraformJsonConfigurations(path);
  const findings = configurations.flatMap((files) => {
    const doc = documentFromTerraformJson(files.map((f) => ({ json: f.json, file: f.file })));
    return ruleFindings(doc, files, JSON_WAIVER, configurationLine);
  });
  return {
    command: 'policy check',
    inputs: configurations.flatMap((files) => files.map((f) => show(f.file))),
    rules: RULES,
    findings: findings.map((f) => ({ ...f, file: f.file && show(f.file) })),
  };
}

export interface PlanCheckOptions {
  /** Addresses whose deletion or replacement is intended. */
  readonly allowDestroy?: readonly string[];
  /** Why (required with allowDestroy, 10 characters or more). */
  readonly reason?: string;
  /** A cdk.tf.json (or folder) whose recorded acknowledgements apply to the plan's addresses. */
  readonly acknowledgementsFrom?: string;
}

/**
 * The waivers recorded in one configuration. Stacks of one app share addresses (the main and DR stacks both
 * have azurerm_key_vault_managed_hardware_security_module.ManagedHsm_...), so waivers merged from several would
 * let one stack's waiver, or its '*', clear the same rule in another stack's plan: a folder of several is refused.
 */
function acknowledgementsOfOneConfiguration(path: string): RecordedAcknowledgement[] {
  const configurations = terraformJsonConfigurations(path);
  if (configurations.length !== 1) {
    const folders = configurations.map((files) => show(dirname(files[0].file))).sort();
    throw new CheckInputError(
      `--acknowledgements-from ${path}: holds ${configurations.length} configurations (${folders.join(', ')}); allowed: exactly one, that of the stack the plan is of: its folder (such as ${folders[0]}) or its cdk.tf.json`,
    );
  }
  return configurations[0].flatMap((f) => recordedAcknowledgements(f.json));
}

/** `hsmctl plan check PLAN.json`: the rules on the planned values, and the destructive-change guard. */
export function checkPlan(planFile: string, options: PlanCheckOptions = {}): CheckReport {
  const input = readJsonFile(planFile);
  let plan;
  try {
    plan = readPlan(input.json);
  } catch (err) {
    if (err instanceof PlanFormatError) throw new CheckInputError(`${planFile}: ${err.message}`);
    throw err;
  }
  const allowDestroy = options.allowDestroy ?? [];
  if (allowDestroy.length > 0 && (options.reason === undefined || options.reason.trim().length < 10)) {
    throw new CheckInputError('--allow-destroy needs --reason: at least 10 characters saying why the deletion is intended');
  }
  const destructive = destructiveChanges(plan.changes);
  for (const address of allowDestroy) {
    if (!destructive.some((d) => d.address === address)) {
      throw new CheckInputError(
        `--allow-destroy ${address}: no change in the plan deletes or replaces it; allowed: ${destructive.map((d) => d.address).join(', ') || 'nothing (the plan destroys no guarded resource)'}`,
      );
    }
  }
  const recorded: RecordedAcknowledgement[] = options.acknowledgementsFrom ? acknowledgementsOfOneConfiguration(options.acknowledgementsFrom) : [];
  const doc: PolicyDocument = { ...plan.document, acknowledgements: recorded };
  const locate = (address: string) => lineOf(input.text, [`"address": "${address}"`]) ?? lineOf(input.text, [`"address":"${address}"`]);
  const waiver = `or record an acknowledgement of ID for this address (acknowledgePolicy at synth; pass its cdk.tf.json with --acknowledgements-from)`;
  const rules = ruleFindings(doc, [input], waiver, (address) => locate(address));
  const guard: ReportFinding[] = destructive.map((d) => ({
    ruleId: DESTRUCTIVE_CHANGE_RULE.id,
    address: d.address,
    problem: d.problem,
    message: `${DESTRUCTIVE_CHANGE_RULE.id} (${DESTRUCTIVE_CHANGE_RULE.title}): ${d.address} ${d.problem}. Fix: ${DESTRUCTIVE_CHANGE_RULE.fix}; or, if it is intended, pass --allow-destroy ${d.address} --reason "...".`,
    file: input.file,
    line: locate(d.address),
    acknowledged: allowDestroy.includes(d.address) ? options.reason!.trim() : undefined,
  }));
  return {
    command: 'plan check',
    inputs: [show(planFile)],
    rules: [...RULES.filter((r) => !POLICY_RULES.find((p) => p.id === r.id)?.configurationOnly), DESTRUCTIVE_CHANGE_RULE],
    findings: [...guard, ...rules].map((f) => ({ ...f, file: f.file && show(f.file) })),
  };
}
