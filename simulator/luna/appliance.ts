import * as path from 'path';
import { EventEmitter } from 'events';
import { randomBytes, randomInt, scrypt as scryptCb, scryptSync, timingSafeEqual } from 'crypto';
import { promisify } from 'util';
import { Journal, Op } from '../store/journal';
import { KeyedMutex } from '../keyed-mutex';
import { LunaError, hsmErrors, shown } from './errors';
import { PartitionTokens, TokenClone } from './tokens';
import { faultPoint } from '../managedhsm/faults';
import { fingerprintOfPem, isIp, parseCertificate } from './certs';
import { MAX_FAILED_ROLE_LOGINS, PartitionRoles, Role, RoleCheck, emptyRoles } from './partition-roles';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

/** The factory password of tenantadmin; the first login must replace it. */
export const FACTORY_PASSWORD = 'PASSWORD';
export const ADMIN_USER = 'tenantadmin';
/** Failed HSM SO logins in a row that zeroize the HSM, as on the real appliance. */
export const SO_LOGIN_ATTEMPTS = 3;
export const MAX_PARTITIONS = 20;
export const MAX_FILES = 64;
export const MAX_FILE_BYTES = 64 * 1024;
export const DEFAULT_PARTITION_BYTES = 102400;

export interface HsmState {
  serial: string;
  initialized: boolean;
  label?: string;
  soHash?: string;
  domainHash?: string;
  policies: Record<string, number>;
  failedLogins: number;
  zeroizedBy?: 'factory' | 'policy' | 'failed-logins' | 'reinit';
  nextPartition: number;
  /** Derived from the cloning domain (the same on every HSM of the domain): proves and seals cloning (replication.ts). */
  domainKey?: string;
}

export interface AdminState {
  passwordHash: string;
  mustChange: boolean;
  publicKeys: Array<{ name: string; key: string }>;
  /** Failed SSH logins within the detection window, and the lockout they caused (ssh-policy.ts). */
  loginFailures?: { count: number; since: number; lockedUntil?: number };
}

export interface PartitionState {
  name: string;
  serial: string;
  sizeBytes: number;
  createdAt: string;
  /** The roles of the partition (partition-roles.ts); absent until `partition init`. */
  roles?: PartitionRoles;
  /** Set while the PO lockout's zeroize erases the token: a crash part-way is finished at the next start. */
  zeroizing?: true;
}

export interface ClientState {
  name: string;
  ip?: string;
  hostname?: string;
  certPem: string;
  fingerprint: string;
  partitions: string[];
  registeredAt: string;
}

export interface StoredFile {
  name: string;
  data: string;
  mtime: number;
}

export interface PolicySpec {
  id: number;
  description: string;
  defaultValue: number;
  changeable: boolean;
  destructive: boolean;
}

/** The HSM policies this appliance knows; policy 12 off (0) is FIPS 140-2 approved operation. */
export const POLICIES: readonly PolicySpec[] = [
  { id: 0, description: 'PIN-based authentication', defaultValue: 1, changeable: false, destructive: false },
  { id: 1, description: 'PED-based authentication', defaultValue: 0, changeable: false, destructive: false },
  { id: 7, description: 'Allow cloning', defaultValue: 1, changeable: true, destructive: true },
  { id: 12, description: 'Allow non-FIPS algorithms', defaultValue: 1, changeable: true, destructive: true },
  { id: 15, description: 'SO can reset partition PIN', defaultValue: 1, changeable: true, destructive: true },
  { id: 16, description: 'Allow network authentication', defaultValue: 1, changeable: true, destructive: false },
  { id: 21, description: 'Force user PIN change after set/reset', defaultValue: 1, changeable: true, destructive: false },
  { id: 22, description: 'Allow offboard storage', defaultValue: 1, changeable: true, destructive: true },
];

