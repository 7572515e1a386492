import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { writePrivateFile } from '../../simulator/fsutil';

export interface LunaSecrets {
  readonly tenantadmin: string;
  readonly so: string;
  readonly domain: string;
}

/**
 * The appliance passwords a dry-run sets (tenantadmin, HSM SO, cloning domain): made on the first run, kept
 * 0600 in the state folder so reruns log in again, never printed.
 */
export function lunaSecrets(dir: string): LunaSecrets {
  const file = path.join(dir, 'appliance-secrets.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as LunaSecrets;
  // LunaSH passwords: 8+ characters with upper, lower and digits; base64url plus a fixed suffix guarantees that.
  const make = () => `${randomBytes(12).toString('base64url')}Aa9`;
  const secrets = { tenantadmin: make(), so: make(), domain: make() };
  writePrivateFile(file, JSON.stringify(secrets));
  return secrets;
}
