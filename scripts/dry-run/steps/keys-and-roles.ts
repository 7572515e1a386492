import { CreateKeyOptions, KnownKeyOperations } from '@azure/keyvault-keys';
import { deterministicGuid } from '../../../constructs/deterministic-guid';
import { ROLES } from '../../clients/mhsm-admin';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf, primaryManagedHsms } from '../hsm-clients';

const ROLE_DEFINITION = /roleDefinitions\/([0-9a-f-]{36})$/i;

/**
 * Step 5: the synthesized local RBAC role assignments (same names, roles, principals and scopes Terraform
 * would create) and keys with their rotation policies. The operator first takes Crypto Officer and Crypto
 * User on /keys, as the deploying principal must in Azure: Administrator alone holds no key permissions.
 */
export function keysAndRolesStep(ctx: DryRunContext): Step {
  return {
    name: 'apply role assignments and create keys',
    async run({ say }) {
      const summary: Array<Record<string, unknown>> = [];
      for (const m of primaryManagedHsms(ctx)) {
        const { admin, keys } = hsmClients(ctx, hsmUriOf(ctx, m.name));
        const assign = async (name: string, scope: string, role: string, principalId: string) => {
          const prefix = scope === '/' ? '' : scope;
          const r = await admin.request('PUT', `${prefix}/providers/Microsoft.Authorization/roleAssignments/${name}`, { properties: { roleDefinitionId: roleDefinitionId(role), principalId } });
          if (r.status >= 300) throw new Error(`role assignment ${name} at ${scope} refused: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        };
        for (const role of [ROLES.cryptoOfficer, ROLES.cryptoUser]) await assign(operatorAssignment(ctx.operator!.objectId, role), '/keys', role, ctx.operator!.objectId);
        for (const a of m.roleAssignments) {
          const guid = ROLE_DEFINITION.exec(a.roleDefinitionId)?.[1];
          if (!guid) throw new Error(`role assignment ${a.name}: cannot read the role from ${a.roleDefinitionId}`);
          await assign(a.name, a.scope, guid, a.principalId);
        }
        say(`${m.name}: ${m.roleAssignments.length} role assignment(s) from synth, and the operator as Crypto Officer and Crypto User on /keys`);

        let created = 0;
        for (const k of m.keys) {
          const existing = await keys.getKey(k.name).catch((err: { statusCode?: number }) => {
            if (err.statusCode === 404) return undefined;
            throw err;
          });
          if (!existing) {
            const options: CreateKeyOptions = {
              keySize: k.keySize,
              curve: k.curve as CreateKeyOptions['curve'],
              keyOps: k.keyOps as KnownKeyOperations[],
              expiresOn: k.expirationDate ? new Date(k.expirationDate) : undefined,
            };
            await keys.createKey(k.name, k.keyType, options);
            created++;
          }
          if (k.rotation) {
            await keys.updateKeyRotationPolicy(k.name, {
              expiresIn: k.rotation.expireAfter,
              lifetimeActions: [{ action: 'Rotate', timeAfterCreate: k.rotation.timeAfterCreation, timeBeforeExpiry: k.rotation.timeBeforeExpiry }],
            });
          }
        }
        say(`${m.name}: ${m.keys.length} key(s) (${created} created now), ${m.keys.filter((k) => k.rotation).length} rotation policies`);
        summary.push({ hsm: m.name, roleAssignments: m.roleAssignments.length, keys: m.keys.map((k) => k.name), created });
      }
      return summary;
    },
  };
}

function roleDefinitionId(guid: string): string {
  return `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}

/** A stable assignment name per operator and role, so reruns update rather than pile up assignments. */
function operatorAssignment(objectId: string, role: string): string {
  return deterministicGuid('dry-run-operator', objectId, role);
}
