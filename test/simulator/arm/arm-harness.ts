import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { ClientSecretCredential } from '@azure/identity';
import { AzureDedicatedHSMResourceProvider, DedicatedHsm } from '@azure/arm-hardwaresecuritymodules';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { startSimulator, SimulatorHandle, SimulatorOptions } from '../../../simulator';
import { httpsRequest, testLogger } from '../harness';

export const SUB = '11111111-2222-3333-4444-555555555555';
export const RG = 'rg-hsm';
export const SUBNET = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Network/virtualNetworks/vnet-hsm/subnets/hsmsubnet`;
export const DEDICATED_API = '2021-11-30';
export const MANAGED_API = '2023-07-01';

/** A simulator with a fast ARM plane, a service principal, and the real ARM SDK client pointed at it. */
export class ArmHarness {
  private constructor(
    readonly sim: SimulatorHandle,
    readonly dir: string,
    readonly objectId: string,
    readonly secret: string,
    readonly credential: ClientSecretCredential,
    readonly client: AzureDedicatedHSMResourceProvider,
  ) {}

  static async start(o: { dir?: string; objectId?: string; secret?: string; arm?: SimulatorOptions['arm'] } = {}): Promise<ArmHarness> {
    const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'arm-test-'));
    const sim = await startSimulator({ stateDir: dir, logger: testLogger, arm: { provisioningStepMs: 20, ...o.arm } });
    try {
      const objectId = o.objectId ?? randomUUID();
      const secret = o.secret ?? `s-${randomUUID()}`;
      await sim.addPrincipal(objectId, secret);
      const credential = new ClientSecretCredential(sim.tenantId, objectId, secret, {
        authorityHost: sim.authorityHost,
        disableInstanceDiscovery: true,
        tlsOptions: { ca: sim.caCert },
      } as ConstructorParameters<typeof ClientSecretCredential>[3]);
      const client = new AzureDedicatedHSMResourceProvider(credential, SUB, {
        endpoint: sim.endpoints().armEndpoint!,
        tlsOptions: { ca: sim.caCert },
        retryOptions: { maxRetries: 0 },
      } as ConstructorParameters<typeof AzureDedicatedHSMResourceProvider>[2]);
      return new ArmHarness(sim, dir, objectId, secret, credential, client);
    } catch (err) {
      await sim.close();
      throw err;
    }
  }

  /** The real @azure/arm-keyvault client (api-version 2026-02-01) on the simulator's ARM plane. */
  keyVault(): KeyVaultManagementClient {
    return new KeyVaultManagementClient(this.credential, SUB, {
      endpoint: this.arm,
      // With a custom endpoint the client would ask for "<endpoint>/.default"; ARM's scope is fixed.
      credentials: { scopes: ['https://management.azure.com/.default'] },
      tlsOptions: { ca: this.sim.caCert },
      retryOptions: { maxRetries: 0 },
    } as ConstructorParameters<typeof KeyVaultManagementClient>[2]);
  }

  get arm(): string {
    return this.sim.endpoints().armEndpoint!;
  }

  async token(scope = 'https://management.azure.com/.default'): Promise<string> {
    return (await this.credential.getToken(scope))!.token;
  }

  /** Raw HTTPS to the ARM plane (managedHSMs, malformed requests). */
  async request(method: string, pathAndQuery: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
    const t = token === null ? undefined : (token ?? (await this.token()));
    const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return httpsRequest(this.arm, this.sim.caCert, method, pathAndQuery, raw, t);
  }

  /** Moves the simulator's clock forward through the test-only management API; resolves once what fell due has run. */
  async advanceClock(seconds: number): Promise<{ now: string; offsetSeconds: number }> {
    const token = fs.readFileSync(path.join(this.dir, 'secrets', 'management.token'), 'utf8').trim();
    const r = await httpsRequest(this.arm, this.sim.caCert, 'POST', '/_simulator/clock/advance', JSON.stringify({ seconds }), token);
    if (r.status !== 200) throw new Error(`advancing the clock answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** Follows an Azure-AsyncOperation URL until the operation ends, as the SDK poller does. */
  async waitOperation(url: string): Promise<any> {
    // Bounded only so that a broken operation fails the test instead of hanging it: minutes on a loaded machine.
    for (let i = 0; i < 6000; i++) {
      const u = new URL(url);
      const r = await this.request('GET', u.pathname + u.search);
      if (r.status !== 200) throw new Error(`operation status answered ${r.status}: ${JSON.stringify(r.body)}`);
      if (r.body.status !== 'InProgress') return r.body;
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error('the operation did not end');
  }

  async close(opts: { keepDir?: boolean } = {}): Promise<void> {
    await this.sim.close();
    if (!opts.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function dedicatedHsm(ip: string, extra: Partial<DedicatedHsm> = {}): DedicatedHsm {
  return {
    location: 'westeurope',
    sku: { name: 'SafeNet Luna Network HSM A790' },
    stampId: 'stamp1',
    networkProfile: { subnet: { id: SUBNET }, networkInterfaces: [{ privateIpAddress: ip }] },
    tags: { env: 'test' },
    ...extra,
  };
}

export function dedicatedPath(name: string, rg = RG): string {
  return `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs/${name}?api-version=${DEDICATED_API}`;
}

export function managedPath(name: string, rg = RG, api = MANAGED_API): string {
  return `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.KeyVault/managedHSMs/${name}?api-version=${api}`;
}

export function managedBody(tenantId: string, admins: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    location: 'westeurope',
    sku: { family: 'B', name: 'Standard_B1' },
    tags: { env: 'test' },
    properties: { tenantId, initialAdminObjectIds: admins, softDeleteRetentionInDays: 7, enablePurgeProtection: false, ...extra },
  };
}
