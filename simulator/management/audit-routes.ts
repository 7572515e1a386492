import { timingSafeEqual } from 'crypto';
import { Router } from '../http/router';
import { errors } from '../http/errors';
import { jsonBody, reqString } from '../http/validate';
import { AuditTrail } from '../audit/audit-trail';

/**
 * Management API for the AuditEvent trail, standing in for a diagnostic setting's storage-account destination:
 * PUT /_simulator/audit/destination {containerUrl, sas} says where records go (the SAS stays in memory), GET
 * shows it (without the SAS), POST /_simulator/audit/flush delivers every durable record now.
 */
export function addAuditRoutes(r: Router, deps: { audit: AuditTrail; managementToken: string }): void {
  const guard = (authorization: string | undefined) => {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const given = Buffer.from(m?.[1] ?? '');
    const want = Buffer.from(deps.managementToken);
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw errors.unauthorized('The management API needs the token from secrets/management.token.');
  };

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

  r.add('GET', '/_simulator/audit/destination', (ctx) => {
    guard(ctx.headers.authorization);
    const d = deps.audit.destination();
    if (!d) throw errors.notFound('No audit log destination is set.');
    return { status: 200, body: d };
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
