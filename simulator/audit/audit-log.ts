import * as fs from 'fs';
import * as path from 'path';
import { ensurePrivateDir, fsyncDir } from '../../files/private-files';

interface Pending {
  file: string;
  line: string;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** Open files kept at most; an hour's file is only written during that hour, so few are ever live. */
const MAX_OPEN = 32;

/** How long a written record may wait for its disk sync. */
const SYNC_WITHIN_MS = 100;

/**
 * The simulator's copy of every audit record: JSON lines in dir/<blob name>, one file per resource and hour,
 * laid out as the blobs they become. append() resolves once the record is written to the file (write(2)), and
 * records appended while a write is in flight share the next one (group commit): a request is answered only
 * after its record is in the file, so a killed simulator loses none. The disk sync (fdatasync) follows within
 * SYNC_WITHIN_MS, off the request's path: a sign costs about 1.3 ms and a sync about 2 ms on this machine's disk,
 * and Azure itself delivers audit records minutes after the request; only a power loss can take the records
 * of the last SYNC_WITHIN_MS. A line torn by a crash was never acknowledged: it is cut when the file reopens.
 */
export class AuditLog {
  private readonly fds = new Map<string, number>();
  /** Durable length of each file written by this process (a write in flight is not yet durable). */
  private readonly durable = new Map<string, number>();
  private queue: Pending[] = [];
  private writing = false;
  private closed = false;
  /** Files written since their last sync, and the pending sync of them (its delay, then its fdatasyncs). */
  private readonly unsynced = new Set<number>();
  private syncing: Promise<void> | undefined;
  /** The fdatasyncs running now: their descriptors must stay open until they finish. */
  private syncRunning: Promise<void> | undefined;
  /** Called after each durable batch (the blob shipper listens). */
  onDurable: () => void = () => undefined;

  constructor(readonly dir: string) {
    ensurePrivateDir(dir);
    // A crash may have torn the last line of any file: cut it before anything reads or ships the file.
    for (const name of this.blobNames()) cutTornTail(this.pathOf(name));
  }

  append(blobName: string, record: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the audit log is closed'));
    const line = JSON.stringify(record) + '\n';
    return new Promise((resolve, reject) => {
      this.queue.push({ file: blobName, line, resolve, reject });
      if (!this.writing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.writing = true;
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      const byFile = new Map<string, Pending[]>();
      for (const p of batch) byFile.set(p.file, [...(byFile.get(p.file) ?? []), p]);
      for (const [file, items] of byFile) {
        try {
          const fd = await this.open(file);
          const bytes = Buffer.from(items.map((i) => i.line).join(''));
          const at = this.durable.get(file) ?? fs.fstatSync(fd).size;
          try {
            await writeAll(fd, bytes);
          } catch (err) {
            // A partial write (disk full) must not stay in front of the next record.
            fs.ftruncateSync(fd, at);
            throw err;
          }
          this.durable.set(file, at + bytes.length);
          this.unsynced.add(fd);
          for (const i of items) i.resolve();
        } catch (err) {
          for (const i of items) i.reject(err as Error);
        }
      }
      this.onDurable();
    }
    this.writing = false;
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
    // A failed sync (the disk went away) is not a request's failure: the records are in the file.
    const running = Promise.all(fds.map((fd) => datasync(fd).catch(() => undefined))).then(() => undefined);
    this.syncRunning = running;
    try {
      await running;
    } finally {
      if (this.syncRunning === running) this.syncRunning = undefined;
    }
  }

  private async open(blobName: string): Promise<number> {
    const have = this.fds.get(blobName);
    if (have !== undefined) return have;
    if (this.fds.size >= MAX_OPEN) await this.closeFiles();
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

  /** Bytes of a local file that are durable records (whole lines, never a write still in flight). */
  size(blobName: string): number {
    return this.durable.get(blobName) ?? fs.statSync(this.pathOf(blobName)).size;
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

  /**
   * Closes every open file, syncing those written since their last sync. A background sync still running on them is
   * waited for first: closing a descriptor under it would sync (or fail on) whatever file reuses the number next.
   */
  private async closeFiles(): Promise<void> {
    while (this.syncRunning) await this.syncRunning;
    for (const fd of this.fds.values()) {
      if (this.unsynced.delete(fd)) fs.fdatasyncSync(fd);
      fs.closeSync(fd);
    }
    this.fds.clear();
    this.durable.clear();
  }

  /** Waits for queued records, then closes the files. */
  async close(): Promise<void> {
    while (this.writing || this.queue.length) await new Promise((r) => setTimeout(r, 5));
    await this.syncing;
    this.closed = true;
    await this.closeFiles();
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

async function writeAll(fd: number, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    off += await new Promise<number>((resolve, reject) => fs.write(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve(n))));
  }
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}
