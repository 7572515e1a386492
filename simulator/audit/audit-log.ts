import * as fs from 'fs';
import * as path from 'path';
import { ensurePrivateDir, fsyncDir } from '../../files/private-files';

/** Open files kept at most; an hour's file is only written during that hour, so few are ever live. */
const MAX_OPEN = 32;

/** How long a written record may wait for its disk sync. */
const SYNC_WITHIN_MS = 100;

/**
 * The simulator's copy of every audit record: JSON lines in dir/<blob name>, one file per resource and hour,
 * laid out as the blobs they become. append() writes the record to the file (write(2), on the event loop) before
 * it returns: a request is answered only after its record is in the file, so a killed simulator loses none. The
 * write is synchronous because a write to the page cache costs a few µs, where the hop through libuv's pool and
 * back cost each request 70-130 µs of event loop, and the request waited for it (bench/simulator-ab.ts, ES256 c=1).
 * The disk sync (fdatasync) follows within SYNC_WITHIN_MS on libuv's pool, off the request's path: a sign costs
 * about 1.3 ms and a sync about 2 ms on this machine's disk, and Azure itself delivers audit records minutes after
 * the request; only a power loss can take the records of the last SYNC_WITHIN_MS. A line torn by a crash was
 * never acknowledged: it is cut when the file reopens.
 */
export class AuditLog {
  private readonly fds = new Map<string, number>();
  /** Length of each file this process has written: whole records only. */
  private readonly written = new Map<string, number>();
  private closed = false;
  /** Files written since their last sync, and the pending sync of them (its delay, then its fdatasyncs). */
  private readonly unsynced = new Set<number>();
  private syncing: Promise<void> | undefined;
  /** Descriptors an fdatasync is running on: closed only once it has finished (the number could be reused under it). */
  private readonly syncRunning = new Set<number>();
  private readonly closeWhenSynced = new Set<number>();
  /** Called after each record is written (the blob shipper listens). */
  onDurable: () => void = () => undefined;

  constructor(readonly dir: string) {
    ensurePrivateDir(dir);
    // A crash may have torn the last line of any file: cut it before anything reads or ships the file.
    for (const name of this.blobNames()) cutTornTail(this.pathOf(name));
  }

  /** Writes one record; throws (having written nothing) when the disk refuses it. */
  append(blobName: string, record: unknown): void {
    if (this.closed) throw new Error('the audit log is closed');
    const bytes = Buffer.from(JSON.stringify(record) + '\n');
    const fd = this.open(blobName);
    const at = this.written.get(blobName) ?? fs.fstatSync(fd).size;
    try {
      for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      // A partial write (disk full) must not stay in front of the next record.
      fs.ftruncateSync(fd, at);
      throw err;
    }
    this.written.set(blobName, at + bytes.length);
    this.unsynced.add(fd);
    this.onDurable();
    this.syncSoon();
  }

  /** One fdatasync of every written file, SYNC_WITHIN_MS after the first unsynced write. */
  private syncSoon(): void {
    if (this.syncing || !this.unsynced.size) return;
    this.syncing = new Promise<void>((resolve) => setTimeout(resolve, SYNC_WITHIN_MS).unref())
      .then(() => this.syncNow())
      .finally(() => {
        this.syncing = undefined;
        this.syncSoon();
      });
  }

  private async syncNow(): Promise<void> {
    const fds = [...this.unsynced];
    this.unsynced.clear();
    for (const fd of fds) this.syncRunning.add(fd);
    // A failed sync (the disk went away) is not a request's failure: the records are in the file.
    await Promise.all(fds.map((fd) => datasync(fd).catch(() => undefined)));
    for (const fd of fds) this.syncRunning.delete(fd);
    for (const fd of this.closeWhenSynced) if (!this.syncRunning.has(fd)) {
      this.closeWhenSynced.delete(fd);
      fs.closeSync(fd);
    }
  }

  private open(blobName: string): number {
    const have = this.fds.get(blobName);
    if (have !== undefined) return have;
    if (this.fds.size >= MAX_OPEN) this.closeFiles();
    const file = this.pathOf(blobName);
    const dir = path.dirname(file);
    const created = !fs.existsSync(file);
    if (created) ensurePrivateDirs(this.dir, dir);
    else cutTornTail(file);
    const fd = fs.openSync(file, 'a', 0o600);
    if (created) fsyncDir(dir);
    this.fds.set(blobName, fd);
    return fd;
  }

  pathOf(blobName: string): string {
    const file = path.join(this.dir, ...blobName.split('/'));
    if (!file.startsWith(this.dir + path.sep)) throw new Error(`audit blob name ${blobName.slice(0, 80)} leaves the audit folder`);
    return file;
  }

  /** Every blob name held locally, oldest hour first. */
  blobNames(): string[] {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const e of fs.readdirSync(path.join(this.dir, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(r);
        else if (e.name === 'PT1H.json') out.push(r);
      }
    };
    walk('');
    return out.sort();
  }

  /** Bytes of a local file that are whole records. */
  size(blobName: string): number {
    return this.written.get(blobName) ?? fs.statSync(this.pathOf(blobName)).size;
  }

  read(blobName: string, start: number, end: number): Buffer {
    const fd = fs.openSync(this.pathOf(blobName), 'r');
    try {
      const buf = Buffer.alloc(end - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      return buf;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Closes every open file, syncing those written since their last sync; one under a running sync closes after it. */
  private closeFiles(): void {
    for (const fd of this.fds.values()) {
      if (this.unsynced.delete(fd)) fs.fdatasyncSync(fd);
      if (this.syncRunning.has(fd)) this.closeWhenSynced.add(fd);
      else fs.closeSync(fd);
    }
    this.fds.clear();
    this.written.clear();
  }

  /** Waits for the sync under way, then syncs and closes the files. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.syncing) await this.syncing;
    this.closeFiles();
  }
}

/** 0700 folders from root down to dir, each new one made durable in its parent. */
function ensurePrivateDirs(root: string, dir: string): void {
  const missing: string[] = [];
  for (let d = dir; d !== root && !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    fs.mkdirSync(d, { mode: 0o700 });
    fsyncDir(path.dirname(d));
  }
}

/** Drops a last line without its newline: a write a crash interrupted, whose request was never answered. */
function cutTornTail(file: string): void {
  const size = fs.statSync(file).size;
  if (size === 0) return;
  const fd = fs.openSync(file, 'r+');
  try {
    const tail = Buffer.alloc(Math.min(size, 64 * 1024));
    let end = size;
    for (;;) {
      const start = Math.max(0, end - tail.length);
      const n = fs.readSync(fd, tail, 0, end - start, start);
      const nl = tail.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) {
        end = start + nl + 1;
        break;
      }
      if (start === 0) {
        end = 0;
        break;
      }
      end = start;
    }
    if (end !== size) {
      fs.ftruncateSync(fd, end);
      fs.fsyncSync(fd);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}
