import { Command } from '../command';
import { TARGET_FLAGS } from '../clients/target';
import { keyFailure } from './keys-show';

export const keysListCommand: Command = {
  details: 'example: hsmctl keys list --from-outputs outputs.json\n         hsmctl keys list --simulator .hsm-state --hsm hsm-example-mhsm --json',
  flags: { ...TARGET_FLAGS, json: { type: 'boolean', description: 'print as JSON' } },
  needs: { role: 'Managed HSM Crypto User', scope: '/keys' },
  async run(flags) {
    const { resolveTarget, keyClientFor } = require('../clients/target') as typeof import('../clients/target');
    const target = resolveTarget(flags);
    const keys = keyClientFor(target);
    const rows: Array<{ name: string; enabled: boolean; expires?: string; updated?: string }> = [];
    try {
      for await (const k of keys.listPropertiesOfKeys()) rows.push({ name: k.name, enabled: k.enabled !== false, expires: k.expiresOn?.toISOString(), updated: k.updatedOn?.toISOString() });
    } catch (err) {
      throw keyFailure(err, '(list)');
    }
    rows.sort((a, b) => a.name.localeCompare(b.name));
    if (flags.json) console.log(JSON.stringify(rows, null, 2));
    else {
      console.log(`${rows.length} key(s) in ${target.hsmUri}`);
      for (const r of rows) console.log(`  ${r.name.padEnd(32)} ${r.enabled ? 'enabled ' : 'DISABLED'}  expires ${r.expires ?? 'never'}`);
    }
    return 0;
  },
};
