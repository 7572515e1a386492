import { Command } from '../command';
import { TARGET_FLAGS, resolveTarget } from '../clients/target';
import { withAdminClient } from '../clients/mhsm-admin';
import { checkedScope, roleGuidOf } from '../ceremonies/roles';

/** `hsmctl roles definitions`: az keyvault role definition list --hsm-name ... */
export const rolesDefinitionsCommand: Command = {
  details: [
    'Lists the role definitions of the HSM, built-in and custom, with their ids and data actions: what each role may do.',
    '',
    'example: hsmctl roles definitions --from-outputs outputs.json',
  ].join('\n'),
  flags: {
    ...TARGET_FLAGS,
    scope: { type: 'string', value: 'SCOPE', description: '"/" (default) or "/keys"' },
    json: { type: 'boolean', description: 'print the definitions as the HSM returns them, as JSON' },
  },
  needs: { role: 'Managed HSM Crypto Auditor', scope: '/' },
  async run(flags) {
    const scope = checkedScope((flags.scope as string | undefined) ?? '/');
    const target = resolveTarget(flags);
    return withAdminClient(target, async (admin) => {
      const defs = (await admin.listRoleDefinitions(scope)).sort((a, b) => a.properties.roleName.localeCompare(b.properties.roleName));
      if (flags.json) console.log(JSON.stringify(defs, null, 2));
      else {
        console.log(`${defs.length} role definition(s) on ${target.hsmUri}`);
        for (const d of defs) {
          const p = d.properties.permissions ?? [];
          const allowed = p.flatMap((x) => x.dataActions ?? []);
          const denied = p.flatMap((x) => x.notDataActions ?? []);
          console.log(`  ${d.properties.roleName} (${roleGuidOf(d.id)}, ${d.properties.type})`);
          console.log(`    data actions: ${allowed.map((a) => a.replace(/^Microsoft\.KeyVault\/managedHsm\//, '')).join(', ') || 'none'}`);
          if (denied.length) console.log(`    not: ${denied.map((a) => a.replace(/^Microsoft\.KeyVault\/managedHsm\//, '')).join(', ')}`);
        }
      }
      return 0;
    });
  },
};