/** Names the appliance accepts; anything else is refused before it reaches a token, a file or a record. */
export const NAME_RULES = {
  partition: { re: /^[A-Za-z0-9_-]{1,32}$/, text: '1 to 32 letters, digits, - or _' },
  client: { re: /^[A-Za-z0-9_.-]{1,64}$/, text: '1 to 64 letters, digits, ., - or _' },
  label: { re: /^[A-Za-z0-9_.-]{1,32}$/, text: '1 to 32 letters, digits, ., - or _' },
  hostname: { re: /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, text: 'a DNS host name' },
  file: { re: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, text: '1 to 128 letters, digits, ., - or _, not starting with .' },
  keyName: { re: /^[A-Za-z0-9_.-]{1,32}$/, text: '1 to 32 letters, digits, ., - or _' },
} as const;

export function checkName(kind: keyof typeof NAME_RULES, option: string, value: string): void {
  const rule = NAME_RULES[kind];
  if (!rule.re.test(value)) throw new LunaError(`Error: Invalid value '${shown(value)}' for ${option}: must be ${rule.text}.`);
}

/** Passwords: printable ASCII without spaces, 7 to 255 characters (Luna's rule); never echoed back. */
export function checkSecret(what: string, value: string, min = 7): void {
  if (value.length < min || value.length > 255 || !/^[\x21-\x7e]+$/.test(value)) {
    throw new LunaError(`Error: The ${what} must be ${min} to 255 printable characters without spaces.`);
  }
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const h = await scrypt(secret, salt, 32, { N: 16384, r: 8, p: 1 });
  return `scrypt$${salt.toString('base64')}$${h.toString('base64')}`;
}

export async function verifySecret(secret: string, stored: string | undefined): Promise<boolean> {
  if (!stored) return false;
  const [, salt, hash] = stored.split('$');
  const h = await scrypt(secret, Buffer.from(salt, 'base64'), 32, { N: 16384, r: 8, p: 1 });
  return timingSafeEqual(h, Buffer.from(hash, 'base64'));
}

const C = { hsm: 'hsm', admin: 'admin', partitions: 'partitions', clients: 'clients', files: 'files', replicas: 'replicas' } as const;

/** A partition's HA replication: its peers (other appliances of the cloning domain) and what was last in sync. */
export interface ReplicaState {
  partition: string;
  peers: Array<{ ip: string; port: number; certPem: string; fingerprint: string }>;
  /** Object files present after the last exchange: one missing now was deleted here. */
  known: string[];
  /** Object files deleted in the group, never to be brought back. */
  tombstones: string[];
}

/** The cloning domain's key: a slow hash with a fixed salt, so every HSM initialised with the domain derives the same. */
export function cloningDomainKey(domain: string): string {
  return scryptSync(domain, 'luna-cloning-domain', 32, { N: 16384, r: 8, p: 1 }).toString('hex');
}

/**
 * The appliance's domain: the HSM (label, SO password, policies), tenantadmin, partitions (each a token),
 * registered clients and the files uploaded to tenantadmin's home. State lives in the crash-safe journal;
 * every change is validated first and committed as one unit, so bad input changes nothing. Emits
 * 'access-changed' whenever a client registration or assignment changes (NTLS re-reads its trusted
 * certificates and re-checks live links at once), 'partition-zeroized' when ten wrong PO logins erase a
 * partition, and 'partition-changed' after a client changed a partition's objects.
 */
export class Appliance extends EventEmitter {
  private readonly mutex = new KeyedMutex();

  private constructor(
    private readonly journal: Journal,
    readonly tokens: PartitionTokens,
    readonly ip: string,
    readonly hostname: string,
  ) {
    super();
  }

  static async open(stateDir: string, ip: string, hostname: string): Promise<Appliance> {
    const journal = Journal.open(path.join(stateDir, 'state'));
    const tokens = new PartitionTokens(path.join(stateDir, 'pkcs11'));
    const a = new Appliance(journal, tokens, ip, hostname);
    try {
      await a.firstStart();
      // A crash between a commit that dropped partitions and the removal of their tokens leaves orphans.
      const known = new Set(a.partitions().map((p) => p.name));
      await tokens.remove(tokens.labels().filter((l) => !known.has(l)));
      // Work a crash cut short: an HA clone half taken, a partition zeroize half done. Redone before any client can connect.
      for (const label of tokens.stagedClones()) {
        if (known.has(label)) await a.finishAdoption(label, tokens.stagedClone(label));
        else tokens.dropStagedClone(label);
      }
      for (const p of a.partitions()) if (p.zeroizing) await a.finishPartitionZeroize(p.name);
    } catch (err) {
      tokens.close();
      await journal.close();
      throw err;
    }
    return a;
  }

