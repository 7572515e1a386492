import { IAspect, TerraformElement, TerraformStack } from 'cdktf';
import { IConstruct } from 'constructs';
import { acknowledgementRecords } from './acknowledgement';
import { evaluateDocument, openViolations, PolicyViolation } from './engine';
import { documentFromTerraformJson, RecordedAcknowledgement, recordedAcknowledgements } from './policy-document';

const RECORD_ID = 'PolicyAcknowledgements';

/** Writes the stack's acknowledgements into the synthesized JSON, under "//".policy, for reviewers and hsmctl. */
class AcknowledgementRecord extends TerraformElement {
  constructor(private readonly stack: TerraformStack) {
    super(stack, RECORD_ID);
  }

  toTerraform(): any {
    const acknowledgements = acknowledgementRecords(this.stack);
    return acknowledgements.length === 0 ? {} : { '//': { policy: { acknowledgements } } };
  }
}

function sameAcknowledgement(a: RecordedAcknowledgement, b: RecordedAcknowledgement): boolean {
  return a.ruleId === b.ruleId && a.reason === b.reason && JSON.stringify([...a.addresses].sort()) === JSON.stringify([...b.addresses].sort());
}

/**
 * The policy over the stack's final Terraform JSON (stack.toTerraform(): every construct, escape hatch,
 * stack override and raw resource included). Acknowledgements come from acknowledgePolicy in the construct
 * tree; one the JSON records that no acknowledgePolicy made (written by an override) is itself a violation.
 * Returns every finding, acknowledged ones marked.
 */
export function evaluatePolicy(stack: TerraformStack): PolicyViolation[] {
  return check(stack).violations;
}

function check(stack: TerraformStack): { violations: PolicyViolation[]; forged: RecordedAcknowledgement[] } {
  const json = stack.toTerraform();
  const made = acknowledgementRecords(stack);
  const forged = recordedAcknowledgements(json).filter((r) => !made.some((m) => sameAcknowledgement(m, r)));
  const doc = { ...documentFromTerraformJson([{ json }]), acknowledgements: made };
  return { violations: evaluateDocument(doc), forged };
}

/**
 * The security policy as an Aspect: added to a stack, it checks the stack's final Terraform JSON at synth
 * time and fails the synth with one line per violation (rule, address, problem, fix).
 */
export class HsmPolicy implements IAspect {
  visit(node: IConstruct): void {
    if (!TerraformStack.isStack(node) || node.node.tryFindChild(RECORD_ID)) return;
    new AcknowledgementRecord(node);
    node.node.addValidation({
      validate: () => {
        const { violations, forged } = check(node);
        return [
          ...forged.map(
            (f) => `HSM-POLICY: the JSON records an acknowledgement of ${f.ruleId} for ${f.addresses.join(', ')} that no acknowledgePolicy call made (written by an override?); remove it, or acknowledge with acknowledgePolicy`,
          ),
          ...openViolations(violations).map((v) => v.message),
        ];
      },
    });
  }
}
