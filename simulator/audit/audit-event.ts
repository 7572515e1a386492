import { AuditOperation } from './operations';

/**
 * One Managed HSM diagnostic log record (category AuditEvent), with the fields of the sample on Microsoft's
 * "Managed HSM logging" page: top-level TenantId, time, resourceId, operationName, operationVersion, category,
 * resultType, resultSignature, durationMs, callerIpAddress, identity (a JSON string of the caller's claims),
 * clientInfo, correlationId, httpStatusCode, requestUri and the resource fields; properties carry the pool's
 * SKU and, for key requests, the key identifier. Never a body, a token or key material.
 */
export interface AuditEvent {
  TenantId: string;
  time: string;
  resourceId: string;
  operationName: string;
  operationVersion: string;
  category: 'AuditEvent';
  resultType: 'Success' | 'Failure';
  resultSignature: string;
  resultDescription?: string;
  properties: { PoolType: 'M-HSM'; sku_Family: string; sku_Name: string; id?: string };
  durationMs: number;
  callerIpAddress: string;
  identity: string;
  clientInfo: string;
  correlationId: string;
  subnetId: string;
  httpStatusCode: number;
  PoolName: string;
  requestUri: string;
  resourceGroup: string;
  resourceProvider: 'MICROSOFT.KEYVAULT';
  resource: string;
  resourceType: 'managedHSMs';
}

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
    callerIpAddress: '127.0.0.1',
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

/** The caller's object id from a record's identity field ('' when it cannot be read). */
export function callerOf(e: AuditEvent): string {
  try {
    return String(JSON.parse(e.identity)?.claim?.http_schemas_microsoft_com_identity?.claims?.objectidentifier ?? '');
  } catch {
    return '';
  }
}

/**
 * Blob name of the hour a record belongs to, as Azure Monitor lays out a storage-account destination:
 * resourceId=<RESOURCE ID IN CAPITALS>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json (UTC).
 */
export function auditBlobName(resourceId: string, time: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `resourceId=${resourceId.toUpperCase()}/y=${time.getUTCFullYear()}/m=${p(time.getUTCMonth() + 1)}/d=${p(time.getUTCDate())}/h=${p(time.getUTCHours())}/m=00/PT1H.json`;
}

/** The container Azure Monitor creates for AuditEvent logs in a storage-account destination. */
export const AUDIT_CONTAINER = 'insights-logs-auditevent';