  private async firstStart(): Promise<void> {
    const ops: Op[] = [];
    if (!this.journal.get(C.hsm, 'hsm')) {
      const hsm: HsmState = {
        serial: String(randomInt(1_100_000, 1_999_999)),
        initialized: false,
        policies: Object.fromEntries(POLICIES.map((p) => [String(p.id), p.defaultValue])),
        failedLogins: 0,
        zeroizedBy: 'factory',
        nextPartition: 1,
      };
      ops.push({ c: C.hsm, id: 'hsm', v: hsm });
    }
    if (!this.journal.get(C.admin, ADMIN_USER)) {
      const admin: AdminState = { passwordHash: await hashSecret(FACTORY_PASSWORD), mustChange: true, publicKeys: [] };
      ops.push({ c: C.admin, id: ADMIN_USER, v: admin });
    }
    if (ops.length) await this.journal.commit(ops);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run('appliance', fn);
  }

  hsm(): HsmState {
    return this.journal.get<HsmState>(C.hsm, 'hsm')!;
  }

  admin(): AdminState {
    return this.journal.get<AdminState>(C.admin, ADMIN_USER)!;
  }

  partitions(): PartitionState[] {
    return this.journal.list<PartitionState>(C.partitions).sort((a, b) => a.serial.localeCompare(b.serial));
  }

  partition(name: string): PartitionState | undefined {
    return this.journal.get<PartitionState>(C.partitions, name);
  }

  clients(): ClientState[] {
    return this.journal.list<ClientState>(C.clients).sort((a, b) => a.registeredAt.localeCompare(b.registeredAt) || a.name.localeCompare(b.name));
  }

  client(name: string): ClientState | undefined {
    return this.journal.get<ClientState>(C.clients, name);
  }

  clientByFingerprint(fp: string): ClientState | undefined {
    return this.clients().find((c) => c.fingerprint === fp);
  }

  files(): StoredFile[] {
    return this.journal.list<StoredFile>(C.files).sort((a, b) => a.name.localeCompare(b.name));
  }

  file(name: string): StoredFile | undefined {
    return this.journal.get<StoredFile>(C.files, name);
  }

  fipsMode(): boolean {
    return this.hsm().policies['12'] === 0;
  }

  // ---- tenantadmin ----

  async verifyAdminPassword(password: string): Promise<boolean> {
    return verifySecret(password, this.admin().passwordHash);
  }

  async changeAdminPassword(current: string, next: string): Promise<void> {
    return this.serial(async () => {
      if (!(await this.verifyAdminPassword(current))) throw new LunaError('Error: Authentication failure: the current password is wrong.');
      checkSecret('new password', next, 8);
      if (next === current || next === FACTORY_PASSWORD) throw new LunaError('Error: The new password must differ from the current and the factory password.');
      const admin = { ...this.admin(), passwordHash: await hashSecret(next), mustChange: false };
      await this.journal.commit([{ c: C.admin, id: ADMIN_USER, v: admin }]);
    });
  }

  /** Until when tenantadmin's SSH login is locked (ms since the epoch), if it is at `now`. */
  adminLockedUntil(now: number): number | undefined {
    const f = this.admin().loginFailures;
    return f?.lockedUntil !== undefined && now < f.lockedUntil ? f.lockedUntil : undefined;
  }

  /** Counts a failed SSH login; reaching the policy's threshold within its window locks the account. */
  async recordAdminLoginFailure(now: number, policy: { maxFailedAttempts: number; detectionWindowMs: number; lockoutMs: number }): Promise<void> {
    return this.serial(async () => {
      const admin = this.admin();
      const f = admin.loginFailures;
      const fresh = !f || now - f.since > policy.detectionWindowMs || (f.lockedUntil !== undefined && now >= f.lockedUntil);
      const count = fresh ? 1 : f.count + 1;
      const since = fresh ? now : f.since;
      const lockedUntil = count >= policy.maxFailedAttempts ? now + policy.lockoutMs : undefined;
      await this.journal.commit([{ c: C.admin, id: ADMIN_USER, v: { ...admin, loginFailures: { count, since, lockedUntil } } }]);
    });
  }

