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

export function buildAuditEvent(r: AuditRequest): AuditEvent {
  const id = /\/resourceGroups\/([^/]+)\/providers\/[^/]+\/[^/]+\/([^/]+)$/i.exec(r.resourceId);
  const keyId = r.op.key ? `https://${r.host}/keys/${r.op.key}${r.op.version ? `/${r.op.version}` : ''}` : undefined;
  return {
    TenantId: r.tenantId,
    time: r.started.toISOString(),
    resourceId: r.resourceId.toUpperCase(),
    operationName: r.op.operationName,
    operationVersion: r.apiVersion,
    category: 'AuditEvent',
    resultType: r.status < 400 ? 'Success' : 'Failure',
    resultSignature: SIGNATURES[r.status] ?? String(r.status),
    ...(r.errorMessage ? { resultDescription: r.errorMessage } : {}),
    properties: { PoolType: 'M-HSM', sku_Family: 'B', sku_Name: 'Standard_B1', ...(keyId ? { id: keyId } : {}) },
    durationMs: r.durationMs,
    callerIpAddress: r.callerIpAddress,
    identity: JSON.stringify({ claim: { appid: r.caller.appid, http_schemas_microsoft_com_identity: { claims: { objectidentifier: r.caller.oid, tenantid: r.caller.tid } } } }),
    clientInfo: r.clientInfo,
    correlationId: r.correlationId,
    subnetId: '(unknown)',
    httpStatusCode: r.status,
    PoolName: id?.[2] ?? '',
    requestUri: r.requestUri,
    resourceGroup: id?.[1] ?? '',
    resourceProvider: 'MICROSOFT.KEYVAULT',
    resource: id?.[2] ?? '',
    resourceType: 'managedHSMs',
  };
}
