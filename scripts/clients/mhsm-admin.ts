import * as https from 'https';
import { randomUUID } from 'crypto';
import { TokenCredential } from '@azure/identity';
import type { HsmTarget } from './target';

/**
 * The Managed HSM administration REST calls hsmctl needs and no SDK on this registry offers
 * (@azure/keyvault-admin is absent): security domain, full backup/restore, role assignments. Plain HTTPS with
 * the credential's token for https://managedhsm.azure.net; the same calls against Azure and the simulator.
 * Error messages carry the service's code and message, never the token or a SAS.
 */
export const API_VERSION = '7.4';
const SCOPE = 'https://managedhsm.azure.net/.default';

export class HsmRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SdStatus {
  status: string;
  status_details?: string;
}

export interface JobStatus {
  status: 'InProgress' | 'Succeeded' | 'Failed' | string;
  statusDetails?: string;
  error?: { code: string; message: string } | null;
  startTime?: number;
  endTime?: number | null;
  jobId: string;
  azureStorageBlobContainerUri?: string;
}

export interface CertificateJwk {
  kty: 'RSA';
  alg: 'RSA-OAEP-256';
  key_ops: string[];
  n: string;
  e: string;
  x5c: string[];
  x5t: string;
  'x5t#S256': string;
}

export class ManagedHsmAdminClient {
  private readonly agent: https.Agent;
  private readonly base: URL;

  constructor(
    hsmUri: string,
    private readonly credential: TokenCredential,
    o: { ca?: string; pollIntervalMs?: number } = {},
  ) {
    this.base = new URL(hsmUri);
    this.agent = new https.Agent({ keepAlive: true, ...(o.ca ? { ca: o.ca } : {}) });
    this.pollIntervalMs = o.pollIntervalMs ?? 1000;
  }

  readonly pollIntervalMs: number;