  /** A successful login resets the count. */
  async clearAdminLoginFailures(): Promise<void> {
    return this.serial(async () => {
      const admin = this.admin();
      if (admin.loginFailures) await this.journal.commit([{ c: C.admin, id: ADMIN_USER, v: { ...admin, loginFailures: undefined } }]);
    });
  }

  async addPublicKey(name: string, key: string): Promise<void> {
    return this.serial(async () => {
      const admin = this.admin();
      if (admin.publicKeys.some((k) => k.name === name)) throw new LunaError(`Error: A public key named '${name}' already exists.`);
      if (admin.publicKeys.length >= 16) throw new LunaError('Error: At most 16 public keys can be added.');
      await this.journal.commit([{ c: C.admin, id: ADMIN_USER, v: { ...admin, publicKeys: [...admin.publicKeys, { name, key }] } }]);
    });
  }

  async deletePublicKey(name: string): Promise<void> {
    return this.serial(async () => {
      const admin = this.admin();
      if (!admin.publicKeys.some((k) => k.name === name)) throw new LunaError(`Error: No public key named '${name}'.`);
      await this.journal.commit([{ c: C.admin, id: ADMIN_USER, v: { ...admin, publicKeys: admin.publicKeys.filter((k) => k.name !== name) } }]);
    });
  }

  // ---- files in tenantadmin's home (scp / sftp) ----

  async writeFile(name: string, data: Buffer): Promise<void> {
    return this.serial(async () => {
      checkName('file', 'the file name', name);
      if (name === 'server.pem') throw new LunaError('Error: server.pem is the appliance certificate and cannot be replaced.');
      if (data.length > MAX_FILE_BYTES) throw new LunaError(`Error: Files are limited to ${MAX_FILE_BYTES} bytes.`);
      if (!this.file(name) && this.files().length >= MAX_FILES) throw new LunaError(`Error: At most ${MAX_FILES} files can be stored.`);
      await this.journal.commit([{ c: C.files, id: name, v: { name, data: data.toString('base64'), mtime: Math.floor(Date.now() / 1000) } }]);
    });
  }

  async deleteFile(name: string): Promise<void> {
    return this.serial(async () => {
      if (!this.file(name)) throw new LunaError(`Error: No file named '${shown(name)}'.`);
      await this.journal.commit([{ c: C.files, id: name, v: undefined }]);
    });
  }

  // ---- HSM ----

  private requireInitialized(): HsmState {
    const hsm = this.hsm();
    if (!hsm.initialized) throw hsmErrors.notInitialized();
    return hsm;
  }

  /** Checks the HSM SO password; SO_LOGIN_ATTEMPTS failures in a row zeroize the HSM. */
  async soLogin(password: string): Promise<void> {
    return this.serial(async () => {
      const hsm = this.requireInitialized();
      if (await verifySecret(password, hsm.soHash)) {
        if (hsm.failedLogins) await this.journal.commit([{ c: C.hsm, id: 'hsm', v: { ...hsm, failedLogins: 0 } }]);
        return;
      }
      const failed = hsm.failedLogins + 1;
      if (failed >= SO_LOGIN_ATTEMPTS) {
        await this.zeroizeLocked('failed-logins');
        throw new LunaError("Error: 'hsm login' failed. Too many failed login attempts: the HSM has been zeroized.", 0xa0, 'CKR_PIN_INCORRECT');
      }
      await this.journal.commit([{ c: C.hsm, id: 'hsm', v: { ...hsm, failedLogins: failed } }]);
      throw hsmErrors.pinIncorrect();
    });
  }

  async initHsm(label: string, soPassword: string, domain: string): Promise<void> {
    checkName('label', '-label', label);
    checkSecret('HSM Admin password', soPassword);
    checkSecret('domain', domain);
    return this.serial(async () => {
      if (this.hsm().initialized) await this.zeroizeLocked('reinit');
      const hsm: HsmState = {
        ...this.hsm(),
        initialized: true,
        label,
        soHash: await hashSecret(soPassword),
        domainHash: await hashSecret(domain),
        domainKey: cloningDomainKey(domain),
        failedLogins: 0,
        zeroizedBy: undefined,
      };
      await this.journal.commit([{ c: C.hsm, id: 'hsm', v: hsm }]);
    });
  }

