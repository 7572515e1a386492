import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { writePrivateFile } from '../../files/private-files';

export interface LunaSecrets {
  readonly tenantadmin: string;
  readonly so: string;
  readonly domain: string;
  /** The partitions' Partition SO and Crypto Officer passwords (lunacm partition init, role init co). */
  readonly po: string;
  readonly co: string;
}

/**
 * The appliance passwords a dry-run sets (tenantadmin, HSM SO, cloning domain, the partitions' PO and CO): made
 * on the first run (a missing one is added), kept 0600 in the state folder so reruns log in again, never printed.
 */
export function lunaSecrets(dir: string): LunaSecrets {
  const file = path.join(dir, 'appliance-secrets.json');
  const kept = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LunaSecrets>) : {};
  // LunaSH passwords: 8+ characters with upper, lower and digits; base64url plus a fixed suffix guarantees that.
  const make = () => `${randomBytes(12).toString('base64url')}Aa9`;
  const secrets: LunaSecrets = { tenantadmin: kept.tenantadmin ?? make(), so: kept.so ?? make(), domain: kept.domain ?? make(), po: kept.po ?? make(), co: kept.co ?? make() };
  if (Object.keys(kept).length !== Object.keys(secrets).length) writePrivateFile(file, JSON.stringify(secrets));
  return secrets;
}