  close(): void {
    this.agent.destroy();
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const token = await this.credential.getToken(SCOPE);
    if (!token) throw new Error('the credential returned no token for https://managedhsm.azure.net');
    const withVersion = /[?&]api-version=/.test(path) ? path : `${path}${path.includes('?') ? '&' : '?'}api-version=${API_VERSION}`;
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          protocol: 'https:',
          host: this.base.hostname,
          port: this.base.port || 443,
          path: withVersion,
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${token.token}`,
            'x-ms-client-request-id': randomUUID(),
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
              reject(new HsmRequestError(status, e?.code ?? `HTTP${status}`, `${method} ${path}: ${status} ${e?.code ?? ''}${e?.message ? `: ${e.message}` : ''}`.trim()));
            } else resolve({ status, body: parsed as T });
          });
        },
      );
      req.on('error', (err) => reject(new Error(`${method} ${this.base.origin}${path}: ${err.message}`)));
      if (data) req.write(data);
      req.end();
    });
  }

  // ---- security domain ----

  async downloadSecurityDomain(certificates: CertificateJwk[], required: number): Promise<string> {
    const r = await this.request<{ value?: unknown }>('POST', '/securitydomain/download', { certificates, required });
    const v = r.body?.value;
    if (typeof v !== 'string' || v === '') throw new Error('the security domain download answered without a security domain file');
    return v;
  }

  async downloadStatus(): Promise<SdStatus | undefined> {
    try {
      return (await this.request<SdStatus>('GET', '/securitydomain/download/pending')).body;
    } catch (err) {
      if (err instanceof HsmRequestError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** GET /securitydomain/upload: the exchange key (a JWK whose x5c holds its certificate); enters recovery mode. */
  async exchangeKey(): Promise<{ x5c: string[]; 'x5t#S256'?: string }> {
    const r = await this.request<{ transfer_key?: unknown }>('GET', '/securitydomain/upload');
    const t = r.body?.transfer_key;
    const jwk = typeof t === 'string' ? JSON.parse(t) : t;
    if (!jwk || !Array.isArray(jwk.x5c) || typeof jwk.x5c[0] !== 'string') throw new Error('the exchange key answer holds no certificate (x5c)');
    return jwk;
  }

  async uploadSecurityDomain(restoreBlob: string): Promise<SdStatus> {
    return (await this.request<SdStatus>('POST', '/securitydomain/upload', { value: restoreBlob })).body;
  }

  async uploadStatus(): Promise<SdStatus | undefined> {
    try {
      return (await this.request<SdStatus>('GET', '/securitydomain/upload/pending')).body;
    } catch (err) {
      if (err instanceof HsmRequestError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Polls a security-domain operation until Success (or Succeeded) or Failed. */
  async waitSecurityDomain(which: 'download' | 'upload', timeoutMs = 600_000): Promise<SdStatus> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = which === 'download' ? await this.downloadStatus() : await this.uploadStatus();
      if (s && ['Success', 'Succeeded', 'Failed'].includes(s.status)) return s;
      if (Date.now() > until) throw new Error(`the security domain ${which} did not finish within ${timeoutMs / 1000} s (last status ${s?.status ?? 'none'})`);
      await sleep(this.pollIntervalMs);
    }
  }

  // ---- full backup and restore ----

  async startBackup(storageResourceUri: string, sas: string): Promise<JobStatus> {
    return (await this.request<JobStatus>('POST', '/backup', { storageResourceUri, token: sas, useManagedIdentity: false })).body;
  }

  async backupStatus(jobId: string): Promise<JobStatus> {
    return (await this.request<JobStatus>('GET', `/backup/${encodeURIComponent(jobId)}/pending`)).body;
  }

  async startRestore(storageResourceUri: string, sas: string, folder: string): Promise<JobStatus> {
    return (await this.request<JobStatus>('PUT', '/restore', { sasTokenParameters: { storageResourceUri, token: sas }, folderToRestore: folder })).body;
  }

  async startSelectiveRestore(keyName: string, storageResourceUri: string, sas: string, folder: string): Promise<JobStatus> {
    return (await this.request<JobStatus>('PUT', `/keys/${encodeURIComponent(keyName)}/restore`, { sasTokenParameters: { storageResourceUri, token: sas }, folder })).body;
  }

  async restoreStatus(jobId: string): Promise<JobStatus> {
    return (await this.request<JobStatus>('GET', `/restore/${encodeURIComponent(jobId)}/pending`)).body;
  }

  async waitJob(kind: 'backup' | 'restore', jobId: string, timeoutMs = 3_600_000): Promise<JobStatus> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = kind === 'backup' ? await this.backupStatus(jobId) : await this.restoreStatus(jobId);
      if (s.status !== 'InProgress') return s;
      if (Date.now() > until) throw new Error(`the ${kind} job ${jobId} did not finish within ${timeoutMs / 1000} s`);
      await sleep(this.pollIntervalMs);
    }
  }

  // ---- local RBAC ----

  /** Every role assignment the HSM lists under a scope (all pages). */
  async listRoleAssignments(scope = '/'): Promise<RoleAssignment[]> {
    return this.listAll<RoleAssignment>(`${scopePrefix(scope)}/providers/Microsoft.Authorization/roleAssignments`);
  }

  /** The role definitions (built-in and custom) the HSM lists under a scope (all pages). */
  async listRoleDefinitions(scope = '/'): Promise<RoleDefinition[]> {
    return this.listAll<RoleDefinition>(`${scopePrefix(scope)}/providers/Microsoft.Authorization/roleDefinitions`);
  }

  /** Creates an assignment under a new name; roleDefinition is a GUID or a full role definition id. */
  async createRoleAssignment(scope: string, roleDefinition: string, principalId: string): Promise<RoleAssignment> {
    const roleDefinitionId = roleDefinition.includes('/') ? roleDefinition : `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${roleDefinition}`;
    const r = await this.request<RoleAssignment>('PUT', `${scopePrefix(scope)}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`, {
      properties: { roleDefinitionId, principalId },
    });
    return r.body;
  }

  async deleteRoleAssignment(scope: string, name: string): Promise<void> {
    await this.request('DELETE', `${scopePrefix(scope)}/providers/Microsoft.Authorization/roleAssignments/${encodeURIComponent(name)}`);
  }

  async assignRole(principalId: string, roleGuid: string, scope = '/'): Promise<void> {
    await this.createRoleAssignment(scope, roleGuid, principalId);
  }

  private async listAll<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let next: string | undefined = path;
    for (let page = 0; next && page < 1000; page++) {
      const r: { body: { value?: T[]; nextLink?: string | null } } = await this.request('GET', next);
      items.push(...(r.body?.value ?? []));
      next = r.body?.nextLink ? sameHostPath(this.base, r.body.nextLink) : undefined;
    }
    return items;
  }
}

export interface RoleAssignment {
  id: string;
  name: string;
  properties: { scope: string; roleDefinitionId: string; principalId: string };
}

export interface RoleDefinition {
  id: string;
  name: string;
  properties: { roleName: string; description?: string; type: string; permissions: Array<{ dataActions?: string[]; notDataActions?: string[] }>; assignableScopes?: string[] };
}

/** "/" has no prefix in the path; "/keys" and "/keys/NAME" stand before /providers. */
function scopePrefix(scope: string): string {
  return scope === '/' ? '' : scope.split('/').map(encodeURIComponent).join('/');
}

/** A nextLink's path and query, refused if it points at another host (the token must not follow it there). */
function sameHostPath(base: URL, link: string): string {
  const u = new URL(link, base);
  if (u.host !== base.host) throw new Error(`the HSM answered with a nextLink to another host (${u.host}); not followed`);
  return u.pathname + u.search;
}

export const ROLES = {
  administrator: 'a290e904-7015-4bba-90c8-60543313cdb4',
  cryptoUser: '21dbd100-6940-42c2-9190-5d6cb909625b',
  cryptoOfficer: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
} as const;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client for the target's HSM, closed once `use` has finished, whatever it returned or threw. */
export async function withAdminClient<T>(target: HsmTarget, use: (client: ManagedHsmAdminClient) => Promise<T>): Promise<T> {
  const client = new ManagedHsmAdminClient(target.hsmUri, target.credential, { ca: target.ca });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
