import { DefaultTokenResolver, StringConcat, TerraformResource, TerraformStack, Tokenization } from 'cdktf';
import { IConstruct } from 'constructs';

/** A resource as it will be synthesized: Terraform type, address, snake_case attributes with references resolved. */
export interface ResourceView {
  readonly type: string;
  /** e.g. azurerm_subnet.HsmNetwork_ComputeSubnet_1A2B3C */
  readonly address: string;
  readonly construct: TerraformResource;
  readonly attrs: Record<string, any>;
}

const RESOLVER = new DefaultTokenResolver(new StringConcat());

export class PolicyModel {
  readonly resources: ResourceView[];

  constructor(stack: TerraformStack) {
    this.resources = stack.node
      .findAll()
      .filter((c: IConstruct): c is TerraformResource => TerraformResource.isTerraformResource(c))
      .map((r) => {
        const synthesized = Tokenization.resolve(r.toTerraform(), { scope: stack, preparing: false, resolver: RESOLVER }) as Record<string, any>;
        const attrs = synthesized.resource?.[r.terraformResourceType]?.[r.friendlyUniqueId] ?? {};
        return { type: r.terraformResourceType, address: `${r.terraformResourceType}.${r.friendlyUniqueId}`, construct: r, attrs };
      });
  }

  ofType(type: string): ResourceView[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** Whether an attribute value is a reference to an attribute of `target`. */
  /** Nested blocks synthesize as an object or a list of objects; this always gives a list. */
  static blocks(value: unknown): Record<string, any>[] {
    if (value === undefined || value === null) return [];
    return (Array.isArray(value) ? value : [value]) as Record<string, any>[];
  }

  static refersTo(value: unknown, target: ResourceView): boolean {
    return typeof value === 'string' && value.includes(`\${${target.address}.`);
  }
}
