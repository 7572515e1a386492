import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { deliverSimulatorAudit } from '../simulator-audit';
import { ContainerClient } from '@azure/storage-blob';
import { AUDIT_CONTAINER, callerOf } from '../../../formats/audit-event';
import { readAuditEvents } from '../../audit/audit-reader';

/**
 * Step 9c: reads back the audit trail of the ceremonies this run drove, as an auditor would: the Managed HSMs'
 * AuditEvent records, delivered to the insights-logs-auditevent container of the run's Azurite (the stand-in for
 * the diagnostic setting's storage account), read with the same reader as `hsmctl audit`. It reports how many
 * requests each HSM logged, by operation, which were refused and by whom, and fails if the trail is empty.
 */
export function auditTrailStep(ctx: DryRunContext): Step {
  const runStarted = new Date(Date.now() - 1000);
  return {
    name: 'read the audit trail',
    async run({ say, skip }) {
      const hsms = ctx.estate!.managedHsms.map((m) => m.name.toLowerCase());
      if (hsms.length === 0) return skip('no Managed HSM: no AuditEvent logs to read');
      const storage = await ctx.azurite!.containerSas(AUDIT_CONTAINER, { permissions: 'racwl' });
      await deliverSimulatorAudit(ctx.simulatorDir, { containerUrl: storage.containerUri, sas: storage.sas });
      const { events, blobs } = await readAuditEvents(new ContainerClient(`${storage.containerUri}?${storage.sas}`), { since: runStarted });
      const mine = events.filter((e) => hsms.includes(e.resource.toLowerCase()));
      say(`${mine.length} AuditEvent record(s) of this run in ${blobs} hourly blob(s) of ${storage.containerUri}`);
      const report: Record<string, unknown> = {};
      for (const hsm of hsms) {
        const of = mine.filter((e) => e.resource.toLowerCase() === hsm);
        const byOp = new Map<string, number>();
        for (const e of of) byOp.set(e.operationName, (byOp.get(e.operationName) ?? 0) + 1);
        const ops = [...byOp].sort((a, b) => b[1] - a[1]);
        const refused = of.filter((e) => e.resultType !== 'Success');
        const callers = new Set(of.map((e) => callerOf(e)));
        say(`${hsm}: ${of.length} request(s) from ${callers.size} caller(s); ${ops.map(([op, n]) => `${op} ${n}`).join(', ') || 'none'}`);
        for (const e of refused.slice(0, 5)) say(`  refused: ${e.operationName} ${e.httpStatusCode} ${e.resultSignature} by ${callerOf(e)}${e.properties?.id ? ` on ${e.properties.id.replace(/^https:\/\/[^/]+/, '')}` : ''}`);
        if (refused.length > 5) say(`  ... and ${refused.length - 5} more refused request(s)`);
        report[hsm] = { records: of.length, callers: [...callers], operations: Object.fromEntries(ops), refused: refused.length };
      }
      if (mine.length === 0) throw new Error('the ceremonies of this run left no AuditEvent record: the audit trail is not being written');
      ctx.facts.audit = report;
      return { container: storage.containerUri, blobs, records: mine.length, hsms: report };
    },
  };
}
