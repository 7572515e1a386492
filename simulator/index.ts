import * as fs from 'fs';
import * as path from 'path';
import { randomBytes, randomUUID } from 'crypto';
import { ensurePrivateDir, writeFileAtomic, writePrivateFile } from '../files/private-files';
import { lockStateDir } from './state-lock';
import { ensureTls } from './tls/ca';
import { Journal } from './store/journal';
import { Pkcs11Module } from './pkcs11/module';
import { Router } from './http/router';
import { HttpsListener } from './http/server';
import { TokenAuthority } from './identity/tokens';
import { Principals } from './identity/principals';
import { addIdentityRoutes } from './identity/token-endpoint';
import { InstanceRegistry, ManagedHsmSpec } from './managedhsm/registry';
import { ManagedHsmInstance } from './managedhsm/instance';
import { addManagementRoutes } from './management/routes';
import { ArmService, ManagedHsmBackend } from './arm/service';
import { addArmRoutes } from './arm/routes';
import { ApplianceLauncher, LunaProcessLauncher } from './arm/launcher';
import { Logger, consoleLogger, guardStdio } from './logger';
import { checkStartSpace, startFailure, watchStateDisk } from './store/state-disk';
import { resourceId } from './arm/model';
import { AuditTrail } from './audit/audit-trail';
import { addAuditRoutes } from './management/audit-routes';
import { HsmPlatform } from './attestation/hsm-platform';
import { AttestationService } from './attestation/attestation-service';
import { SimulatorClock } from './clock';

export type { ManagedHsmSpec } from './managedhsm/registry';
export type { ManagedHsmInstance } from './managedhsm/instance';
export type { ApplianceLauncher } from './arm/launcher';
export type { SimulatorClock } from './clock';
export { ServiceError, ErrorCodes, errors } from './http/errors';

export interface SimulatorOptions {
  /** Holds everything: tls/, softhsm/, state/, secrets/, endpoints.json. Created 0700. */
  stateDir: string;
  /** Port of the identity (token) endpoint and, later, the ARM plane; 0 (default) picks a free one. */
  port?: number;
  /** Managed HSM instances to create if missing. */
  instances?: ManagedHsmSpec[];
  /** Tenant id; default: one made on first start and kept. */
  tenantId?: string;
  logger?: Logger;
  /** PKCS#11 sessions per token = requests served in parallel per instance. Default 4. */
  sessionsPerToken?: number;
  /** The ARM plane (armEndpoint = authorityHost). */
  arm?: {
    /** How long each provisioningState lasts, in ms; default 500 (a Dedicated HSM passes 4 states). */
    provisioningStepMs?: number;
    /** Starts the Luna appliance behind each Dedicated HSM; default: one child process per appliance, state in luna/<id>. */
    launcher?: ApplianceLauncher;
  };
}

export interface Endpoints {
  /** The simulator's process: clients tell a running simulator from a folder left by one that died. */
  pid: number;
  caCertificate: string;
  tenantId: string;
  authorityHost: string;
  tokenEndpoint: string;
  armEndpoint: string | null;
  /** The local stand-in for a Microsoft Azure Attestation provider (its URL is its tokens' issuer). */
  attestationEndpoint: string;
  managementEndpoint: string;
  managementTokenFile: string;
  managedHsms: Array<{ name: string; hsmUri: string; administrators: string[]; activated: boolean; softDeleteRetentionDays: number; purgeProtection: boolean }>;
  /** Dedicated HSM resources of the ARM plane; sshPort/ntlsPort: where their Luna appliance listens on 127.0.0.1. */
  dedicatedHsms: Array<{ id: string; name: string; privateIpAddress: string; provisioningState: string; sshPort: number | null; ntlsPort: number | null }>;
  principals: Array<{ objectId: string; secretFile: string }>;
}

export interface SimulatorHandle {
  readonly stateDir: string;
  readonly tenantId: string;
  /** https://127.0.0.1:<port>: authorityHost for @azure/identity. */
  readonly authorityHost: string;
  readonly caCertPath: string;
  readonly caCert: string;
  readonly endpointsFile: string;
  endpoints(): Endpoints;
  /** Routes of the identity port; the ARM plane adds its routes here. */
  readonly controlRouter: Router;
  readonly registry: InstanceRegistry;
  /** The Managed HSMs' AuditEvent trail: durable in stateDir/audit, delivered to blob storage once told where. */
  readonly audit: AuditTrail;
  /** The attestation provider stand-in: its URL and the tokens it signs. */
  readonly attestation: AttestationService;
  /** Simulator time; tests move it forward here or through the management API. */
  readonly clock: SimulatorClock;
  managedHsm(name: string): ManagedHsmInstance;
  /** Adds an instance at runtime (the ARM plane's entry point). */
  createManagedHsm(spec: ManagedHsmSpec): Promise<ManagedHsmInstance>;
  /** Registers a service principal; without a secret one is generated and written to its 0600 file. */
  addPrincipal(objectId: string, secret?: string): Promise<string>;
  close(): Promise<void>;
}

