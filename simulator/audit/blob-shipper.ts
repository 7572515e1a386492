import type { ContainerClient } from '@azure/storage-blob';
import { AuditLog } from './audit-log';

/** Azure Storage's largest append block for the service versions Azurite 3.35 speaks. */
const MAX_APPEND_BYTES = 4 * 1024 * 1024;

/**
 * Delivers the local audit files to a storage-account destination: each file becomes the append blob of the same
 * name in the insights-logs-auditevent container, and the blob is always a byte prefix of the local file. The
 * blob's own length is therefore the delivery cursor: after a restart (or a failed append) delivery resumes at
 * it, and every append is conditioned on it (appendPosition), so no record is delivered twice or skipped.
 * Delivery runs shortly after records become durable and on flush(); Azure itself documents up to 10 minutes.
 */
export class AuditBlobShipper {
  /** Known blob lengths, so a quiet file costs no request. */
  private readonly shipped = new Map<string, number>();
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last delivery failure (the destination unreachable, the SAS expired); cleared by a success. */
  lastError: string | undefined;

  constructor(
    private readonly log: AuditLog,
    private readonly container: ContainerClient,
    private readonly delayMs = 200,
  ) {}

  /** Schedules a delivery soon (records just became durable). */
  poke(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.deliver().catch(() => undefined);
    }, this.delayMs);
    this.timer.unref();
  }

  /** Delivers everything durable now; rejects with the reason when the destination refuses. */
  async flush(): Promise<void> {
    await this.deliver();
    if (this.lastError) throw new Error(`audit log delivery failed: ${this.lastError}`);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private deliver(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.deliverOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async deliverOnce(): Promise<void> {
    try {
      await this.container.createIfNotExists().catch((err) => {
        // A container SAS cannot create containers; it is enough that the container exists.
        if ((err as { statusCode?: number }).statusCode !== 403) throw err;
      });
      for (const name of this.log.blobNames()) await this.deliverFile(name);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = describe(err);
    }
  }

  private async deliverFile(name: string): Promise<void> {
    const local = this.log.size(name);
    let at = this.shipped.get(name);
    if (at === local) return;
    const blob = this.container.getAppendBlobClient(name);
    if (at === undefined) at = await blobLength(blob);
    if (at > local) throw new Error(`blob ${name} holds more than the local audit file (${at} > ${local} bytes): it was not written by this simulator's state`);
    while (at < local) {
      const chunk = wholeLines(this.log.read(name, at, Math.min(local, at + MAX_APPEND_BYTES)));
      if (at === 0) await blob.createIfNotExists();
      try {
        await blob.appendBlock(chunk, chunk.length, { conditions: { appendPosition: at } });
      } catch (err) {
        // Someone (an earlier run) appended meanwhile: start again from the blob's real length.
        if ((err as { statusCode?: number }).statusCode === 412) {
          this.shipped.delete(name);
          return this.deliverFile(name);
        }
        throw err;
      }
      at += chunk.length;
      this.shipped.set(name, at);
    }
  }
}

async function blobLength(blob: ReturnType<ContainerClient['getAppendBlobClient']>): Promise<number> {
  try {
    return (await blob.getProperties()).contentLength ?? 0;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return 0;
    throw err;
  }
}

/** The chunk cut after its last newline, so one append never splits a record (a line is far below 4 MiB). */
function wholeLines(b: Buffer): Buffer {
  const nl = b.lastIndexOf(0x0a);
  return nl >= 0 ? b.subarray(0, nl + 1) : b;
}

/** A failure for the log: storage errors carry the request URL, whose SAS must not be shown. */
function describe(err: unknown): string {
  const e = err as { statusCode?: number; code?: string; message?: string };
  const what = e.code ?? (e.statusCode ? `HTTP ${e.statusCode}` : 'error');
  return `${what}: ${(e.message ?? String(err)).replace(/([?&]sig=)[^&\s"]+/gi, '$1***').split('\n')[0].slice(0, 300)}`;
}
