import { TerraformElement, TerraformResource, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';

/**
 * The logical id cdktf gives a resource at `path` inside a stack (e.g. ['DedicatedHsm', 'Resource']), worked
 * out on a scratch tree so the real stack is left untouched.
 */
export function logicalIdAt(path: readonly string[]): string {
  const scratch = new TerraformStack(new Construct(undefined as never, ''), 'scratch');
  const node = path.reduce<Construct>((scope, id) => new Construct(scope, id), scratch);
  return scratch.getLogicalId(node.node);
}

/**
 * A Terraform `moved` block from the address a resource had at a former construct path to its address now,
 * so a refactor keeps the real resource instead of replacing it. (cdktf's moveFromId writes the same block but
 * also makes every synth run `terraform version`, which fails on machines without Terraform, such as a
 * dry-run in CI.)
 */
export class MovedFrom extends TerraformElement {
  constructor(scope: Construct, id: string, private readonly resource: TerraformResource, private readonly formerPath: readonly string[]) {
    super(scope, id);
  }

  get fromAddress(): string {
    return `${this.resource.terraformResourceType}.${logicalIdAt(this.formerPath)}`;
  }

  get toAddress(): string {
    return `${this.resource.terraformResourceType}.${this.resource.friendlyUniqueId}`;
  }

  toTerraform(): any {
    return this.fromAddress === this.toAddress ? {} : { moved: [{ from: this.fromAddress, to: this.toAddress }] };
  }
}

/** Moves every resource inside `construct` from where it sat under `formerConstructPath` (same relative ids). */
export function moveResourcesFrom(construct: Construct, formerConstructPath: string): void {
  const former = formerConstructPath.split('/').filter((p) => p !== '');
  construct.node
    .findAll()
    .filter((c): c is TerraformResource => TerraformResource.isTerraformResource(c))
    .forEach((resource) => {
      const relative = resource.node.scopes.slice(construct.node.scopes.length).map((s) => s.node.id);
      new MovedFrom(construct, `MovedFrom-${relative.join('-')}`, resource, [...former, ...relative]);
    });
}
