import { Command } from '../command';
import { TARGET_FLAGS } from '../clients/target';
import { keyName } from './key-name';
import { describeKey, keyFailure } from './keys-show';

export const keysRotateCommand: Command = {
  details: 'example: hsmctl keys rotate data-wrapping --from-outputs outputs.json',
  args: [{ name: 'NAME', description: 'the key name' }],
  flags: { ...TARGET_FLAGS, json: { type: 'boolean', description: 'print the new version as JSON' } },
  needs: { role: 'Managed HSM Crypto User', scope: '/keys' },
  async run(flags, positionals) {
    const name = keyName(positionals, 'keys rotate');
    const { resolveTarget, keyClientFor } = require('../clients/target') as typeof import('../clients/target');
    const keys = keyClientFor(resolveTarget(flags));
    try {
      const before = await keys.getKey(name);
      const after = await keys.rotateKey(name);
      const d = describeKey(after);
      if (flags.json) console.log(JSON.stringify({ ...d, previousVersion: before.properties.version }, null, 2));
      else console.log(`rotated ${name}: version ${before.properties.version} -> ${d.version}${d.expires ? `, expires ${d.expires}` : ''}`);
      return 0;
    } catch (err) {
      throw keyFailure(err, name);
    }
  },
};
