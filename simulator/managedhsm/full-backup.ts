import { createHash, randomBytes } from 'crypto';
import { AnonymousCredential, ContainerClient, RestError, StorageSharedKeyCredential } from '@azure/storage-blob';
import { DEV_ACCOUNT, DEV_KEY } from '../storage/azurite';
import { ServiceError, errors } from '../http/errors';
import { Journal, Op } from '../store/journal';
import { KeyService } from './keys';
import { Rbac } from './rbac';
import { JobRecord, KeyRecord, RoleAssignmentRecord, VersionRecord, collections } from './model';
import { RoleDefinition } from './rbac-roles';
import { SealedKey, materialize, restoreSealedKey, seal, sealedKey, unseal } from './backup';
import { faultPoint } from './faults';

const KEY_KIND = 'mhsm-sim-full-backup-key-1';
const RBAC_KIND = 'mhsm-sim-full-backup-rbac-1';
const MANIFEST_KIND = 'mhsm-sim-full-backup-manifest-1';
const MANIFEST = 'manifest.json';

/**
 * Where a backup goes or comes from: a blob container URL, and either a SAS token for it (never logged or echoed)
 * or the HSM's managed identity. The simulator stands in for the identity's access to the local Azurite account
 * (its well-known development key); it has no identity to stand in for anywhere else.
 */
export interface StorageTarget {
  containerUri: string;
  sas?: string;
  managedIdentity?: boolean;
}

/** The role assignments and custom role definitions of a backup (older backups hold the assignments alone). */
interface RbacBackup {
  assignments: RoleAssignmentRecord[];
  roleDefinitions: RoleDefinition[];
}

interface Manifest {
  hsm: string;
  created: number;
  keys: Array<{ name: string; blob: string; sha256: string }>;
  roleAssignments: { blob: string; sha256: string };
}

/** Storage failures become job errors that say what failed without the SAS token. */
class StorageFailure extends Error {}

const now = () => Math.floor(Date.now() / 1000);

