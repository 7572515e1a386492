import { Command } from '../command';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { ManagedHsmAdminClient } from '../clients/mhsm-admin';
import { required } from '../ceremonies/run';
import { checkedObjectId, checkedScope, findRole, removeRole } from '../ceremonies/roles';
import { ROLE_FLAGS } from './roles-flags';

/** `hsmctl roles remove`: az keyvault role assignment delete --hsm-name ... --role ... --assignee-object-id ... --scope ... */
export const rolesRemoveCommand: Command = {
  details: [
    'Removes the assignment of a role to a principal at exactly that scope. Safe to repeat: when there is none, it says',
    'so and exits 0. The last Administrator assignment at "/" is not removed unless --allow-no-administrator is given.',
    '',
    'example: hsmctl roles remove --from-outputs outputs.json --role "Crypto User" --assignee 00000000-0000-0000-0000-000000000000 --scope /keys',
  ].join('\n'),
  flags: {
    ...TARGET_FLAGS,
    ...ROLE_FLAGS,
    'allow-no-administrator': { type: 'boolean', description: 'allow removing the last Administrator at "/" (nobody can manage the HSM\'s roles afterwards)' },
  },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  async run(flags) {
    const principalId = checkedObjectId(required(flags, 'assignee'), '--assignee');
    const scope = checkedScope(required(flags, 'scope'));
    const wanted = required(flags, 'role');
    const target = resolveTarget(flags);
    const admin = new ManagedHsmAdminClient(target.hsmUri, target.credential, { ca: target.ca });
    try {
      const role = findRole(await admin.listRoleDefinitions('/'), wanted);
      const gone = await removeRole(admin, role, principalId, scope, flags['allow-no-administrator'] === true);
      console.log(gone.length
        ? `removed: ${role.properties.roleName} of ${principalId} at ${scope} (assignment ${gone.map((a) => a.name).join(', ')}) on ${target.hsmUri}`
        : `nothing to remove: ${principalId} holds no ${role.properties.roleName} assignment at ${scope} on ${target.hsmUri}`);
      return 0;
    } finally {
      admin.close();
    }
  },
};
