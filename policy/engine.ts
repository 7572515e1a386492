import { PolicyDocument, RecordedAcknowledgement } from './policy-document';
import { POLICY_RULES, PolicyRule } from './rules';

export interface PolicyViolation {
  readonly ruleId: string;
  readonly address: string;
  readonly constructPath?: string;
  readonly file?: string;
  readonly problem: string;
  /** One line: the rule, the resource, what is wrong, the fix and how to waive it. */
  readonly message: string;
  /** Set when an acknowledgement waives it: the recorded reason. */
  readonly acknowledged?: string;
  /** The acknowledgement that waives it, for reports (who made it, which addresses it covers). */
  readonly waiver?: RecordedAcknowledgement;
}

export interface EvaluateOptions {
  readonly rules?: readonly PolicyRule[];
  /** How to waive a rule where the document came from, for the message; `ID` is replaced by the rule id. */
  readonly waiver?: string;
}

export const CONSTRUCT_WAIVER = "waive it for this resource with acknowledgePolicy(scope, 'ID', reason)";
export const JSON_WAIVER = 'or record an acknowledgement of ID for this address under "//".policy.acknowledgements';

/**
 * The acknowledgement (if any) that waives a rule for an address. Of several, the most specific one is
 * reported: one naming the address and its construct, then one naming the address, then a '*' one.
 */
export function acknowledgementOf(acks: readonly RecordedAcknowledgement[], ruleId: string, address: string): RecordedAcknowledgement | undefined {
  const rank = (a: RecordedAcknowledgement) => (a.addresses.includes(address) ? 0 : 2) + (a.construct === undefined ? 1 : 0);
  return acks
    .filter((a) => a.ruleId === ruleId && (a.addresses.includes('*') || a.addresses.includes(address)))
    .sort((a, b) => rank(a) - rank(b))[0];
}

/**
 * Every finding of every rule over the document, acknowledged ones included (marked): callers fail on the
 * open ones and report both. Rules a plan cannot answer (configurationOnly) are skipped for plans.
 */
export function evaluateDocument(doc: PolicyDocument, options: EvaluateOptions = {}): PolicyViolation[] {
  const waiver = options.waiver ?? CONSTRUCT_WAIVER;
  return (options.rules ?? POLICY_RULES)
    .filter((rule) => doc.kind === 'configuration' || !rule.configurationOnly)
    .flatMap((rule) =>
      rule.check(doc).map(({ resource, problem }) => {
        const ack = acknowledgementOf(doc.acknowledgements, rule.id, resource.address);
        return {
          ruleId: rule.id,
          address: resource.address,
          constructPath: resource.constructPath,
          file: resource.file,
          problem,
          message: `${rule.id} (${rule.title}): ${resource.address} ${problem}. Fix: ${rule.fix}; ${waiver.replace(/ID/g, rule.id)}.`,
          acknowledged: ack?.reason,
          waiver: ack,
        };
      }),
    );
}

export function openViolations(violations: readonly PolicyViolation[]): PolicyViolation[] {
  return violations.filter((v) => v.acknowledged === undefined);
}
