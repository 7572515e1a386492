import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as https from 'https';
import { randomUUID } from 'crypto';
import { ClientSecretCredential } from '@azure/identity';
import { KeyClient, CryptographyClient } from '@azure/keyvault-keys';
import { startSimulator, SimulatorHandle } from '../../simulator';
import { ManagedHsmAdminClient } from '../../scripts/clients/mhsm-admin';
import { consoleLogger, silentLogger } from '../../simulator/logger';

/** SIMULATOR_LOG=1 shows the simulator's log while debugging a test. */
export const testLogger = process.env.SIMULATOR_LOG ? consoleLogger : silentLogger;

export const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
export const CRYPTO_OFFICER = '515eb02d-2335-4d2d-92f2-b1cbdf9c3778';

export interface Principal {
  objectId: string;
  secret: string;
  credential: ClientSecretCredential;
}

/** A simulator in a temp folder plus helpers that talk to it only through real clients and HTTPS. */
export class Harness {
  private readonly adminClients: ManagedHsmAdminClient[] = [];

  private constructor(
    readonly sim: SimulatorHandle,
    readonly dir: string,
    readonly admin: Principal,
  ) {}

  static tempDir(prefix = 'mhsm-test-'): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  }

  /** Starts a simulator with one instance "hsm1" (activated through the test-only path unless told not to). */
  static async start(o: { dir?: string; activate?: boolean; purgeProtection?: boolean; retentionDays?: number; adminId?: string } = {}): Promise<Harness> {
    const dir = o.dir ?? Harness.tempDir();
    const adminId = o.adminId ?? randomUUID();
    const sim = await startSimulator({
      stateDir: dir,
      instances: [{ name: 'hsm1', administrators: [adminId], purgeProtection: o.purgeProtection ?? false, softDeleteRetentionDays: o.retentionDays ?? 7 }],
      logger: testLogger,
    });
    if (o.activate !== false) await sim.managedHsm('hsm1').setActivated(true);
    const secret = fs.readFileSync(path.join(dir, 'secrets', `${adminId}.secret`), 'utf8').trim();
    return new Harness(sim, dir, Harness.principal(sim, adminId, secret));
  }

  static principal(sim: SimulatorHandle, objectId: string, secret: string): Principal {
    const credential = new ClientSecretCredential(sim.tenantId, objectId, secret, {
      authorityHost: sim.authorityHost,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: sim.caCert },
    } as ConstructorParameters<typeof ClientSecretCredential>[3]);
    return { objectId, secret, credential };
  }

  get hsmUri(): string {
    return this.sim.managedHsm('hsm1').hsmUri;
  }

  /** A new service principal, known to the simulator, with no role. */
  async newPrincipal(): Promise<Principal> {
    const id = randomUUID();
    const secret = `s-${randomUUID()}`;
    await this.sim.addPrincipal(id, secret);
    return Harness.principal(this.sim, id, secret);
  }

  keyClient(p: Principal = this.admin): KeyClient {
    return new KeyClient(this.hsmUri, p.credential, clientOptions(this.sim));
  }

  cryptoClient(kid: string, p: Principal = this.admin): CryptographyClient {
    return new CryptographyClient(kid, p.credential, clientOptions(this.sim));
  }

  async token(p: Principal = this.admin): Promise<string> {
    return (await p.credential.getToken('https://managedhsm.azure.net/.default'))!.token;
  }

  /** Raw HTTPS to the data plane (role assignments have no client in this repo's dependencies). */
  async request(method: string, pathAndQuery: string, body?: unknown, p: Principal | null = this.admin, raw?: Buffer | string): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
    const token = p ? await this.token(p) : undefined;
    return httpsRequest(this.hsmUri, this.sim.caCert, method, pathAndQuery, raw ?? (body === undefined ? undefined : JSON.stringify(body)), token);
  }

  async assignRole(principalId: string, roleId: string, scope = '/'): Promise<void> {
    const res = await this.request('PUT', `${scope === '/' ? '' : scope}/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`, {
      properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${roleId}`, principalId },
    });
    if (res.status !== 201) throw new Error(`role assignment failed: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /** The administrator's security-domain and backup client for an HSM (default hsm1); close() closes it. */
  adminClient(uri = this.hsmUri): ManagedHsmAdminClient {
    const c = new ManagedHsmAdminClient(uri, this.admin.credential, { ca: this.sim.caCert, pollIntervalMs: 20 });
    this.adminClients.push(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.adminClients) c.close();
    await this.sim.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function clientOptions(sim: SimulatorHandle) {
  return {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: sim.caCert },
    retryOptions: { maxRetries: 0 },
  } as ConstructorParameters<typeof KeyClient>[2];
}

const agents = new Map<string, https.Agent>();

export function httpsRequest(base: string, ca: string, method: string, pathAndQuery: string, body?: Buffer | string, token?: string, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  // The path is sent as given (no URL normalisation): robustness tests send odd paths such as "//keys".
  const origin = new URL(base);
  let agent = agents.get(ca);
  if (!agent) agents.set(ca, (agent = new https.Agent({ ca, keepAlive: true, maxSockets: 32 })));
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: origin.hostname,
        port: origin.port,
        path: pathAndQuery,
        method,
        agent,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...extraHeaders,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON: returned as text for the assertion to show.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
