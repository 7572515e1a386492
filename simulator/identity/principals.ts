import * as path from 'path';
import { createHash, randomBytes, timingSafeEqual } from 'crypto';
import { Journal } from '../store/journal';
import { writePrivateFile } from '../../files/private-files';

interface PrincipalRecord {
  objectId: string;
  salt: string;
  secretHash: string;
}

const C = 'principals';
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Service principals that may get tokens: client id = object id, and a client secret of which only a salted
 * hash is stored. A principal created without a given secret gets a random one, written to
 * secrets/<objectId>.secret (0600 in a 0700 folder) for the scripts that act as it.
 */
export class Principals {
  constructor(private readonly store: Journal, private readonly stateDir: string) {}

  secretFile(objectId: string): string {
    return path.join(this.stateDir, 'secrets', `${objectId.toLowerCase()}.secret`);
  }

  has(objectId: string): boolean {
    return !!this.store.get(C, objectId.toLowerCase());
  }

  /** Registers (or re-keys) a principal; returns its secret. */
  async register(objectId: string, secret?: string): Promise<string> {
    if (!GUID.test(objectId)) throw new Error(`principal object id must be a GUID, got ${JSON.stringify(objectId.slice(0, 64))}`);
    const s = secret ?? randomBytes(24).toString('base64url');
    if (!secret) writePrivateFile(this.secretFile(objectId), s + '\n');
    const salt = randomBytes(16).toString('hex');
    await this.store.commit([{ c: C, id: objectId.toLowerCase(), v: { objectId: objectId.toLowerCase(), salt, secretHash: hash(salt, s) } }]);
    return s;
  }

  /** Creates a principal with a generated secret only if it does not exist yet. */
  async ensure(objectId: string): Promise<void> {
    if (!this.has(objectId)) await this.register(objectId);
  }

  authenticate(objectId: string, secret: string): 'ok' | 'unknown' | 'bad-secret' {
    const p = this.store.get<PrincipalRecord>(C, objectId.toLowerCase());
    if (!p) return 'unknown';
    const a = Buffer.from(hash(p.salt, secret), 'hex');
    const b = Buffer.from(p.secretHash, 'hex');
    return timingSafeEqual(a, b) ? 'ok' : 'bad-secret';
  }
}

function hash(salt: string, secret: string): string {
  return createHash('sha256').update(salt).update('\0').update(secret).digest('hex');
}
