import * as https from 'https';
import { randomUUID } from 'crypto';
import { TokenCredential } from '@azure/identity';

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
    const sep = path.includes('?') ? '&' : '?';
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          protocol: 'https:',
          host: this.base.hostname,
          port: this.base.port || 443,
          path: `${path}${sep}api-version=${API_VERSION}`,
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

  async assignRole(principalId: string, roleGuid: string, scope = '/'): Promise<void> {
    const prefix = scope === '/' ? '' : scope;
    await this.request('PUT', `${prefix}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`, {
      properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`, principalId },
    });
  }
}

export const ROLES = {
  administrator: 'a290e904-7015-4bba-90c8-60543313cdb4',
  cryptoUser: '21dbd100-6940-42c2-9190-5d6cb909625b',
  cryptoOfficer: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
} as const;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