  /** Sets a policy; a destructive one zeroizes the HSM when its value changes (the new value survives). */
  async changePolicy(id: number, value: number): Promise<{ zeroized: boolean }> {
    const spec = POLICIES.find((p) => p.id === id);
    if (!spec) throw new LunaError(`Error: Unknown policy ${id}. Run 'hsm showPolicies' for the policies.`);
    if (!spec.changeable) throw new LunaError(`Error: Policy ${id} (${spec.description}) cannot be changed on this HSM.`);
    if (value !== 0 && value !== 1) throw new LunaError(`Error: Invalid value ${value} for policy ${id}: must be 0 or 1.`);
    return this.serial(async () => {
      const hsm = this.requireInitialized();
      if (hsm.policies[String(id)] === value) return { zeroized: false };
      if (spec.destructive) await this.zeroizeLocked('policy');
      const now = this.hsm();
      await this.journal.commit([{ c: C.hsm, id: 'hsm', v: { ...now, policies: { ...now.policies, [String(id)]: value } } }]);
      return { zeroized: spec.destructive };
    });
  }

  /** Erases the HSM: label, SO, domain, partitions (and their keys) and client assignments; keeps policies. */
  private async zeroizeLocked(by: HsmState['zeroizedBy']): Promise<void> {
    const parts = this.partitions().map((p) => p.name);
    const ops: Op[] = [
      {
        c: C.hsm,
        id: 'hsm',
        v: { ...this.hsm(), initialized: false, label: undefined, soHash: undefined, domainHash: undefined, domainKey: undefined, failedLogins: 0, zeroizedBy: by },
      },
      ...parts.map((name) => ({ c: C.partitions, id: name, v: undefined })),
      ...this.replicas().map((r) => ({ c: C.replicas, id: r.partition, v: undefined })),
      ...this.clients()
        .filter((c) => c.partitions.length)
        .map((c) => ({ c: C.clients, id: c.name, v: { ...c, partitions: [] } })),
    ];
    await this.journal.commit(ops);
    this.emit('access-changed');
    await this.tokens.remove(parts);
  }

  // ---- partitions ----

  async createPartition(name: string, sizeBytes = DEFAULT_PARTITION_BYTES): Promise<PartitionState> {
    checkName('partition', '-partition', name);
    return this.serial(async () => {
      const hsm = this.requireInitialized();
      if (this.partition(name)) throw new LunaError(`Error: A partition named '${name}' already exists.`);
      if (this.partitions().length >= MAX_PARTITIONS) throw new LunaError(`Error: The HSM holds at most ${MAX_PARTITIONS} partitions.`);
      const p: PartitionState = {
        name,
        serial: `${hsm.serial}${String(hsm.nextPartition).padStart(6, '0')}`,
        sizeBytes,
        createdAt: new Date().toISOString(),
      };
      // The token first: a crash before the commit leaves an orphan token, removed at the next start.
      await this.tokens.create(name);
      await this.journal.commit([
        { c: C.partitions, id: name, v: p },
        { c: C.hsm, id: 'hsm', v: { ...hsm, nextPartition: hsm.nextPartition + 1 } },
      ]);
      return p;
    });
  }

  requirePartition(name: string): PartitionState {
    const p = this.partition(name);
    if (!p) throw new LunaError(`Error: Partition '${shown(name)}' does not exist. Run 'partition list' for the partitions.`);
    return p;
  }

  async deletePartition(name: string): Promise<void> {
    return this.serial(async () => {
      this.requireInitialized();
      this.requirePartition(name);
      const ops: Op[] = [
        { c: C.partitions, id: name, v: undefined },
        { c: C.replicas, id: name, v: undefined },
        ...this.clients()
          .filter((c) => c.partitions.includes(name))
          .map((c) => ({ c: C.clients, id: c.name, v: { ...c, partitions: c.partitions.filter((p) => p !== name) } })),
      ];
      await this.journal.commit(ops);
      this.emit('access-changed');
      await this.tokens.remove([name]);
    });
  }

