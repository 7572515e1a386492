import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createHash, createPublicKey, randomBytes, randomUUID, verify as nodeVerify } from 'crypto';
import { TokenCredential } from '@azure/identity';
import { CryptographyClient, KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import { startSimulator, SimulatorHandle } from '../../simulator';
import { silentLogger } from '../../simulator/logger';
import { Azurite, startAzurite } from '../../simulator/storage/azurite';
import { ManagedHsmAdminClient, ROLES } from '../clients/mhsm-admin';
import { readEndpoints, simulatorCredential } from '../clients/target';
import { SD_FILE, downloadSecurityDomain, isActivated, keyFiles, loadWrappingKeys, makeWrappingKeys, recoverSecurityDomain } from './security-domain';
import { CeremonyError } from '../failure';

/**
 * The disaster-recovery drill of the Managed HSM runbook (seed 002, phase 4), end to end and timed: an active
 * HSM with keys; a full backup to blob storage; a second HSM; its security domain recovered from the file and a
 * quorum of keys; the backup restored into it; and proof that every key version on the second HSM signs
 * verifiably (checked with the first HSM's public keys) and decrypts what the first encrypted.
 */
export interface DrillOptions {
  /** Start a simulator (and Azurite) in this folder; the default mode. */
  stateDir?: string;
  /** Or use the simulator already running from this folder, with existing instances source and target. */
  simulatorDir?: string;
  source?: string;
  target?: string;
  /** Storage to use instead of a local Azurite. */
  storage?: { containerUri: string; sas: string };
  /** Where the security-domain file and keys are written (default <folder>/dr-drill-<source>). */
  sdDir?: string;
  keySize: number;
  certs: number;
  quorum: number;
  log: (line: string) => void;
  /**
   * Accept a target that an earlier drill already recovered (a rerun of the dry-run): the recovery is then
   * skipped, and the restore itself proves the target still holds the source's domain.
   */
  targetMayBeRecovered?: boolean;
}

export interface DrillStep {
  name: string;
  ms: number;
  detail: string;
}

export interface DrillReport {
  ok: boolean;
  source: string;
  target: string;
  folder?: string;
  steps: DrillStep[];
  versionsChecked: number;
  error?: string;
}

interface Evidence {
  name: string;
  version: string;
  kty: string;
  publicJwk?: Record<string, unknown>;
  signature?: { alg: 'RS256' | 'ES256'; digest: Buffer; value: Buffer };
  encrypted?: { alg: 'RSA-OAEP-256' | 'A256GCM'; plaintext: Buffer; ciphertext: Buffer; iv?: Uint8Array; tag?: Uint8Array };
}

export async function runDrDrill(o: DrillOptions): Promise<DrillReport> {
  if (!!o.stateDir === !!o.simulatorDir) throw new CeremonyError('give one of a state folder (the drill starts its own simulator) or a running simulator folder');
  const report: DrillReport = { ok: false, source: '', target: '', steps: [], versionsChecked: 0 };
  const cleanups: Array<() => Promise<void> | void> = [];
  const step = async <T>(name: string, fn: () => Promise<[T, string]>): Promise<T> => {
    const t0 = Date.now();
    const [value, detail] = await fn();
    const s = { name, ms: Date.now() - t0, detail };
    report.steps.push(s);
    o.log(`  ${String(report.steps.length).padStart(2)}. ${name.padEnd(52, ' ')}${(s.ms / 1000).toFixed(2).padStart(7)} s  ${detail}`);
    return value;
  };
  try {
    let sim: SimulatorHandle | undefined;
    let azurite: Azurite | undefined;
    let source: { uri: string; credential: TokenCredential; admin: string };
    let target: { uri: string; credential: TokenCredential; admin: string };
    let ca: string;
    const work = o.stateDir ? path.resolve(o.stateDir) : path.resolve(o.simulatorDir!);

    if (o.stateDir) {
      const adminId = randomUUID();
      const tag = randomBytes(3).toString('hex');
      await step('start simulator and Azurite', async () => {
        sim = await startSimulator({ stateDir: path.join(work, 'simulator'), logger: silentLogger });
        cleanups.push(() => sim!.close());
        const a = await sim.createManagedHsm({ name: `drill-src-${tag}`, administrators: [adminId], softDeleteRetentionDays: 7 });
        const b = await sim.createManagedHsm({ name: `drill-dst-${tag}`, administrators: [adminId], softDeleteRetentionDays: 7 });
        if (!o.storage) {
          azurite = await startAzurite({ location: path.join(work, 'azurite') });
          cleanups.push(() => azurite!.stop());
        }
        report.source = a.name;
        report.target = b.name;
        return [undefined, `HSMs ${a.name} and ${b.name}${azurite ? `, Azurite on port ${azurite.port}` : ''}`];
      });
      const e = readEndpoints(sim!.stateDir);
      const cred = simulatorCredential(e, sim!.stateDir, adminId);
      ca = sim!.caCert;
      source = { uri: sim!.managedHsm(report.source).hsmUri, credential: cred, admin: adminId };
      target = { uri: sim!.managedHsm(report.target).hsmUri, credential: cred, admin: adminId };
    } else {
      if (!o.source || !o.target) throw new CeremonyError('with a running simulator, name the source and target Managed HSMs');
      const e = readEndpoints(work);
      const find = (n: string) => {
        const m = e.managedHsms.find((x) => x.name === n.toLowerCase());
        if (!m) throw new CeremonyError(`no Managed HSM named ${n} in ${work}/endpoints.json`);
        const admin = m.administrators.find((a) => e.principals.some((p) => p.objectId === a));
        if (!admin) throw new CeremonyError(`${n}: none of its administrators has a secret file in ${work}/secrets`);
        return { uri: m.hsmUri, credential: simulatorCredential(e, work, admin), admin };
      };
      source = find(o.source);
      target = find(o.target);
      report.source = o.source;
      report.target = o.target;
      ca = fs.readFileSync(e.caCertificate, 'utf8');
      if (!o.storage) {
        await step('start Azurite', async () => {
          azurite = await startAzurite({ location: fs.mkdtempSync(path.join(os.tmpdir(), 'dr-drill-azurite-')) });
          cleanups.push(async () => {
            await azurite!.stop();
            fs.rmSync(azurite!.location, { recursive: true, force: true });
          });
          return [undefined, `port ${azurite.port}`];
        });
      }
    }

    const src = new ManagedHsmAdminClient(source.uri, source.credential, { ca, pollIntervalMs: 200 });
    const dst = new ManagedHsmAdminClient(target.uri, target.credential, { ca, pollIntervalMs: 200 });
    cleanups.push(() => src.close(), () => dst.close());
    const sdDir = o.sdDir ?? path.join(work, `dr-drill-${report.source}`);

    const targetActive = await isActivated(dst);
    if (targetActive && !o.targetMayBeRecovered) throw new CeremonyError(`${report.target} is already activated: the drill recovers the domain into an HSM that is not yet activated`);
    if (await isActivated(src)) {
      if (!fs.existsSync(path.join(sdDir, SD_FILE))) throw new CeremonyError(`${report.source} is already activated: the drill needs its security-domain file and keys in ${sdDir}`);
      o.log(`  ${report.source} is already active; using the security domain in ${sdDir}`);
    } else {
      await step(`activate ${report.source} (sd activate)`, async () => {
        const made = await makeWrappingKeys(o.certs, o.keySize, 365, `${report.source} security domain`);
        const r = await downloadSecurityDomain(src, { out: sdDir, required: o.quorum, made });
        return [undefined, `${o.certs} x RSA-${o.keySize} certificates, quorum ${o.quorum}: ${r.status.status}`];
      });
    }

    const srcKeys = new KeyClient(source.uri, source.credential, kvOptions(ca));
    const evidence = await step(`create keys on ${report.source}`, async () => {
      await src.assignRole(source.admin, ROLES.cryptoUser).catch(() => undefined);
      const ev = await makeKeys(srcKeys, source.credential, ca);
      return [ev, `${new Set(ev.map((e) => e.name)).size} keys, ${ev.length} versions; each version signed or encrypted a sample`];
    });

    const storage = o.storage ?? (await azurite!.containerSas('mhsm-backups'));
    const folder = await step(`back up ${report.source}`, async () => {
      const j = await src.startBackup(storage.containerUri, storage.sas);
      const done = await src.waitJob('backup', j.jobId);
      if (done.status !== 'Succeeded') throw new CeremonyError(`the backup failed: ${done.error?.message ?? done.statusDetails}`);
      const f = done.azureStorageBlobContainerUri!.split('/').pop()!;
      return [f, `folder ${f}`];
    });
    report.folder = folder;

    if (targetActive) o.log(`  ${report.target} is already active (recovered by an earlier drill); the restore below proves it holds the same domain`);
    else await step(`recover the security domain into ${report.target}`, async () => {
      const keys = loadWrappingKeys(keyFiles(sdDir, o.certs).slice(0, o.quorum).map((f) => f.key), (m) => o.log(`  ${m}`));
      const s = await recoverSecurityDomain(dst, fs.readFileSync(path.join(sdDir, SD_FILE), 'utf8'), keys);
      return [undefined, `${o.quorum} of ${o.certs} keys, exchange key, upload: ${s.status}`];
    });

    await step(`restore the backup into ${report.target}`, async () => {
      const j = await dst.startRestore(storage.containerUri, storage.sas, folder);
      const done = await dst.waitJob('restore', j.jobId);
      if (done.status !== 'Succeeded') throw new CeremonyError(`the restore failed: ${done.error?.message ?? done.statusDetails}`);
      return [undefined, done.statusDetails ?? ''];
    });

    report.versionsChecked = await step(`verify every key version on ${report.target}`, async () => {
      const n = await verifyKeys(new KeyClient(target.uri, target.credential, kvOptions(ca)), target.credential, ca, evidence, await versionsOf(srcKeys, evidence));
      return [n, `${n} versions sign verifiably and decrypt the source's ciphertexts`];
    });
    report.ok = true;
  } catch (err) {
    report.error = (err as Error)?.message ?? String(err);
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }
  return report;
}

function kvOptions(ca: string) {
  return { disableChallengeResourceVerification: true, tlsOptions: { ca }, retryOptions: { maxRetries: 1 } } as ConstructorParameters<typeof KeyClient>[2];
}

async function makeKeys(kc: KeyClient, credential: TokenCredential, ca: string): Promise<Evidence[]> {
  const versions: KeyVaultKey[] = [];
  versions.push(await kc.createRsaKey('drill-rsa', { hsm: true, keySize: 2048 }));
  versions.push(await kc.rotateKey('drill-rsa'));
  versions.push(await kc.createEcKey('drill-ec', { hsm: true, curve: 'P-256' }));
  versions.push(await kc.createOctKey('drill-aes', { hsm: true, keySize: 256 }));
  versions.push(await kc.rotateKey('drill-aes'));
  const out: Evidence[] = [];
  for (const k of versions) {
    const cc = new CryptographyClient(k.id!, credential, kvOptions(ca));
    const e: Evidence = { name: k.name, version: k.properties.version!, kty: k.keyType!, publicJwk: k.keyType === 'oct-HSM' ? undefined : jwkOf(k) };
    const plaintext = randomBytes(32);
    if (k.keyType === 'RSA-HSM') {
      const digest = createHash('sha256').update(randomBytes(16)).digest();
      e.signature = { alg: 'RS256', digest, value: Buffer.from((await cc.sign('RS256', digest)).result) };
      e.encrypted = { alg: 'RSA-OAEP-256', plaintext, ciphertext: Buffer.from((await cc.encrypt({ algorithm: 'RSA-OAEP-256', plaintext })).result) };
    } else if (k.keyType === 'EC-HSM') {
      const digest = createHash('sha256').update(randomBytes(16)).digest();
      e.signature = { alg: 'ES256', digest, value: Buffer.from((await cc.sign('ES256', digest)).result) };
    } else {
      const r = await cc.encrypt({ algorithm: 'A256GCM', plaintext });
      e.encrypted = { alg: 'A256GCM', plaintext, ciphertext: Buffer.from(r.result), iv: r.iv, tag: r.authenticationTag };
    }
    out.push(e);
  }
  return out;
}

function jwkOf(k: KeyVaultKey): Record<string, unknown> {
  const j = k.key!;
  const b = (u?: Uint8Array) => (u ? Buffer.from(u).toString('base64url') : undefined);
  return j.kty?.startsWith('RSA') ? { kty: 'RSA', n: b(j.n), e: b(j.e) } : { kty: 'EC', crv: j.crv, x: b(j.x), y: b(j.y) };
}

/** Every version of each drilled key: a rerun adds versions to keys an earlier drill made. */
async function versionsOf(kc: KeyClient, evidence: Evidence[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const name of new Set(evidence.map((e) => e.name))) {
    const versions = new Set<string>();
    for await (const p of kc.listPropertiesOfKeyVersions(name)) versions.add(p.version!);
    out.set(name, versions);
  }
  return out;
}

/** On the target: the source's versions; each signs a fresh digest that the source's public key verifies, and decrypts the source's ciphertexts. */
async function verifyKeys(kc: KeyClient, credential: TokenCredential, ca: string, evidence: Evidence[], sourceVersions: Map<string, Set<string>>): Promise<number> {
  let n = 0;
  for (const [name, want] of (await versionsOf(kc, evidence)).entries()) {
    const source = sourceVersions.get(name)!;
    if (want.size !== source.size || [...source].some((v) => !want.has(v))) {
      throw new CeremonyError(`key ${name}: the target holds versions ${[...want].join(', ')}, the source ${[...source].join(', ')}`);
    }
  }
  for (const e of evidence) {
    const k = await kc.getKey(e.name, { version: e.version });
    const cc = new CryptographyClient(k.id!, credential, kvOptions(ca));
    if (e.signature) {
      // A fresh message signed by the target; the source's public key must verify it (same private key).
      const message = randomBytes(32);
      const sig = Buffer.from((await cc.sign(e.signature.alg, createHash('sha256').update(message).digest())).result);
      const key = createPublicKey({ key: e.publicJwk as never, format: 'jwk' });
      const ok = e.signature.alg === 'RS256' ? nodeVerify('sha256', message, key, sig) : nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, sig);
      if (!ok) throw new CeremonyError(`${e.name}/${e.version}: the target's signature does not verify with the source's public key`);
      const own = await cc.verify(e.signature.alg, e.signature.digest, e.signature.value);
      if (!own.result) throw new CeremonyError(`${e.name}/${e.version}: the target does not verify the source's signature`);
    }
    if (e.encrypted) {
      const r =
        e.encrypted.alg === 'A256GCM'
          ? await cc.decrypt({ algorithm: 'A256GCM', ciphertext: e.encrypted.ciphertext, iv: e.encrypted.iv!, authenticationTag: e.encrypted.tag! })
          : await cc.decrypt({ algorithm: 'RSA-OAEP-256', ciphertext: e.encrypted.ciphertext });
      if (!Buffer.from(r.result).equals(e.encrypted.plaintext)) throw new CeremonyError(`${e.name}/${e.version}: the target decrypts the source's ciphertext to something else`);
    }
    n++;
  }
  return n;
}
