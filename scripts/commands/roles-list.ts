import { Command } from '../command';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { withAdminClient } from '../clients/mhsm-admin';
import { checkedObjectId, checkedScope, viewOf } from '../ceremonies/roles';

/** `hsmctl roles list`: az keyvault role assignment list --hsm-name ... [--scope ...] [--assignee-object-id ...] */
export const rolesListCommand: Command = {
  details: [
    'Lists the role assignments the HSM holds (every scope unless --scope), with the role\'s name, the principal and',
    'the scope. Needs a role that reads role assignments (Administrator, Crypto Officer, Crypto User, Policy',
    'Administrator or Crypto Auditor).',
    '',
    'example: hsmctl roles list --from-outputs outputs.json --scope /keys',
  ].join('\n'),
  flags: {
    ...TARGET_FLAGS,
    scope: { type: 'string', value: 'SCOPE', description: 'only assignments at "/", "/keys" or "/keys/NAME"' },
    assignee: { type: 'string', value: 'OBJECT_ID', description: 'only the assignments of this principal' },
    json: { type: 'boolean', description: 'print as JSON' },
  },
  needs: { role: 'Managed HSM Crypto Auditor', scope: '/' },
  async run(flags) {
    const scope = flags.scope === undefined ? undefined : checkedScope(flags.scope as string);
    const assignee = flags.assignee === undefined ? undefined : checkedObjectId(flags.assignee as string, '--assignee');
    const target = resolveTarget(flags);
    return withAdminClient(target, async (admin) => {
      const definitions = await admin.listRoleDefinitions('/');
      const rows = (await admin.listRoleAssignments(scope ?? '/'))
        .map((a) => viewOf(a, definitions))
        .filter((v) => (scope === undefined || v.scope === scope) && (assignee === undefined || v.principalId === assignee))
        .sort((a, b) => a.scope.localeCompare(b.scope) || a.role.localeCompare(b.role) || a.principalId.localeCompare(b.principalId));
      if (flags.json) console.log(JSON.stringify(rows, null, 2));
      else {
        console.log(`${rows.length} role assignment(s) on ${target.hsmUri}`);
        const width = Math.max(4, ...rows.map((r) => r.role.length));
        for (const r of rows) console.log(`  ${r.role.padEnd(width)}  ${r.principalId}  ${r.scope}`);
      }
      return 0;
    });
  },
};
