import { Router } from '../http/router';
import { errors } from '../http/errors';
import { managementGuard } from './token-guard';
import { jsonBody, reqString } from '../http/validate';
import { AuditTrail } from '../audit/audit-trail';

/**
 * Management API for the AuditEvent trail, standing in for a diagnostic setting's storage-account destination:
 * PUT /_simulator/audit/destination {containerUrl, sas} says where records go (the SAS stays in memory), GET
 * shows it (without the SAS) with the count of records the disk refused, POST /_simulator/audit/flush delivers
 * every durable record now.
 */
export function addAuditRoutes(r: Router, deps: { audit: AuditTrail; managementToken: string }): void {
  const guard = managementGuard(deps.managementToken);

  r.add('PUT', '/_simulator/audit/destination', (ctx) => {
    guard(ctx.headers.authorization);
    const b = jsonBody(ctx);
    try {
      deps.audit.deliverTo({ containerUrl: reqString(b, 'containerUrl'), sas: reqString(b, 'sas') });
    } catch (err) {
      throw errors.badParameter((err as Error).message);
    }
    return { status: 200, body: deps.audit.destination() };
  });

  // Where records go (containerUrl and lastError once a destination is set) and how many the disk refused (lost).
  r.add('GET', '/_simulator/audit/destination', (ctx) => {
    guard(ctx.headers.authorization);
    return { status: 200, body: { ...deps.audit.destination(), lost: deps.audit.lost } };
  });

  r.add('POST', '/_simulator/audit/flush', async (ctx) => {
    guard(ctx.headers.authorization);
    try {
      await deps.audit.flush();
    } catch (err) {
      throw errors.conflict((err as Error).message);
    }
    return { status: 200, body: deps.audit.destination() };
  });
}
