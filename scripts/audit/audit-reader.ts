import type { ContainerClient } from '@azure/storage-blob';
import type { AuditEvent } from '../../formats/audit-event';
import { callerOf } from '../../formats/audit-event';

export interface AuditFilter {
  /** Key name (case-insensitive): records whose properties.id names it. */
  key?: string;
  /** Caller object id. */
  principal?: string;
  /** operationName, case-insensitive (KeySign, RoleAssignmentCreate, ...). */
  operation?: string;
  outcome?: 'success' | 'failure';
  /** Records at or after / before these instants. */
  since?: Date;
  until?: Date;
  /** Managed HSM name: only blobs under its resource id. */
  hsm?: string;
}

/** One record as read, with the blob it came from. */
export interface ReadAuditEvent extends AuditEvent {
  blob: string;
}

/**
 * Reads AuditEvent records from a diagnostic setting's storage destination (the insights-logs-auditevent
 * container): every PT1H.json blob under resourceId=..., whose hour can hold matching records, parsed as JSON
 * lines (the current format) or as one JSON array (as Microsoft's sample shows it), then filtered.
 */
export async function readAuditEvents(container: ContainerClient, f: AuditFilter = {}): Promise<{ events: ReadAuditEvent[]; blobs: number; unreadable: number }> {
  const events: ReadAuditEvent[] = [];
  let blobs = 0;
  let unreadable = 0;
  for await (const b of container.listBlobsFlat({ prefix: 'resourceId=' })) {
    if (!b.name.endsWith('/PT1H.json')) continue;
    if (f.hsm && !new RegExp(`/MANAGEDHSMS/${escape(f.hsm.toUpperCase())}/y=`).test(b.name)) continue;
    const hour = hourOf(b.name);
    if (hour && f.since && hour.getTime() + 3600_000 <= f.since.getTime()) continue;
    if (hour && f.until && hour.getTime() >= f.until.getTime()) continue;
    blobs++;
    const text = (await container.getBlobClient(b.name).downloadToBuffer()).toString('utf8');
    for (const e of parse(text)) {
      if (!isAuditEvent(e)) {
        unreadable++;
        continue;
      }
      if (matches(e, f)) events.push({ ...e, blob: b.name });
    }
  }
  events.sort((a, b) => a.time.localeCompare(b.time));
  return { events, blobs, unreadable };
}

export function matches(e: AuditEvent, f: AuditFilter): boolean {
  if (f.operation && e.operationName.toLowerCase() !== f.operation.toLowerCase()) return false;
  if (f.outcome && e.resultType.toLowerCase() !== f.outcome) return false;
  if (f.principal && callerOf(e).toLowerCase() !== f.principal.toLowerCase()) return false;
  if (f.key && keyNameOf(e)?.toLowerCase() !== f.key.toLowerCase()) return false;
  const t = Date.parse(e.time);
  if (f.since && t < f.since.getTime()) return false;
  if (f.until && t >= f.until.getTime()) return false;
  return true;
}

/** The key a record concerns, from properties.id (https://host/keys/<name>[/<version>]). */
export function keyNameOf(e: AuditEvent): string | undefined {
  const m = /\/keys\/([^/]+)/.exec(e.properties?.id ?? '');
  return m?.[1];
}

function parse(text: string): unknown[] {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith('[')) {
    try {
      const a = JSON.parse(t);
      return Array.isArray(a) ? a : [a];
    } catch {
      return [undefined];
    }
  }
  return t.split('\n').map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  });
}

function isAuditEvent(e: unknown): e is AuditEvent {
  const r = e as AuditEvent;
  return !!r && typeof r === 'object' && r.category === 'AuditEvent' && typeof r.time === 'string' && typeof r.operationName === 'string' && typeof r.resultType === 'string';
}

/** The hour of a blob from its path (y=/m=/d=/h=), UTC. */
function hourOf(name: string): Date | undefined {
  const m = /\/y=(\d{4})\/m=(\d{2})\/d=(\d{2})\/h=(\d{2})\//.exec(name);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4])) : undefined;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
