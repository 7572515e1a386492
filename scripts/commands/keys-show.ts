import { Command } from '../command';
import { TARGET_FLAGS } from '../clients/target';
import { CeremonyError } from '../failure';
import { keyName } from './key-name';
import type { KeyVaultKey, KeyRotationPolicy } from '@azure/keyvault-keys';

/** What hsmctl prints about a key: public facts only (never key material, not even the public modulus). */
export interface KeyDescription {
  name: string;
  id: string;
  version: string;
  kty: string;
  size?: number;
  curve?: string;
  keyOps: string[];
  enabled: boolean;
  created?: string;
  updated?: string;
  notBefore?: string;
  expires?: string;
  tags?: Record<string, string>;
  rotationPolicy?: { expiresIn?: string; lifetimeActions: Array<{ action: string; timeAfterCreate?: string; timeBeforeExpiry?: string }> };
}

export function describeKey(k: KeyVaultKey, policy?: KeyRotationPolicy): KeyDescription {
  const p = k.properties;
  const n = k.key?.n;
  return {
    name: k.name,
    id: k.id ?? '',
    version: p.version ?? '',
    kty: String(k.keyType),
    size: n ? (n[0] === 0 ? n.length - 1 : n.length) * 8 : undefined,
    curve: k.key?.crv,
    keyOps: (k.keyOperations ?? []).map(String),
    enabled: p.enabled !== false,
    created: p.createdOn?.toISOString(),
    updated: p.updatedOn?.toISOString(),
    notBefore: p.notBefore?.toISOString(),
    expires: p.expiresOn?.toISOString(),
    tags: p.tags && Object.keys(p.tags).length ? p.tags : undefined,
    rotationPolicy: policy && policy.lifetimeActions?.length ? { expiresIn: policy.expiresIn, lifetimeActions: policy.lifetimeActions.map((a) => ({ ...a })) } : undefined,
  };
}

/** A missing key as one clear line; other refusals go on as they are, so the CLI can say what to do about a 403. */
export function keyFailure(err: unknown, name: string): unknown {
  const e = err as { statusCode?: number; code?: string };
  if (e?.statusCode === 404) return new CeremonyError(`no key named ${name} (${e.code ?? 'KeyNotFound'})`);
  return err;
}

export const keysShowCommand: Command = {
  details: 'hsmctl keys show NAME [--version V] [target flags]\n\nexample: hsmctl keys show app-signing --from-outputs outputs.json',
  args: [{ name: 'NAME', description: 'the key name' }],
  flags: {
    ...TARGET_FLAGS,
    version: { type: 'string', value: 'V', description: 'a given version (default: the latest)' },
    json: { type: 'boolean', description: 'print as JSON' },
  },
  needs: { role: 'Managed HSM Crypto User', scope: '/keys' },
  async run(flags, positionals) {
    const name = keyName(positionals, 'keys show');
    const { resolveTarget, keyClientFor } = require('../clients/target') as typeof import('../clients/target');
    const keys = keyClientFor(resolveTarget(flags));
    try {
      const key = await keys.getKey(name, flags.version ? { version: flags.version as string } : undefined);
      const policy = await keys.getKeyRotationPolicy(name).catch(() => undefined);
      const d = describeKey(key, policy);
      if (flags.json) console.log(JSON.stringify(d, null, 2));
      else {
        console.log(`${d.name} (version ${d.version}): ${d.kty}${d.size ? ` ${d.size} bits` : ''}${d.curve ? ` ${d.curve}` : ''}, ${d.enabled ? 'enabled' : 'DISABLED'}`);
        console.log(`  operations: ${d.keyOps.join(', ') || 'none'}`);
        console.log(`  created ${d.created ?? '?'}, updated ${d.updated ?? '?'}${d.notBefore ? `, not before ${d.notBefore}` : ''}, expires ${d.expires ?? 'never'}`);
        if (d.tags) console.log(`  tags: ${Object.entries(d.tags).map(([k, v]) => `${k}=${v}`).join(', ')}`);
        console.log(`  rotation policy: ${d.rotationPolicy ? `${d.rotationPolicy.lifetimeActions.map((a) => `${a.action} ${a.timeAfterCreate ? `${a.timeAfterCreate} after creation` : `${a.timeBeforeExpiry} before expiry`}`).join('; ')}${d.rotationPolicy.expiresIn ? `; new versions expire after ${d.rotationPolicy.expiresIn}` : ''}` : 'none'}`);
        console.log(`  id: ${d.id}`);
      }
      return 0;
    } catch (err) {
      throw keyFailure(err, name);
    }
  },
};