/** Drops anything that looks like a SAS signature from a message. */
export function scrub(message: string): string {
  return message.replace(/([?&]|\b)(sig|se|sp|sv|sr|st|spr|skoid|sktid|ske|sks|skv|skt)=[^&\s"']*/gi, '$1$2=***');
}

/**
 * Full backup to and restore from Azure Blob Storage with a SAS token (POST /backup, PUT /restore, PUT
 * /keys/{name}/restore), as jobs polled through GET .../pending. A backup folder holds one sealed blob per key
 * (every version wrapped under the domain key), the role assignments, and a manifest written last: an
 * interrupted backup has no manifest and cannot be restored. A restore reads and opens everything first, puts
 * the key material into the token, then changes the metadata in one commit: a failure or a crash before that
 * commit changes nothing (orphan token objects are removed at the next start).
 */
export class FullBackupService {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Journal,
    private readonly hsm: string,
    private readonly keys: KeyService,
    private readonly rbac: Rbac,
  ) {}

  private get jc(): string {
    return collections.jobs(this.hsm);
  }

  job(jobId: string, kind: 'backup' | 'restore'): JobRecord {
    const j = this.store.get<JobRecord>(this.jc, jobId);
    if (!j || jobFamily(j) !== kind) throw errors.notFound(`No ${kind} job with id ${jobId.slice(0, 64)} exists on this HSM.`);
    return j;
  }

  /** Every job this HSM has run or is running (newest last). */
  jobs(): JobRecord[] {
    return this.store.list<JobRecord>(this.jc).sort((a, b) => a.startTime - b.startTime);
  }

  /** At start: jobs that were running when the process stopped are failed (nothing of theirs was committed). */
  async reconcile(): Promise<void> {
    const ops: Op[] = [];
    for (const j of this.store.list<JobRecord>(this.jc)) {
      if (j.status === 'InProgress') {
        ops.push({ c: this.jc, id: j.jobId, v: { ...j, status: 'Failed', endTime: now(), statusDetails: 'The job was interrupted by a restart of the HSM; nothing was changed. Start it again.', error: { code: 'JobInterrupted', message: 'The job was interrupted by a restart of the HSM; nothing was changed. Start it again.' } } });
      }
    }
    if (ops.length) await this.store.commit(ops);
  }

  /** Waits for running jobs (before the token closes). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const all = Promise.allSettled([...this.running.values()]);
    await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  private begin(kind: JobRecord['kind'], extra: Partial<JobRecord>): JobRecord {
    if (this.running.size > 0) throw errors.conflict(`Another backup or restore job (${[...this.running.keys()][0]}) is in progress on this HSM; wait for it to finish.`);
    const details = { backup: 'Backup in progress.', preBackup: 'Pre-backup check in progress.', preRestore: 'Pre-restore check in progress.', restore: 'Restore in progress.', selectiveRestore: 'Restore in progress.' }[kind];
    return { jobId: randomBytes(16).toString('hex'), kind, status: 'InProgress', statusDetails: details, startTime: now(), ...extra };
  }

  private async launch(job: JobRecord, work: () => Promise<Partial<JobRecord>>): Promise<JobRecord> {
    await this.store.commit([{ c: this.jc, id: job.jobId, v: job }]);
    const p = (async () => {
      let end: Partial<JobRecord>;
      try {
        end = { status: 'Succeeded', statusDetails: jobFamily(job) === 'backup' ? 'The backup is complete.' : 'The restore is complete.', ...(await work()) };
      } catch (err) {
        end = { status: 'Failed', ...failure(err) };
      }
      await this.store.commit([{ c: this.jc, id: job.jobId, v: { ...this.store.get<JobRecord>(this.jc, job.jobId)!, ...end, endTime: now() } }]).catch(() => undefined);
    })().finally(() => this.running.delete(job.jobId));
    this.running.set(job.jobId, p);
    return job;
  }

  async startBackup(target: StorageTarget): Promise<JobRecord> {
    const job = this.begin('backup', {});
    const d = new Date();
    const p2 = (n: number) => String(n).padStart(2, '0');
    const folder = `mhsm-${this.hsm}-${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}${p2(Math.floor(d.getUTCMilliseconds() / 10))}`;
    job.folder = folder;
    job.azureStorageBlobContainerUri = `${target.containerUri.replace(/\/+$/, '')}/${folder}`;
    return this.launch(job, () => this.backup(target, folder));
  }

  startRestore(target: StorageTarget, folder: string): Promise<JobRecord> {
    return this.launch(this.begin('restore', { folder }), () => this.restore(target, folder));
  }

  startSelectiveRestore(target: StorageTarget, folder: string, keyName: string): Promise<JobRecord> {
    if (this.keys.record(keyName)) throw errors.conflict(`Key ${keyName} already exists (live or soft-deleted) in this HSM; selective restore refuses to overwrite it. Nothing was changed.`);
    return this.launch(this.begin('selectiveRestore', { folder, key: keyName }), () => this.restoreOne(target, folder, keyName));
  }

  /**
   * POST /prebackup (7.6): checks, without writing a backup, that the HSM could write one to the container: it
   * exists and the credential may create, write and delete blobs (a probe blob is written and removed).
   */
  startPreBackup(target: StorageTarget): Promise<JobRecord> {
    const job = this.begin('preBackup', {});
    job.azureStorageBlobContainerUri = target.containerUri;
    return this.launch(job, async () => {
      const c = client(target);
      const probe = c.getBlockBlobClient(`mhsm-${this.hsm}-prebackup-${job.jobId}`);
      await storage(target, 'writing a probe blob to', () => probe.upload(Buffer.alloc(0), 0));
      await storage(target, 'deleting the probe blob from', () => probe.delete());
      return { statusDetails: `The pre-backup check passed: this HSM can write a backup to ${target.containerUri}.` };
    });
  }

  /**
   * PUT /prerestore (7.6): reads and opens the whole backup folder as a restore would (manifest, checksums, this
   * HSM's security domain) and changes nothing.
   */
  startPreRestore(target: StorageTarget, folder: string): Promise<JobRecord> {
    return this.launch(this.begin('preRestore', { folder }), async () => {
      const { keys, rbac } = await this.read(target, folder);
      return { statusDetails: `The pre-restore check passed: folder ${folder} holds ${keys.length} key(s) and ${rbac?.assignments.length ?? 0} role assignment(s) that this HSM can restore.` };
    });
  }

  private allKeys(): KeyRecord[] {
    return this.store.list<KeyRecord>(collections.keys(this.hsm));
  }

  private async backup(target: StorageTarget, folder: string): Promise<Partial<JobRecord>> {
    const c = client(target);
    const manifest: Manifest = { hsm: this.hsm, created: now(), keys: [], roleAssignments: { blob: '', sha256: '' } };
    const put = async (name: string, data: Buffer) => {
      const blob = `${folder}/${name}`;
      await storage(target, `writing ${blob} to`, () => c.getBlockBlobClient(blob).upload(data, data.length));
      return { blob: name, sha256: createHash('sha256').update(data).digest('hex') };
    };
    for (const k of this.allKeys()) {
      const data = await seal(this.keys, KEY_KIND, await sealedKey(this.keys, k));
      manifest.keys.push({ name: k.name, ...(await put(`keys/${encodeURIComponent(k.name.toLowerCase())}`, data)) });
    }
    const rbac: RbacBackup = { assignments: this.rbac.assignments(), roleDefinitions: this.rbac.customRoles() };
    manifest.roleAssignments = await put('roleassignments', await seal(this.keys, RBAC_KIND, rbac));
    await faultPoint('backup-before-manifest');
    await put(MANIFEST, await seal(this.keys, MANIFEST_KIND, manifest));
    return { statusDetails: `The backup is complete: ${manifest.keys.length} key(s) in folder ${folder}.` };
  }

  /** Downloads and opens the manifest and the blobs it names; nothing in the HSM changes here. */
  private async read(target: StorageTarget, folder: string, only?: string): Promise<{ keys: SealedKey[]; rbac?: RbacBackup }> {
    const c = client(target);
    const get = async (name: string, sha256?: string) => {
      const blob = `${folder}/${name}`;
      let data: Buffer;
      try {
        data = await c.getBlobClient(blob).downloadToBuffer();
      } catch (err) {
        if (err instanceof RestError && err.statusCode === 404 && restCode(err) === 'BlobNotFound') {
          throw new StorageFailure(name === MANIFEST ? `The folder ${folder} holds no ${MANIFEST}: it is not a complete backup (an interrupted backup writes none). Nothing was changed.` : `The backup folder ${folder} lacks ${name}. Nothing was changed.`);
        }
        throw storageFailure(err, `reading ${blob} from`, target);
      }
      if (sha256 && createHash('sha256').update(data).digest('hex') !== sha256) throw new StorageFailure(`${blob} does not match the checksum in the backup's manifest (it was changed or is corrupt). Nothing was changed.`);
      return data;
    };
    const manifest = await unseal<Manifest>(this.keys, MANIFEST_KIND, await get(MANIFEST), `The backup in folder ${folder}`);
    const entries = only === undefined ? manifest.keys : manifest.keys.filter((k) => k.name.toLowerCase() === only.toLowerCase());
    if (only !== undefined && entries.length === 0) throw errors.keyNotFound(`Key ${only} is not in the backup in folder ${folder}. Nothing was changed.`);
    const keys: SealedKey[] = [];
    for (const e of entries) keys.push(await unseal<SealedKey>(this.keys, KEY_KIND, await get(e.blob, e.sha256), `Key ${e.name} of the backup`));
    if (only !== undefined) return { keys };
    const raw = await unseal<RoleAssignmentRecord[] | RbacBackup>(this.keys, RBAC_KIND, await get(manifest.roleAssignments.blob, manifest.roleAssignments.sha256), 'The role assignments of the backup');
    return { keys, rbac: Array.isArray(raw) ? { assignments: raw, roleDefinitions: [] } : raw };
  }

  /** Full restore: the HSM's keys and role assignments become the backup's (its administrators keep Administrator). */
  private async restore(target: StorageTarget, folder: string): Promise<Partial<JobRecord>> {
    const { keys: sealed, rbac } = await this.read(target, folder);
    const roleAssignments = rbac?.assignments;
    const names = [...new Set([...this.allKeys().map((k) => k.name.toLowerCase()), ...sealed.map((s) => s.key.name.toLowerCase())])].sort();
    await lockAll(this.keys, names, async () => {
      const created: string[] = [];
      try {
        for (const s of sealed) created.push(...(await materialize(this.keys, s)));
        await faultPoint('restore-before-commit');
        const kc = collections.keys(this.hsm);
        const vc = collections.versions(this.hsm);
        const rc = collections.roleAssignments(this.hsm);
        const keep = new Set(sealed.flatMap((s) => s.versions.map((v) => v.rec.version)));
        const gone: string[] = [];
        const ops: Op[] = [];
        for (const k of this.allKeys()) {
          ops.push({ c: kc, id: k.name.toLowerCase() });
          for (const v of k.versions.filter((x) => !keep.has(x))) {
            ops.push({ c: vc, id: v });
            gone.push(v);
          }
        }
        for (const s of sealed) {
          for (const v of s.versions) ops.push({ c: vc, id: v.rec.version, v: v.rec as VersionRecord });
          ops.push({ c: kc, id: s.key.name.toLowerCase(), v: { ...s.key, versions: s.versions.map((v) => v.rec.version) } });
        }
        for (const a of this.rbac.assignments()) ops.push({ c: rc, id: a.name });
        for (const a of roleAssignments ?? []) ops.push({ c: rc, id: a.name.toLowerCase(), v: a });
        const dc = collections.roleDefinitions(this.hsm);
        for (const d of this.rbac.customRoles()) ops.push({ c: dc, id: d.id });
        for (const d of rbac?.roleDefinitions ?? []) ops.push({ c: dc, id: d.id, v: d });
        await this.store.commit(ops);
        created.length = 0;
        await this.rbac.ensureAdministrators();
        for (const v of gone) await this.keys.token.destroy(v);
      } finally {
        for (const id of created) await this.keys.token.destroy(id);
      }
    });
    const versions = sealed.reduce((n, s) => n + s.versions.length, 0);
    return { statusDetails: `The restore is complete: ${sealed.length} key(s), ${versions} version(s), ${roleAssignments?.length ?? 0} role assignment(s) from folder ${folder}.` };
  }

  private async restoreOne(target: StorageTarget, folder: string, keyName: string): Promise<Partial<JobRecord>> {
    const { keys } = await this.read(target, folder, keyName);
    const v = await restoreSealedKey(this.keys, keys[0]);
    return { statusDetails: `Key ${v.name} (${keys[0].versions.length} version(s)) was restored from folder ${folder}.` };
  }
}

async function lockAll<T>(keys: KeyService, names: string[], fn: () => Promise<T>): Promise<T> {
  if (names.length === 0) return fn();
  return keys.lock.run(names[0], () => lockAll(keys, names.slice(1), fn));
}

function client(t: StorageTarget): ContainerClient {
  const retryOptions = { maxTries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000, tryTimeoutInMs: 60_000 };
  const uri = t.containerUri.replace(/\/+$/, '');
  // The managed identity's access, stood in for by the Azurite development account's key (backup-routes.ts
  // accepts useManagedIdentity only for that account).
  if (t.managedIdentity) return new ContainerClient(uri, new StorageSharedKeyCredential(DEV_ACCOUNT, DEV_KEY), { retryOptions });
  return new ContainerClient(`${uri}?${(t.sas ?? '').replace(/^\?/, '')}`, new AnonymousCredential(), { retryOptions });
}

/** Backup-side jobs are polled at /backup/{id}/pending, the others at /restore/{id}/pending. */
export function jobFamily(j: Pick<JobRecord, 'kind'>): 'backup' | 'restore' {
  return j.kind === 'backup' || j.kind === 'preBackup' ? 'backup' : 'restore';
}

async function storage<T>(target: StorageTarget, action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storageFailure(err, action, target);
  }
}