  // ---- clients ----

  requireClient(name: string): ClientState {
    const c = this.client(name);
    if (!c) throw new LunaError(`Error: Client '${shown(name)}' is not registered. Run 'client list' for the clients.`);
    return c;
  }

  /** Registers a client from the certificate uploaded as <ip>.pem or <hostname>.pem. */
  async registerClient(name: string, where: { ip?: string; hostname?: string }): Promise<ClientState> {
    checkName('client', '-client', name);
    if (!!where.ip === !!where.hostname) throw new LunaError('Error: Give exactly one of -ip and -hostname.');
    if (where.ip !== undefined && !isIp(where.ip)) throw new LunaError(`Error: Invalid value '${shown(where.ip)}' for -ip: not an IP address.`);
    if (where.hostname !== undefined) checkName('hostname', '-hostname', where.hostname);
    const id = (where.ip ?? where.hostname)!;
    return this.serial(async () => {
      if (this.client(name)) {
        throw new LunaError(`Error: A client named '${name}' is already registered. Delete it first with 'client delete -client ${name}'.`);
      }
      const taken = this.clients().find((c) => (where.ip ? c.ip === where.ip : c.hostname === where.hostname));
      if (taken) throw new LunaError(`Error: ${where.ip ? 'IP address' : 'Host name'} ${id} is already registered as client '${taken.name}'.`);
      const file = this.file(`${id}.pem`);
      if (!file) throw new LunaError(`Error: Unable to find the client certificate ${id}.pem. Copy it to the appliance with scp first.`);
      const pem = Buffer.from(file.data, 'base64').toString('utf8');
      let fingerprint: string;
      try {
        parseCertificate(pem);
        fingerprint = fingerprintOfPem(pem);
      } catch (err) {
        throw new LunaError(`Error: ${id}.pem is not a usable client certificate: ${(err as Error).message}.`);
      }
      const dup = this.clientByFingerprint(fingerprint);
      if (dup) throw new LunaError(`Error: This certificate is already registered as client '${dup.name}'.`);
      const c: ClientState = { name, ...where, certPem: pem, fingerprint, partitions: [], registeredAt: new Date().toISOString() };
      await this.journal.commit([{ c: C.clients, id: name, v: c }]);
      this.emit('access-changed');
      return c;
    });
  }

  async assignPartition(client: string, partition: string): Promise<void> {
    return this.serial(async () => {
      const c = this.requireClient(client);
      this.requirePartition(partition);
      if (c.partitions.includes(partition)) throw new LunaError(`Error: Partition '${partition}' is already assigned to client '${client}'.`);
      await this.journal.commit([{ c: C.clients, id: client, v: { ...c, partitions: [...c.partitions, partition] } }]);
      this.emit('access-changed');
    });
  }

  async revokePartition(client: string, partition: string): Promise<void> {
    return this.serial(async () => {
      const c = this.requireClient(client);
      this.requirePartition(partition);
      if (!c.partitions.includes(partition)) throw new LunaError(`Error: Partition '${partition}' is not assigned to client '${client}'.`);
      await this.journal.commit([{ c: C.clients, id: client, v: { ...c, partitions: c.partitions.filter((p) => p !== partition) } }]);
      this.emit('access-changed');
    });
  }

  async deleteClient(client: string): Promise<void> {
    return this.serial(async () => {
      this.requireClient(client);
      await this.journal.commit([{ c: C.clients, id: client, v: undefined }]);
      this.emit('access-changed');
    });
  }

  // ---- HA replication records (replication.ts) ----

  replicas(): ReplicaState[] {
    return this.journal.list<ReplicaState>(C.replicas);
  }

  replica(partition: string): ReplicaState | undefined {
    return this.journal.get<ReplicaState>(C.replicas, partition);
  }

  async saveReplica(r: ReplicaState | { partition: string; remove: true }): Promise<void> {
    return this.serial(async () => {
      const peersBefore = JSON.stringify(this.replica(r.partition)?.peers ?? []);
      await this.journal.commit([{ c: C.replicas, id: r.partition, v: 'remove' in r ? undefined : r }]);
      // A new or removed peer changes whom the NTLS port trusts.
      if (JSON.stringify('remove' in r ? [] : r.peers) !== peersBefore) this.emit('access-changed');
    });
  }

