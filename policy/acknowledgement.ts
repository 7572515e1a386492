import { TerraformDataSource, TerraformElement, TerraformModule, TerraformProvider, TerraformResource, TerraformStack } from 'cdktf';
import { IConstruct } from 'constructs';
import { RecordedAcknowledgement } from './policy-document';
import { POLICY_RULES } from './rules';

const METADATA_TYPE = 'azure-hsm-cdktf:policy-acknowledgement';

export interface PolicyAcknowledgement {
  readonly ruleId: string;
  /** Why the rule does not apply here; recorded in the synthesized JSON for reviewers. */
  readonly reason: string;
}

/**
 * Waives one policy rule for a construct and everything inside it, e.g. a test environment that opts out of
 * purge protection. The reason is required; it stays in the construct tree and is written into the
 * synthesized JSON ("//".policy.acknowledgements) with the addresses it covers. On a stack it covers every
 * address of the stack, raw overrides included.
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

function ownAcknowledgements(construct: IConstruct): PolicyAcknowledgement[] {
  return construct.node.metadata.filter((m) => m.type === METADATA_TYPE).map((m) => m.data as PolicyAcknowledgement);
}

/** The acknowledgements that cover a construct: its own and its ancestors'. */
export function acknowledgementsFor(construct: IConstruct): PolicyAcknowledgement[] {
  return construct.node.scopes.flatMap(ownAcknowledgements);
}

/** The Terraform address an element synthesizes to (module.NAME for a module), or undefined for elements that have none (outputs, variables). */
export function terraformAddress(element: IConstruct): string | undefined {
  if (TerraformResource.isTerraformResource(element)) return `${element.terraformResourceType}.${element.friendlyUniqueId}`;
  if (TerraformDataSource.isTerraformDataSource(element)) return `data.${element.terraformResourceType}.${element.friendlyUniqueId}`;
  if (TerraformProvider.isTerraformProvider(element)) return `provider.${element.terraformResourceType}${element.alias ? `.${element.alias}` : ''}`;
  if (element instanceof TerraformModule) return `module.${element.friendlyUniqueId}`;
  return undefined;
}

/** Every acknowledgement made in the stack, with the addresses it covers ('*' for the stack itself). */
export function acknowledgementRecords(stack: TerraformStack): RecordedAcknowledgement[] {
  return stack.node.findAll().flatMap((construct) =>
    ownAcknowledgements(construct).map(({ ruleId, reason }) => ({
      ruleId,
      reason,
      construct: construct === stack ? stack.node.id : construct.node.path,
      addresses:
        construct === stack
          ? ['*']
          : construct.node
              .findAll()
              .filter((c): c is TerraformElement => TerraformElement.isTerraformElement(c))
              .map(terraformAddress)
              .filter((a): a is string => a !== undefined)
              .sort(),
    })),
  );
}