function storageFailure(err: unknown, action: string, target: StorageTarget): StorageFailure {
  let why: string;
  if (err instanceof RestError) {
    const code = restCode(err);
    if (err.statusCode === 403) why = target.managedIdentity ? `access denied (${code ?? 403}): the HSM's managed identity has no access to the container` : `access denied (${code ?? 403}): the SAS token is invalid, expired, or lacks the permissions (it needs read, write, create, list)`;
    else if (err.statusCode === 404) why = `not found (${code ?? 404}): check the storage account and the container name`;
    else if (err.statusCode) why = `HTTP ${err.statusCode} ${code ?? ''}`.trim();
    else why = `${code ?? 'no answer'} (the storage account cannot be reached)`;
  } else {
    why = (err as Error)?.message ?? String(err);
  }
  return new StorageFailure(scrub(`Storage error while ${action} ${target.containerUri}: ${why}. Nothing was changed in the HSM.`));
}

function restCode(err: RestError): string | undefined {
  return err.code ?? (err.details as { errorCode?: string } | undefined)?.errorCode;
}

function failure(err: unknown): Partial<JobRecord> {
  if (err instanceof StorageFailure) return { statusDetails: err.message, error: { code: 'StorageError', message: err.message } };
  if (err instanceof ServiceError) return { statusDetails: err.message, error: { code: err.code, message: err.message } };
  const message = scrub(`The job failed: ${(err as Error)?.message ?? String(err)}. Nothing was changed.`);
  return { statusDetails: message, error: { code: 'InternalError', message } };
}
