import { IConstruct } from 'constructs';
import { POLICY_RULES } from './rules';

const METADATA_TYPE = 'azure-hsm-cdktf:policy-acknowledgement';

export interface PolicyAcknowledgement {
  readonly ruleId: string;
  /** Why the rule does not apply here; recorded in the synthesized metadata for reviewers. */
  readonly reason: string;
}

/**
 * Waives one policy rule for a construct and everything inside it, e.g. a test environment that opts out of
 * purge protection. The reason is required and stays on record in the construct tree.
 */
export function acknowledgePolicy(scope: IConstruct, ruleId: string, reason: string): void {
  if (!POLICY_RULES.some((r) => r.id === ruleId)) {
    throw new Error(`${scope.node.path}: invalid policy rule id: received ${JSON.stringify(ruleId)}; allowed: ${POLICY_RULES.map((r) => r.id).join(', ')}`);
  }
  if (typeof reason !== 'string' || reason.trim().length < 10) {
    throw new Error(`${scope.node.path}: acknowledging ${ruleId} needs a reason of at least 10 characters saying why the rule does not apply`);
  }
  scope.node.addMetadata(METADATA_TYPE, { ruleId, reason: reason.trim() } satisfies PolicyAcknowledgement);
}

/** The acknowledgements that cover a construct: its own and its ancestors'. */
export function acknowledgementsFor(construct: IConstruct): PolicyAcknowledgement[] {
  return construct.node.scopes.flatMap((scope) =>
    scope.node.metadata.filter((m) => m.type === METADATA_TYPE).map((m) => m.data as PolicyAcknowledgement),
  );
}
