import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../../files/private-files';

/**
 * A partition's SoftHSM2 token as files, for replication between the members of an HA group. SoftHSM2's file
 * store keeps a token in tokens/<uuid>/: token.object (label, serial, the token key under the SO and user
 * PINs), one <uuid>.object per object (sensitive attributes encrypted under the token key) with its .lock,
 * and a `generation` counter that other processes compare to notice changes. Two members holding the same
 * token (cloned once, as Luna clones a partition within its cloning domain) can exchange object files as they
 * are: each file is only readable with that token's key.
 */
export class TokenFiles {
  constructor(private readonly tokensDir: string) {}

  /** The folder of the token whose label is `label` (space-padded to 32 bytes in token.object). */
  dirOf(label: string): string | undefined {
    const needle = Buffer.from(label.padEnd(32, ' '));
    if (!fs.existsSync(this.tokensDir)) return undefined;
    for (const d of fs.readdirSync(this.tokensDir)) {
      const f = path.join(this.tokensDir, d, 'token.object');
      if (fs.existsSync(f) && fs.readFileSync(f).includes(needle)) return path.join(this.tokensDir, d);
    }
    return undefined;
  }

  /** The object files of the token: name (<uuid>.object) -> bytes. */
  objects(label: string): Map<string, Buffer> {
    const dir = this.require(label);
    const out = new Map<string, Buffer>();
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.object') && f !== 'token.object') out.set(f, fs.readFileSync(path.join(dir, f)));
    return out;
  }

  /** Writes and removes object files, then advances the token's generation so running SoftHSM2s re-read it. */
  apply(label: string, write: Map<string, Buffer>, remove: string[]): boolean {
    const dir = this.require(label);
    let changed = false;
    for (const [name, data] of write) {
      checkName(name);
      const file = path.join(dir, name);
      if (fs.existsSync(file) && fs.readFileSync(file).equals(data)) continue;
      const lock = path.join(dir, name.replace(/\.object$/, '.lock'));
      if (!fs.existsSync(lock)) fs.writeFileSync(lock, '', { mode: 0o600 });
      writeFileAtomic(file, data, 0o600);
      changed = true;
    }
    for (const name of remove) {
      checkName(name);
      const file = path.join(dir, name);
      if (!fs.existsSync(file)) continue;
      fs.rmSync(file);
      fs.rmSync(path.join(dir, name.replace(/\.object$/, '.lock')), { force: true });
      changed = true;
    }
    if (changed) this.bumpGeneration(dir);
    return changed;
  }

  /** The whole token (token.object and objects), to clone it to a new member. */
  snapshot(label: string): Record<string, string> {
    const dir = this.require(label);
    const out: Record<string, string> = {};
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.object')) out[f] = fs.readFileSync(path.join(dir, f)).toString('base64');
    return out;
  }

  /**
   * Replaces the token's files with a clone's (the caller has closed every user of the token). Safe to do again
   * after a crash part-way: token.object (the same label on both sides) is replaced first and atomically, so the
   * folder is always found by its label; then objects the clone lacks go and the clone's are written.
   */
  replace(label: string, files: Record<string, string>): void {
    const dir = this.require(label);
    for (const name of Object.keys(files)) if (name !== 'token.object') checkName(name);
    if (!files['token.object']) throw new Error('a token clone without token.object');
    writeFileAtomic(path.join(dir, 'token.object'), Buffer.from(files['token.object'], 'base64'), 0o600);
    for (const f of fs.readdirSync(dir)) {
      const object = f.replace(/\.lock$/, '.object');
      if ((f.endsWith('.object') || f.endsWith('.lock')) && !(object in files)) fs.rmSync(path.join(dir, f));
    }
    for (const [name, b64] of Object.entries(files)) {
      if (name === 'token.object') continue;
      writeFileAtomic(path.join(dir, name), Buffer.from(b64, 'base64'), 0o600);
      const lock = path.join(dir, name.replace(/\.object$/, '.lock'));
      if (!fs.existsSync(lock)) fs.writeFileSync(lock, '', { mode: 0o600 });
    }
    this.bumpGeneration(dir);
  }

  private require(label: string): string {
    const dir = this.dirOf(label);
    if (!dir) throw new Error(`no token for partition ${label}`);
    return dir;
  }

  /** SoftHSM2's generation file: an 8-byte big-endian counter. */
  private bumpGeneration(dir: string): void {
    const file = path.join(dir, 'generation');
    const now = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(8);
    const next = Buffer.alloc(8);
    next.writeBigUInt64BE((now.length === 8 ? now.readBigUInt64BE(0) : 0n) + 1n);
    writeFileAtomic(file, next, 0o600);
  }
}

/** Object file names are SoftHSM2's UUIDs: anything else (a path, a dot file) is refused. */
function checkName(name: string): void {
  if (!/^[0-9a-f-]{36}\.object$/.test(name)) throw new Error(`not a token object file name: ${JSON.stringify(name.slice(0, 60))}`);
}
