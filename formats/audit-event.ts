/**
 * The AuditEvent records of Managed HSM diagnostic logs as Azure Monitor delivers them to a storage account: the
 * record (written by the simulator, read by hsmctl audit) and the container and blob layout they arrive in.
 */

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
