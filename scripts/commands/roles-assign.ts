import { Command } from '../command';
import { TARGET_FLAGS } from '../clients/target';
import { assignRole } from '../ceremonies/roles';
import { ROLE_FLAGS, withRoleAssignmentTarget } from './role-assignment-target';

/** `hsmctl roles assign`: az keyvault role assignment create --hsm-name ... --role ... --assignee-object-id ... --scope ... */
export const rolesAssignCommand: Command = {
  details: [
    'Assigns a role of the HSM to a principal at a scope. Safe to repeat: an identical assignment is reported, not',
    'made twice. Needs role-management rights on the HSM (Managed HSM Administrator, Crypto Officer or Policy',
    'Administrator). Grant the least that works: a key role at "/keys/NAME" rather than "/keys", "/keys" rather than "/".',
    '',
    'example: hsmctl roles assign --from-outputs outputs.json --role "Managed HSM Crypto User" --assignee 00000000-0000-0000-0000-000000000000 --scope /keys',
  ].join('\n'),
  flags: { ...TARGET_FLAGS, ...ROLE_FLAGS, json: { type: 'boolean', description: 'print the assignment as JSON' } },
  needs: { role: 'Managed HSM Administrator', scope: '/' },
  run: (flags) =>
    withRoleAssignmentTarget(flags, async ({ admin, hsmUri, role, principalId, scope }) => {
      const r = await assignRole(admin, role, principalId, scope);
      if (flags.json) console.log(JSON.stringify({ created: r.created, name: r.assignment.name, role: role.properties.roleName, principalId, scope }, null, 2));
      else console.log(`${r.created ? 'assigned' : 'already assigned'}: ${role.properties.roleName} to ${principalId} at ${scope} (assignment ${r.assignment.name}) on ${hsmUri}`);
      return 0;
    }),
};
