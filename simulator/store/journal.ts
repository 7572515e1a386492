import * as fs from 'fs';
import * as path from 'path';
import { createHash } from 'crypto';
import { ensurePrivateDir, fsyncDir, writeFileAtomic } from '../../files/private-files';
import { StateStorageError } from './state-disk';

/** One change: upsert `value` under (collection, id), or delete it when value is undefined. */
export interface Op {
  c: string;
  id: string;
  v?: unknown;
}

type Collections = Map<string, Map<string, unknown>>;

/** Lines past this many trigger a compaction into the snapshot. */
const COMPACT_AFTER = 5000;

/**
 * The crash-safe metadata store: a snapshot (replaced atomically) plus an append-only journal of checksummed
 * lines, each one commit of whole records. A kill -9 mid-append leaves a torn last line, which fails its
 * checksum and is cut off at the next start: the state is always the last complete commit. Commits queued
 * while a write is in flight share its fsync (group commit); a commit becomes visible only once durable.
 * A write the disk refuses (full, I/O error) is cut off again at once, so that a later commit is never appended
 * after a torn line (the next start would drop it), and rejects with a StateStorageError naming the cause.
 */
export class Journal {
  private readonly data: Collections = new Map();
  private fd: number;
  private lines = 0;
  /** Bytes of the journal that hold complete, durable commits: a failed append is truncated back to this. */
  private goodSize = 0;
  /** A failed append could not be cut off yet: the next flush tries again before it writes. */
  private torn = false;
  private queue: Array<{ ops: Op[]; resolve: () => void; reject: (e: Error) => void }> = [];
  private writing = false;
  private closed = false;

  private constructor(private readonly dir: string) {
    ensurePrivateDir(dir);
    this.load();
    this.fd = fs.openSync(this.journalPath, 'a', 0o600);
  }

  static open(dir: string): Journal {
    return new Journal(dir);
  }

  private get journalPath(): string {
    return path.join(this.dir, 'journal.log');
  }

  private get snapshotPath(): string {
    return path.join(this.dir, 'snapshot.json');
  }

  private load(): void {
    if (fs.existsSync(this.snapshotPath)) {
      const snap = JSON.parse(fs.readFileSync(this.snapshotPath, 'utf8')) as Record<string, Record<string, unknown>>;
      for (const [c, entries] of Object.entries(snap)) this.data.set(c, new Map(Object.entries(entries)));
    }
    if (!fs.existsSync(this.journalPath)) return;
    const buf = fs.readFileSync(this.journalPath);
    let good = 0;
    let pos = 0;
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl === -1) break;
      const line = buf.subarray(pos, nl).toString('utf8');
      const tab = line.indexOf('\t');
      const json = line.slice(tab + 1);
      if (tab !== 16 || checksum(json) !== line.slice(0, 16)) break;
      this.apply(JSON.parse(json) as Op[]);
      pos = nl + 1;
      good = pos;
    }
    if (good < buf.length) fs.truncateSync(this.journalPath, good);
    // Fold the replayed journal into a fresh snapshot so each start begins from a short journal.
    this.writeSnapshot();
  }

  private writeSnapshot(): void {
    const snap: Record<string, Record<string, unknown>> = {};
    for (const [c, m] of this.data) snap[c] = Object.fromEntries(m);
    writeFileAtomic(this.snapshotPath, JSON.stringify(snap), 0o600);
    // Replaying the journal over this snapshot is harmless (whole-record upserts), so a crash here is safe.
    fs.truncateSync(this.journalPath);
    fsyncDir(this.dir);
    this.lines = 0;
    this.goodSize = 0;
  }

  private apply(ops: Op[]): void {
    for (const op of ops) {
      let m = this.data.get(op.c);
      if (!m) this.data.set(op.c, (m = new Map()));
      if (op.v === undefined) m.delete(op.id);
      else m.set(op.id, op.v);
    }
  }

  get<T>(c: string, id: string): T | undefined {
    return this.data.get(c)?.get(id) as T | undefined;
  }

  list<T>(c: string): T[] {
    return [...(this.data.get(c)?.values() ?? [])] as T[];
  }

  entries<T>(c: string): Array<[string, T]> {
    return [...(this.data.get(c)?.entries() ?? [])] as Array<[string, T]>;
  }

  /** Names of the collections that hold at least one record and start with prefix. */
  collections(prefix = ''): string[] {
    return [...this.data.entries()].filter(([c, m]) => c.startsWith(prefix) && m.size > 0).map(([c]) => c);
  }

  /** Durably records ops as one unit; resolves once they are on disk and visible. */
  commit(ops: Op[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    // Values are copied so later mutation of the caller's objects cannot change committed state.
    const frozen = ops.map((o) => ({ c: o.c, id: o.id, v: o.v === undefined ? undefined : JSON.parse(JSON.stringify(o.v)) }));
    return new Promise((resolve, reject) => {
      this.queue.push({ ops: frozen, resolve, reject });
      if (!this.writing) this.flush();
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) {
      this.writing = false;
      return;
    }
    this.writing = true;
    if (this.torn) {
      try {
        fs.ftruncateSync(this.fd, this.goodSize);
        this.torn = false;
      } catch (err) {
        return this.fail(batch, err as Error);
      }
    }
    const text = batch
      .map((b) => {
        const json = JSON.stringify(b.ops);
        return `${checksum(json)}\t${json}\n`;
      })
      .join('');
    fs.writeFile(this.fd, text, (werr) => {
      if (werr) return this.fail(batch, werr);
      fs.fdatasync(this.fd, (serr) => {
        if (serr) return this.fail(batch, serr);
        for (const b of batch) this.apply(b.ops);
        this.lines += batch.length;
        this.goodSize += Buffer.byteLength(text);
        for (const b of batch) b.resolve();
        if (this.lines > COMPACT_AFTER) {
          try {
            this.writeSnapshot();
          } catch {
            // Compaction is an optimisation; the journal still holds everything.
          }
        }
        this.flush();
      });
    });
  }

  /** Cuts off whatever part of the batch reached the file, then rejects it: none of it was acknowledged. */
  private fail(batch: Array<{ reject: (e: Error) => void }>, err: Error): void {
    try {
      fs.ftruncateSync(this.fd, this.goodSize);
    } catch {
      this.torn = true;
    }
    const reason = StateStorageError.from(err, this.dir) ?? err;
    for (const b of batch) b.reject(reason);
    this.flush();
  }

  /** Waits for queued commits, then closes the file. */
  async close(): Promise<void> {
    while (this.writing || this.queue.length) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function checksum(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}
