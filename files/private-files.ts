import * as fs from 'fs';
import * as path from 'path';

/** Creates a folder readable only by its owner (0700), tightening it if it already exists. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/**
 * Replaces a file atomically: write a temp file, fsync it, rename over the target, fsync the folder.
 * A crash leaves either the old or the new content, never a torn file.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    try {
      fs.writeFileSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (err) {
    // A half-written temp file would keep a full disk full.
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** Secret material (keys, PINs, client secrets): 0600 inside a 0700 folder. */
export function writePrivateFile(file: string, data: string | Buffer): void {
  ensurePrivateDir(path.dirname(file));
  writeFileAtomic(file, data, 0o600);
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
