import { Command } from '../command';
import { TARGET_FLAGS } from '../clients/target';
import { removeRole } from '../ceremonies/roles';
import { ROLE_FLAGS, withRoleAssignmentTarget } from './role-assignment-target';

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
  run: (flags) =>
    withRoleAssignmentTarget(flags, async ({ admin, hsmUri, role, principalId, scope }) => {
      const gone = await removeRole(admin, role, principalId, scope, flags['allow-no-administrator'] === true);
      console.log(gone.length
        ? `removed: ${role.properties.roleName} of ${principalId} at ${scope} (assignment ${gone.map((a) => a.name).join(', ')}) on ${hsmUri}`
        : `nothing to remove: ${principalId} holds no ${role.properties.roleName} assignment at ${scope} on ${hsmUri}`);
      return 0;
    }),
};
