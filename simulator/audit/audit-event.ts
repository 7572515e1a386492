import { AuditOperation } from './operations';
import { AuditEvent } from '../../formats/audit-event';

export interface AuditRequest {
  tenantId: string;
  /** ARM id of the Managed HSM: /subscriptions/.../resourceGroups/.../providers/Microsoft.KeyVault/managedHSMs/<name>. */
  resourceId: string;
  started: Date;
  durationMs: number;
  method: string;
  /** https://host/path?api-version=...: the request line only. */
  requestUri: string;
  host: string;
  apiVersion: string;
  op: AuditOperation;
  status: number;
  /** The refusal's message (our messages name what was wrong, never a secret). */
  errorMessage?: string;
  caller: { oid: string; appid: string; tid: string };
  /** The address the request came from (the simulator listens on loopback only). */
  callerIpAddress: string;
  clientInfo: string;
  correlationId: string;
}

/** HTTP status as the service's resultSignature names it (the .NET status names Key Vault logs carry). */
const SIGNATURES: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'NoContent',
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  429: 'TooManyRequests',
  500: 'InternalServerError',
};

/** What a record says of its resource, worked out once per resource (a few per simulator) rather than per request. */
const resources = new Map<string, { upper: string; group: string; name: string }>();
function resourceFields(resourceId: string): { upper: string; group: string; name: string } {
  let f = resources.get(resourceId);
  if (!f) {
    const m = /\/resourceGroups\/([^/]+)\/providers\/[^/]+\/[^/]+\/([^/]+)$/i.exec(resourceId);
    f = { upper: resourceId.toUpperCase(), group: m?.[1] ?? '', name: m?.[2] ?? '' };
    if (resources.size >= 256) resources.clear();
    resources.set(resourceId, f);
  }
  return f;
}

/** The identity field, per caller (callers repeat: one per principal that holds a token). */
const identities = new Map<string, string>();
function identityOf(c: AuditRequest['caller']): string {
  const key = `${c.oid}|${c.appid}|${c.tid}`;
  let text = identities.get(key);
  if (text === undefined) {
    text = JSON.stringify({ claim: { appid: c.appid, http_schemas_microsoft_com_identity: { claims: { objectidentifier: c.oid, tenantid: c.tid } } } });
    if (identities.size >= 1024) identities.clear();
    identities.set(key, text);
  }
  return text;
}

export function buildAuditEvent(r: AuditRequest): AuditEvent {
  const resource = resourceFields(r.resourceId);
  const keyId = r.op.key ? `https://${r.host}/keys/${r.op.key}${r.op.version ? `/${r.op.version}` : ''}` : undefined;
  return {
    TenantId: r.tenantId,
    time: r.started.toISOString(),
    resourceId: resource.upper,
    operationName: r.op.operationName,
    operationVersion: r.apiVersion,
    category: 'AuditEvent',
    resultType: r.status < 400 ? 'Success' : 'Failure',
    resultSignature: SIGNATURES[r.status] ?? String(r.status),
    ...(r.errorMessage ? { resultDescription: r.errorMessage } : {}),
    properties: { PoolType: 'M-HSM', sku_Family: 'B', sku_Name: 'Standard_B1', ...(keyId ? { id: keyId } : {}) },
    durationMs: r.durationMs,
    callerIpAddress: r.callerIpAddress,
    identity: identityOf(r.caller),
    clientInfo: r.clientInfo,
    correlationId: r.correlationId,
    subnetId: '(unknown)',
    httpStatusCode: r.status,
    PoolName: resource.name,
    requestUri: r.requestUri,
    resourceGroup: resource.group,
    resourceProvider: 'MICROSOFT.KEYVAULT',
    resource: resource.name,
    resourceType: 'managedHSMs',
  };
}