  /**
   * Changes a partition's replication record, and with it (in `change`) the token's object files, under the
   * appliance's lock: never in the middle of a zeroize or a delete. False, and nothing done, when the record is
   * gone (the partition left its group meanwhile): an exchange in flight must not bring it back.
   */
  async updateReplica(partition: string, change: (r: ReplicaState) => ReplicaState): Promise<boolean> {
    return this.serial(async () => {
      const r = this.replica(partition);
      if (!r) return false;
      await this.journal.commit([{ c: C.replicas, id: partition, v: change(r) }]);
      return true;
    });
  }

  /**
   * Takes an HA peer's clone of a partition: its token files and PINs replace this token's, its roles this
   * partition's, and the replication record knows the clone's objects. The clone is staged on disk first
   * (tokens.stageClone), so that a crash part-way is redone at the next start rather than leaving a mix of
   * both tokens, which would never be cloned again (its serial is already the peer's).
   */
  async adoptClone(name: string, clone: TokenClone): Promise<void> {
    return this.serial(async () => {
      this.requirePartition(name);
      this.tokens.stageClone(name, clone);
      // Links using the partition end before its token is replaced.
      this.emit('partition-zeroized', name);
      await this.finishAdoption(name, clone);
    });
  }

  /** The steps of adoptClone after staging; each may be done again after a crash. */
  private async finishAdoption(name: string, clone: TokenClone): Promise<void> {
    await this.tokens.replaceToken(name, clone.files, clone.pins);
    await faultPoint('luna-adopt-before-commit');
    const p = this.requirePartition(name);
    const r = this.replica(name);
    const known = Object.keys(clone.files).filter((f) => f !== 'token.object');
    const ops: Op[] = [{ c: C.partitions, id: name, v: { ...p, roles: clone.roles } }];
    if (r) ops.push({ c: C.replicas, id: name, v: { ...r, known, tombstones: [] } });
    await this.journal.commit(ops);
    this.tokens.dropStagedClone(name);
  }

  // ---- partition roles (PO, CO, CU), enforced at NTLS by role-gate.ts ----

  /** lunacm `partition init`: sets the label and the Partition SO (PO) password of a new partition. */
  async initPartition(name: string, label: string, poPassword: string): Promise<void> {
    checkSecret('Partition SO password', poPassword);
    return this.serial(async () => {
      const p = this.requirePartition(name);
      if (p.roles) throw new LunaError(`Error: Partition '${name}' is already initialized.`, 0x101, 'CKR_USER_ALREADY_INITIALIZED');
      if (p.zeroizing) throw new LunaError(`Error: Partition '${name}' is being zeroized; try again once the appliance has restarted.`);
      const roles: PartitionRoles = { ...emptyRoles(), label, po: await hashSecret(poPassword) };
      await this.journal.commit([{ c: C.partitions, id: name, v: { ...p, roles } }]);
    });
  }

  /**
   * Checks a role's password. A failure counts toward that role's lockout: ten Partition SO failures in a row
   * zeroize the partition (its objects are destroyed, roles cleared), ten Crypto Officer or Crypto User failures
   * lock that role (a CO lockout locks the CU too) until the PO (for the CO) or the CO (for the CU) sets it again.
   */
  async checkRole(name: string, role: Role, password: string): Promise<RoleCheck> {
    return this.serial(async () => {
      const p = this.partition(name);
      if (!p?.roles) return 'not-initialized';
      const r = p.roles;
      if (!r[role]) return 'not-initialized';
      if (r.locked[role] || (role === 'cu' && r.locked.co)) return 'locked';
      if (await verifySecret(password, r[role])) {
        if (r.failed[role]) await this.journal.commit([{ c: C.partitions, id: name, v: { ...p, roles: { ...r, failed: { ...r.failed, [role]: 0 } } } }]);
        return 'ok';
      }
      const failed = r.failed[role] + 1;
      if (failed >= MAX_FAILED_ROLE_LOGINS && role === 'po') {
        await this.zeroizePartitionLocked(p);
        return 'zeroized';
      }
      const locked = failed >= MAX_FAILED_ROLE_LOGINS ? { ...r.locked, [role]: true } : r.locked;
      await this.journal.commit([{ c: C.partitions, id: name, v: { ...p, roles: { ...r, failed: { ...r.failed, [role]: failed }, locked } } }]);
      return failed >= MAX_FAILED_ROLE_LOGINS ? 'locked' : 'wrong';
    });
  }

