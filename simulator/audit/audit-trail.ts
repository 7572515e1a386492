import * as path from 'path';
import { ContainerClient } from '@azure/storage-blob';
import { AuditEvent, AUDIT_CONTAINER, auditBlobName } from '../../formats/audit-event';
import { AuditLog } from './audit-log';
import { AuditBlobShipper } from './blob-shipper';
import { Logger, silentLogger } from '../logger';

export interface AuditDestination {
  /** https://<account>.blob.core.windows.net/insights-logs-auditevent (or Azurite's), without a query. */
  containerUrl: string;
  /** A SAS for that container (create, add, write, read); kept in memory only. */
  sas: string;
}

/**
 * The simulator's AuditEvent trail: every record is first made durable in stateDir/audit (so nothing answered
 * is lost on a crash), then delivered to the storage-account destination a diagnostic setting names, when one is
 * set. The destination is held in memory only (its SAS is a secret): after a restart it is set again, and
 * delivery resumes where the blobs end.
 */
export class AuditTrail {
  readonly log: AuditLog;
  private shipper: AuditBlobShipper | undefined;
  private destinationUrl: string | undefined;

  /** Records that could not be written (the state disk full or failing): counted and logged, never silent. */
  lost = 0;

  constructor(stateDir: string, private readonly logger: Logger = silentLogger) {
    this.log = new AuditLog(path.join(stateDir, 'audit'));
    this.log.onDurable = () => this.shipper?.poke();
  }

  /**
   * Returns once the record is written. The request it records has already been carried out (or refused), so a
   * record that cannot be written must not turn the answer into a failure the client would misread: it is logged
   * and counted instead, and the answer goes out as it was.
   */
  record(e: AuditEvent): void {
    try {
      this.log.append(this.blobNameOf(e), e);
    } catch (err) {
      this.lost++;
      this.logger.error(`audit: the record of ${e.operationName} (correlation ${e.correlationId}, answered ${e.httpStatusCode}) could not be written: ${(err as Error).message}`);
    }
  }

  /** The hour's blob of the record's resource; the last one per resource is kept, as records come in time order. */
  private readonly blobNames = new Map<string, { hour: string; name: string }>();
  private blobNameOf(e: AuditEvent): string {
    const hour = e.time.slice(0, 13);
    const last = this.blobNames.get(e.resourceId);
    if (last?.hour === hour) return last.name;
    const name = auditBlobName(e.resourceId, new Date(e.time));
    this.blobNames.set(e.resourceId, { hour, name });
    return name;
  }

  /** Starts delivering to a container (replacing any earlier destination) and delivers what is pending. */
  deliverTo(d: AuditDestination): void {
    const url = d.containerUrl.replace(/\/+$/, '');
    if (!/^https?:\/\/[^?#]+$/i.test(url)) throw new Error('the audit destination must be a container URL without a query (give the SAS separately)');
    if (!url.endsWith(`/${AUDIT_CONTAINER}`)) throw new Error(`the audit destination must be the ${AUDIT_CONTAINER} container of a storage account; got ${url.slice(0, 200)}`);
    this.shipper?.stop();
    this.shipper = new AuditBlobShipper(this.log, new ContainerClient(`${url}?${d.sas.replace(/^\?/, '')}`, undefined, { retryOptions: { maxTries: 2, retryDelayInMs: 100 } }));
    this.destinationUrl = url;
    this.shipper.poke();
  }

  /** Where records go (no SAS) and the last delivery failure, if any. */
  destination(): { containerUrl: string; lastError?: string } | undefined {
    return this.destinationUrl ? { containerUrl: this.destinationUrl, ...(this.shipper?.lastError ? { lastError: this.shipper.lastError } : {}) } : undefined;
  }

  /** Delivers every durable record now; fails when no destination is set or it refuses. */
  async flush(): Promise<void> {
    if (!this.shipper) throw new Error('no audit log destination is set');
    await this.shipper.flush();
  }

  async close(): Promise<void> {
    this.shipper?.stop();
    await this.log.close();
  }
}