function onStateDisk<T>(stateDir: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw startFailure(err, stateDir) ?? err;
  }
}

/** Starts the simulator in this process. One simulator (one state folder) per process at a time. */
export async function startSimulator(opts: SimulatorOptions): Promise<SimulatorHandle> {
  const log = opts.logger ?? consoleLogger;
  guardStdio();
  const stateDir = path.resolve(opts.stateDir);
  // A full disk stops the start here, with the folder and the space needed, rather than half-way with ENOSPC.
  const unlock = onStateDisk(stateDir, () => {
    ensurePrivateDir(stateDir);
    checkStartSpace(stateDir);
    return lockStateDir(stateDir);
  });
  const cleanups: Array<() => Promise<void> | void> = [unlock, watchStateDisk(stateDir)];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const tls = ensureTls(stateDir);
    const store = Journal.open(path.join(stateDir, 'state'));
    cleanups.push(() => store.close());
    const module = Pkcs11Module.open(path.join(stateDir, 'softhsm'));
    cleanups.push(() => module.close());
    const clock = SimulatorClock.open(store);
    cleanups.push(() => clock.close());

    let tenantId = store.get<string>('meta', 'tenantId');
    if (opts.tenantId && tenantId && opts.tenantId.toLowerCase() !== tenantId) throw new Error(`state folder belongs to tenant ${tenantId}, not ${opts.tenantId}`);
    if (!tenantId) {
      tenantId = (opts.tenantId ?? randomUUID()).toLowerCase();
      await store.commit([{ c: 'meta', id: 'tenantId', v: tenantId }]);
    }
    const managementTokenFile = path.join(stateDir, 'secrets', 'management.token');
    if (!fs.existsSync(managementTokenFile)) writePrivateFile(managementTokenFile, randomBytes(32).toString('base64url'));
    const managementToken = fs.readFileSync(managementTokenFile, 'utf8').trim();

    const principals = new Principals(store, stateDir);
    const controlRouter = new Router();
    const control = new HttpsListener(tls, async (ctx) => {
      const { handler, params } = controlRouter.resolve(ctx.method, ctx.path);
      return handler(ctx, params);
    }, log, 'control');
    const controlPort = await control.listen(opts.port ?? 0);
    cleanups.push(() => control.close());
    const authorityHost = `https://127.0.0.1:${controlPort}`;
    const authority = new TokenAuthority(stateDir, authorityHost);
    const endpointsFile = path.join(stateDir, 'endpoints.json');
    cleanups.push(() => fs.rmSync(endpointsFile, { force: true })); // nothing listens once closed

    const endpoints = (): Endpoints => ({
      pid: process.pid,
      caCertificate: tls.caCertPath,
      tenantId: tenantId!,
      authorityHost,
      tokenEndpoint: `${authorityHost}/${tenantId}/oauth2/v2.0/token`,
      armEndpoint: authorityHost,
      attestationEndpoint: attestation.baseUrl,
      managementEndpoint: `${authorityHost}/_simulator`,
      managementTokenFile,
      managedHsms: registry.list().map((i) => {
        const r = i.record();
        return { name: r.name, hsmUri: i.hsmUri, administrators: r.administrators, activated: r.activated, softDeleteRetentionDays: r.softDeleteRetentionDays, purgeProtection: r.purgeProtection };
      }),
      dedicatedHsms: (arm?.all() ?? [])
        .filter((r) => r.kind === 'dedicatedHSMs')
        .map((r) => ({
          id: resourceId(r),
          name: r.name,
          privateIpAddress: r.dedicated!.privateIpAddress,
          provisioningState: r.provisioningState,
          sshPort: r.provisioningState === 'Succeeded' ? (r.dedicated!.sshPort ?? null) : null,
          ntlsPort: r.provisioningState === 'Succeeded' ? (r.dedicated!.ntlsPort ?? null) : null,
        })),
      principals: [...new Set(registry.list().flatMap((i) => i.record().administrators))]
        .filter((oid) => fs.existsSync(principals.secretFile(oid)))
        .map((oid) => ({ objectId: oid, secretFile: principals.secretFile(oid) })),
    });
    let ready = false;
    let arm: ArmService | undefined;
    // endpoints.json is a convenience copy of state already committed: a full disk must not fail the request
    // that changed the state (the next change rewrites it).
    const writeEndpoints = () => {
      if (!ready) return;
      try {
        writeFileAtomic(endpointsFile, JSON.stringify(endpoints(), null, 2) + '\n', 0o644);
      } catch (err) {
        log.error(`could not rewrite ${endpointsFile}: ${(err as Error).message}`);
      }
    };

    const audit = new AuditTrail(stateDir, log);
    cleanups.push(() => audit.close());
    const platform = new HsmPlatform(stateDir, { caCertPath: tls.caCertPath, caKeyPath: path.join(stateDir, 'tls', 'ca.key'), caCert: tls.caCert });
    cleanups.push(() => platform.close());
    const attestation = new AttestationService(stateDir);
    const attestationListener = new HttpsListener(tls, attestation.app(), log, 'attestation');
    // The provider's URL is the issuer that release policies name: keep its port across restarts when free.
    const wantedPort = store.get<number>('meta', 'attestationPort') ?? 0;
    const attestationPort = await attestationListener.listen(wantedPort).catch(() => attestationListener.listen(0));
    if (attestationPort !== wantedPort) await store.commit([{ c: 'meta', id: 'attestationPort', v: attestationPort }]);
    attestation.baseUrl = `https://127.0.0.1:${attestationPort}`;
    cleanups.push(() => attestationListener.close());
    const registry = new InstanceRegistry({
      store,
      module,
      tls,
      principals,
      log,
      onChange: writeEndpoints,
      sessionsPerToken: opts.sessionsPerToken ?? 4,
      clock,
      dataPlane: { authority, tenantId, authorizationUri: () => `${authorityHost}/${tenantId}`, audit, resourceIdOf: (name) => managedHsmResourceId(arm, name), platform },
    });
    cleanups.push(() => registry.close());
    addIdentityRoutes(controlRouter, { tenantId, authority, principals });
    addManagementRoutes(controlRouter, { registry, principals, managementToken, clock });
    addAuditRoutes(controlRouter, { audit, managementToken });
    // Deleted keys whose retention ended are purged as the clock passes their date, as the service does on its own.
    clock.onAdvance(() => registry.sweep());
    await registry.openStored();
    const managedHsms: ManagedHsmBackend = {
      create: async (spec) => void (await registry.create(spec)),
      lookup: (name) => {
        const i = registry.get(name);
        return i ? { hsmUri: i.hsmUri, activated: i.activated } : undefined;
      },
      taken: (name) => registry.stored(name) !== undefined,
      softDelete: (name, dates) => registry.softDelete(name, dates),
      recover: async (name) => void (await registry.recover(name)),
      purge: (name) => registry.purge(name),
      enablePurgeProtection: (name) => registry.enablePurgeProtection(name),
    };
    const stepMs = opts.arm?.provisioningStepMs ?? 500;
    arm = new ArmService({
      store,
      clock,
      launcher: opts.arm?.launcher ?? new LunaProcessLauncher(path.join(stateDir, 'luna'), log),
      managedHsms,
      tenantId,
      stepMs,
      log,
      onChange: writeEndpoints,
    });
    const armService = arm;
    cleanups.push(() => armService.close());
    addArmRoutes(controlRouter, { service: arm, managedHsms, authority, tenantId, authorizationUri: () => `${authorityHost}/${tenantId}`, baseUrl: () => authorityHost, stepMs });
    await arm.start();
    for (const spec of opts.instances ?? []) await registry.ensure(spec);
    ready = true;
    writeEndpoints();
    log.info(`ready: identity and ARM ${authorityHost}, ${registry.list().length} Managed HSM(s), ${arm.all().length} ARM resource(s); endpoints in ${endpointsFile}`);

    let closed = false;
    return {
      stateDir,
      tenantId,
      authorityHost,
      caCertPath: tls.caCertPath,
      caCert: tls.caCert,
      endpointsFile,
      endpoints,
      controlRouter,
      registry,
      audit,
      attestation,
      clock,
      managedHsm(name) {
        const i = registry.get(name);
        if (!i) throw new Error(`no Managed HSM named ${name}`);
        return i;
      },
      async createManagedHsm(spec) {
        return registry.create(spec);
      },
      async addPrincipal(objectId, secret) {
        const s = await principals.register(objectId, secret);
        writeEndpoints();
        return s;
      },
      async close() {
        if (closed) return;
        closed = true;
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw startFailure(err, stateDir) ?? err;
  }
}

/**
 * The ARM id of a Managed HSM: the ARM plane's resource when it made the instance; otherwise (instances declared
 * at start or through the management API) a stand-in subscription and resource group "simulator".
 */
function managedHsmResourceId(arm: ArmService | undefined, name: string): string {
  const r = arm?.all().find((x) => x.kind === 'managedHSMs' && x.name.toLowerCase() === name.toLowerCase());
  return r ? resourceId(r) : `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/simulator/providers/Microsoft.KeyVault/managedHSMs/${name}`;
}