  /**
   * The PO lockout's zeroize: objects destroyed, roles cleared, and the partition leaves its HA group (its
   * replication record goes; kept, the next exchange would send every object of the group as deleted here).
   * One commit records all that with `zeroizing` before the token is erased, so a crash in between is finished
   * at the next start instead of leaving the old keys in a partition any assigned client could initialise.
   */
  private async zeroizePartitionLocked(p: PartitionState): Promise<void> {
    const ops: Op[] = [{ c: C.partitions, id: p.name, v: { ...p, roles: undefined, zeroizing: true } }];
    if (this.replica(p.name)) ops.push({ c: C.replicas, id: p.name, v: undefined });
    await this.journal.commit(ops);
    // Its peers are no longer trusted for it, and links using the partition end before its token is erased.
    if (ops.length > 1) this.emit('access-changed');
    this.emit('partition-zeroized', p.name);
    await faultPoint('luna-zeroize-before-erase');
    await this.finishPartitionZeroize(p.name);
  }

  /** Erases the partition's token and makes it again, empty (new token PINs), then clears `zeroizing`. */
  private async finishPartitionZeroize(name: string): Promise<void> {
    await this.tokens.remove([name]);
    await this.tokens.create(name);
    const { zeroizing: _done, ...p } = this.requirePartition(name);
    await this.journal.commit([{ c: C.partitions, id: name, v: p }]);
  }

  /** Whether password is this role's, without counting a failure (to tell a CU login from a CO one). */
  async isRolePassword(name: string, role: Role, password: string): Promise<boolean> {
    const hash = this.partition(name)?.roles?.[role];
    return !!hash && (await verifySecret(password, hash));
  }

  /** `role init -name co` (by the PO) or `-name cu` (by the CO); also the reset of a locked role. */
  async initRole(name: string, role: 'co' | 'cu', password: string): Promise<void> {
    checkSecret(role === 'co' ? 'Crypto Officer password' : 'Crypto User password', password);
    return this.serial(async () => {
      const p = this.requirePartition(name);
      if (!p.roles) throw new LunaError(`Error: Partition '${name}' is not initialized.`);
      const r = p.roles;
      await this.refuseSharedUserPassword(r, role, password);
      const roles: PartitionRoles = { ...r, [role]: await hashSecret(password), failed: { ...r.failed, [role]: 0 }, locked: { ...r.locked, [role]: false } };
      await this.journal.commit([{ c: C.partitions, id: name, v: { ...p, roles } }]);
    });
  }

  /** A login with CKU_USER tells the CU from the CO by the password: theirs must differ. */
  private async refuseSharedUserPassword(r: PartitionRoles, role: Role, password: string): Promise<void> {
    if (role === 'po') return;
    const other = role === 'co' ? r.cu : r.co;
    if (other && (await verifySecret(password, other))) throw new LunaError('Error: The Crypto Officer and Crypto User passwords must differ.');
  }

  /** `role changepw`: a logged-in role replaces its own password (false when the current one is wrong). */
  async changeRolePassword(name: string, role: Role, current: string, next: string): Promise<boolean> {
    checkSecret('new password', next);
    return this.serial(async () => {
      const p = this.requirePartition(name);
      if (!p.roles?.[role] || !(await verifySecret(current, p.roles[role]))) return false;
      await this.refuseSharedUserPassword(p.roles, role, next);
      await this.journal.commit([{ c: C.partitions, id: name, v: { ...p, roles: { ...p.roles, [role]: await hashSecret(next) } } }]);
      return true;
    });
  }

  async close(): Promise<void> {
    await this.serial(async () => undefined);
    this.tokens.close();
    await this.journal.close();
  }
}
