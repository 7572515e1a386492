import { IAspect, TerraformStack } from 'cdktf';
import { IConstruct } from 'constructs';
import { acknowledgementsFor } from './acknowledgement';
import { PolicyModel } from './policy-model';
import { POLICY_RULES, PolicyRule } from './rules';

export interface PolicyViolation {
  readonly ruleId: string;
  readonly address: string;
  readonly constructPath: string;
  readonly message: string;
}

/** Evaluates every rule over a stack; acknowledged rules are skipped for the constructs they cover. */
export function evaluatePolicy(stack: TerraformStack, rules: readonly PolicyRule[] = POLICY_RULES): PolicyViolation[] {
  const model = new PolicyModel(stack);
  return rules.flatMap((rule) =>
    rule
      .check(model)
      .filter(({ resource }) => !acknowledgementsFor(resource.construct).some((a) => a.ruleId === rule.id))
      .map(({ resource, problem }) => ({
        ruleId: rule.id,
        address: resource.address,
        constructPath: resource.construct.node.path,
        message: `${rule.id} (${rule.title}): ${resource.address} ${problem}. Fix: ${rule.fix}; or waive it for this resource with acknowledgePolicy(scope, '${rule.id}', reason).`,
      })),
  );
}

/**
 * The security policy as an Aspect: added to a stack, it checks the finished stack at synth time (after
 * every other Aspect and escape hatch) and fails the synth with one line per violation.
 */
export class HsmPolicy implements IAspect {
  visit(node: IConstruct): void {
    if (!TerraformStack.isStack(node)) return;
    node.node.addValidation({ validate: () => evaluatePolicy(node).map((v) => v.message) });
  }
}
