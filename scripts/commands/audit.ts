import { Command } from '../command';
import { ParsedFlags, UsageError } from '../flags';
import { STORAGE_FLAGS } from './backup-start';
import { readSas, storageUrl } from '../ceremonies/run';
import type { AuditFilter } from '../audit/audit-reader';
import { GUID } from '../guid';


export const auditCommand: Command = {
  details: [
    'Reads the insights-logs-auditevent container that a diagnostic setting with a storage-account destination fills',
    '(blobs resourceId=<HSM id>/y=/m=/d=/h=/m=00/PT1H.json), from Azure Storage or the simulator\'s Azurite, and prints',
    'one line per record: time, operation, outcome and HTTP status, caller object id, key, duration. Filters combine.',
    'Azure delivers records up to 10 minutes after the request.',
    '',
    'example: hsmctl audit --storage-url https://acct.blob.core.windows.net/insights-logs-auditevent --sas-file sas.txt --key app-signing --outcome failure --since P1D',
  ].join('\n'),
  flags: {
    ...STORAGE_FLAGS,
    key: { type: 'string', value: 'NAME', description: 'only records about this key' },
    principal: { type: 'string', value: 'OBJECT-ID', description: "only this caller's records" },
    operation: { type: 'string', value: 'NAME', description: 'only this operationName (KeySign, KeyCreate, RoleAssignmentCreate, ...)' },
    outcome: { type: 'string', value: 'success|failure', description: 'only allowed (success) or refused and failed (failure) requests' },
    since: { type: 'string', value: 'TIME', description: 'records at or after an ISO 8601 instant, or an ISO 8601 duration ago (P1D, PT2H)' },
    until: { type: 'string', value: 'TIME', description: 'records before an ISO 8601 instant, or an ISO 8601 duration ago' },
    'hsm-name': { type: 'string', value: 'NAME', description: 'only the records of this Managed HSM (the container may hold several)' },
    json: { type: 'boolean', description: 'print the matching records as JSON' },
  },
  async run(flags) {
    const filter = auditFilter(flags);
    const url = storageUrl(flags);
    if (!/\/insights-logs-auditevent$/i.test(url)) throw new UsageError(`--storage-url must be the insights-logs-auditevent container of the storage account; got ${url.slice(0, 200)}`);
    const sas = readSas(flags);
    const { ContainerClient } = require('@azure/storage-blob') as typeof import('@azure/storage-blob');
    const { readAuditEvents } = require('../audit/audit-reader') as typeof import('../audit/audit-reader');
    const { callerOf } = require('../../formats/audit-event') as typeof import('../../formats/audit-event');
    const container = new ContainerClient(`${url}?${sas}`, undefined, { retryOptions: { maxTries: 2, retryDelayInMs: 200 } });
    let read;
    try {
      read = await readAuditEvents(container, filter);
    } catch (err) {
      const e = err as { statusCode?: number; code?: string };
      throw new Error(`could not read ${url}: ${e.code ?? (e.statusCode ? `HTTP ${e.statusCode}` : (err as Error).message.split('\n')[0].replace(/sig=[^&\s]+/g, 'sig=***'))}`);
    }
    const { events, blobs, unreadable } = read;
    if (flags.json) {
      console.log(JSON.stringify(events.map(({ blob: _blob, ...e }) => e), null, 2));
      return 0;
    }
    for (const e of events) {
      const key = /\/keys\/([^/]+)/.exec(e.properties?.id ?? '')?.[1] ?? '-';
      console.log(`${e.time}  ${e.operationName.padEnd(28)} ${`${e.resultType} ${e.httpStatusCode}`.padEnd(13)} ${callerOf(e).padEnd(36)}  ${key.padEnd(20)} ${e.durationMs} ms`);
    }
    const failures = events.filter((e) => e.resultType !== 'Success').length;
    console.log(`${events.length} record(s) (${failures} refused or failed) in ${blobs} blob(s)${unreadable ? `; ${unreadable} unreadable line(s) skipped` : ''}`);
    return 0;
  },
};

/** The filters from the flags, each checked: a bad value is a usage error naming what is allowed. */
export function auditFilter(flags: ParsedFlags, now = Date.now()): AuditFilter {
  const f: AuditFilter = {};
  const s = (n: string) => flags[n] as string | undefined;
  if (s('key') !== undefined) {
    if (!/^[A-Za-z0-9-]{1,127}$/.test(s('key')!)) throw new UsageError(`--key must be a key name (1-127 letters, digits and hyphens); got ${JSON.stringify(s('key')!.slice(0, 40))}`);
    f.key = s('key');
  }
  if (s('principal') !== undefined) {
    if (!GUID.test(s('principal')!)) throw new UsageError(`--principal must be an object id (GUID); got ${JSON.stringify(s('principal')!.slice(0, 40))}`);
    f.principal = s('principal');
  }
  if (s('operation') !== undefined) {
    if (!/^[A-Za-z]{2,64}$/.test(s('operation')!)) throw new UsageError(`--operation must be an operationName such as KeySign or RoleAssignmentCreate; got ${JSON.stringify(s('operation')!.slice(0, 40))}`);
    f.operation = s('operation');
  }
  if (s('outcome') !== undefined) {
    const o = s('outcome')!.toLowerCase();
    if (o !== 'success' && o !== 'failure') throw new UsageError(`--outcome must be success or failure; got ${JSON.stringify(s('outcome')!.slice(0, 40))}`);
    f.outcome = o;
  }
  if (s('since') !== undefined) f.since = instant('since', s('since')!, now);
  if (s('until') !== undefined) f.until = instant('until', s('until')!, now);
  if (f.since && f.until && f.since >= f.until) throw new UsageError('--since must be earlier than --until');
  if (s('hsm-name') !== undefined) {
    if (!/^[A-Za-z][A-Za-z0-9-]{2,23}$/.test(s('hsm-name')!)) throw new UsageError(`--hsm-name must be a Managed HSM name (3-24 letters, digits, hyphens); got ${JSON.stringify(s('hsm-name')!.slice(0, 40))}`);
    f.hsm = s('hsm-name');
  }
  return f;
}

/** An ISO 8601 instant with a time zone, or an ISO 8601 duration (days, hours, minutes) back from now. */
function instant(flag: string, v: string, now: number): Date {
  const d = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(v);
  if (d && v !== 'P' && v !== 'PT') return new Date(now - ((+(d[1] ?? 0) * 24 + +(d[2] ?? 0)) * 60 + +(d[3] ?? 0)) * 60_000);
  if (/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v) && !Number.isNaN(Date.parse(v))) return new Date(v);
  throw new UsageError(`--${flag} must be an ISO 8601 instant (2025-01-31T12:00:00Z) or duration ago (P1D, PT2H); got ${JSON.stringify(v.slice(0, 40))}`);
}
