import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import * as pkcs11js from 'pkcs11js';
import { Pkcs11Module } from '../pkcs11/module';
import { Token } from '../pkcs11/token';
import { fsyncDir, writePrivateFile } from '../../files/private-files';
import { TokenFiles } from './token-files';
import type { PartitionRoles } from './partition-roles';

/** An HA peer's copy of a partition (replication.ts): its token's files (base64), token PINs and roles. */
export interface TokenClone {
  files: Record<string, string>;
  pins: { user: string; so: string };
  roles?: PartitionRoles;
}

/** One object of a partition as the NTLS `list` and `partition showContents` show it. */
export interface PartitionObject {
  id: string;
  label: string;
  class: 'privateKey' | 'publicKey' | 'secretKey' | 'data' | 'certificate' | 'other';
  keyType?: 'RSA' | 'EC' | 'AES' | 'other';
}

/**
 * The partitions' SoftHSM2 tokens: one token per partition, labelled with the partition name, in the
 * appliance's own token folder (<stateDir>/pkcs11). SoftHSM2 has no PKCS#11 call that removes a token, so
 * deleting a partition (or zeroizing the HSM) closes the library, removes the token with softhsm2-util and
 * opens the library again; those moments take the lock exclusively, every token use takes it shared.
 */
export class PartitionTokens {
  private module: Pkcs11Module;
  private readonly active = new Set<Promise<unknown>>();
  private gate: Promise<void> = Promise.resolve();

  constructor(private readonly folder: string) {
    this.module = Pkcs11Module.open(folder);
  }

  /** The SoftHSM2 token folder (tokens/<uuid>/ per token). */
  get tokensDir(): string {
    return path.join(this.folder, 'tokens');
  }

  /** The serial number SoftHSM2 gave the partition's token: the same on both members of a cloned pair. */
  async serialOf(label: string): Promise<string> {
    return this.use(label, (token, module) => module.lib.C_GetTokenInfo(token.slot).serialNumber.trim());
  }

  get conf(): string {
    return path.join(this.folder, 'softhsm2.conf');
  }

  /** Labels of every initialised token in the folder. */
  labels(): string[] {
    const lib = this.module.lib;
    return lib
      .C_GetSlotList(true)
      .map((s) => lib.C_GetTokenInfo(s))
      .filter((i) => i.flags & pkcs11js.CKF_TOKEN_INITIALIZED)
      .map((i) => i.label.trim());
  }

  /** Runs fn on the partition's token (created on first use). */
  async use<T>(label: string, fn: (token: Token, module: Pkcs11Module) => Promise<T> | T): Promise<T> {
    for (;;) {
      const g = this.gate;
      await g;
      if (g === this.gate) break;
    }
    const p = (async () => fn(this.module.token(label, 2), this.module))();
    this.active.add(p);
    try {
      return await p;
    } finally {
      this.active.delete(p);
    }
  }

  /** Creates the token for a new partition; returns once it exists on disk. */
  async create(label: string): Promise<void> {
    await this.use(label, () => undefined);
  }

  /** Removes these tokens (missing ones are skipped), waiting for every use in flight first. */
  async remove(labels: string[]): Promise<void> {
    const present = new Set(this.labels());
    const doomed = labels.filter((l) => present.has(l));
    if (doomed.length === 0) return;
    await this.withClosed(() => {
      for (const label of doomed) {
        execFileSync('softhsm2-util', ['--delete-token', '--token', label], {
          env: { ...process.env, SOFTHSM2_CONF: this.conf },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        fs.rmSync(path.join(this.folder, 'pins', `${label}.json`), { force: true });
      }
    });
  }

  /** Replaces a token's files and PINs with a clone's, the library closed meanwhile (replication.ts). */
  async replaceToken(label: string, files: Record<string, string>, pins: { user: string; so: string }): Promise<void> {
    await this.withClosed(() => {
      new TokenFiles(path.join(this.folder, 'tokens')).replace(label, files);
      writePrivateFile(path.join(this.folder, 'pins', `${label}.json`), JSON.stringify(pins));
    });
  }

  /** Where a clone being taken waits (0600 files in a 0700 folder: they hold the token PINs), one per partition. */
  private get stagingDir(): string {
    return path.join(this.folder, 'adopting');
  }

  /** Keeps a clone on disk until dropStagedClone: its adoption is redone from here after a crash. */
  stageClone(label: string, clone: TokenClone): void {
    writePrivateFile(path.join(this.stagingDir, `${label}.json`), JSON.stringify(clone));
  }

  /** Partitions whose clone was staged and not yet fully taken. */
  stagedClones(): string[] {
    if (!fs.existsSync(this.stagingDir)) return [];
    return fs
      .readdirSync(this.stagingDir)
      .filter((f) => /^[A-Za-z0-9_-]{1,32}\.json$/.test(f))
      .map((f) => f.slice(0, -'.json'.length));
  }

  stagedClone(label: string): TokenClone {
    return JSON.parse(fs.readFileSync(path.join(this.stagingDir, `${label}.json`), 'utf8'));
  }

  dropStagedClone(label: string): void {
    fs.rmSync(path.join(this.stagingDir, `${label}.json`), { force: true });
    fsyncDir(this.stagingDir);
  }

  /** Runs fn with the library closed, once every use in flight has ended; uses wait until it is open again. */
  private async withClosed(fn: () => void): Promise<void> {
    const prev = this.gate;
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.gate = prev.then(() => mine);
    await prev;
    await Promise.allSettled([...this.active]);
    try {
      this.module.close();
      try {
        fn();
      } finally {
        this.module = Pkcs11Module.open(this.folder);
      }
    } finally {
      release();
    }
  }

  /** The token's own SO and user PINs (random, made with the token); only the appliance reads them. */
  pins(label: string): { user: string; so: string } {
    return JSON.parse(fs.readFileSync(path.join(this.folder, 'pins', `${label}.json`), 'utf8'));
  }

  /** Every object of the token, read through a session of its own (attributes only, never values). */
  async objects(label: string): Promise<PartitionObject[]> {
    return this.use(label, (token, module) => listObjects(module.lib, token.slot));
  }

  close(): void {
    this.module.close();
  }
}

const CLASS_NAMES: Record<number, PartitionObject['class']> = {
  [pkcs11js.CKO_PRIVATE_KEY]: 'privateKey',
  [pkcs11js.CKO_PUBLIC_KEY]: 'publicKey',
  [pkcs11js.CKO_SECRET_KEY]: 'secretKey',
  [pkcs11js.CKO_DATA]: 'data',
  [pkcs11js.CKO_CERTIFICATE]: 'certificate',
};

const KEY_TYPES: Record<number, PartitionObject['keyType']> = {
  [pkcs11js.CKK_RSA]: 'RSA',
  [pkcs11js.CKK_EC]: 'EC',
  [pkcs11js.CKK_AES]: 'AES',
};

function listObjects(lib: pkcs11js.PKCS11, slot: Buffer): PartitionObject[] {
  const s = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    lib.C_FindObjectsInit(s, []);
    const handles: Buffer[] = [];
    try {
      for (;;) {
        const batch = lib.C_FindObjects(s, 256);
        if (batch.length === 0) break;
        handles.push(...batch);
      }
    } finally {
      lib.C_FindObjectsFinal(s);
    }
    return handles.map((h) => {
      const [cls, label, id] = lib.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_CLASS }, { type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_ID }]);
      const c = (cls.value as Buffer).readUInt32LE(0);
      const o: PartitionObject = {
        id: (id.value as Buffer).toString('hex'),
        label: (label.value as Buffer).toString('utf8'),
        class: CLASS_NAMES[c] ?? 'other',
      };
      if (c === pkcs11js.CKO_PRIVATE_KEY || c === pkcs11js.CKO_PUBLIC_KEY || c === pkcs11js.CKO_SECRET_KEY) {
        const [kt] = lib.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_KEY_TYPE }]);
        o.keyType = KEY_TYPES[(kt.value as Buffer).readUInt32LE(0)] ?? 'other';
      }
      return o;
    });
  } finally {
    lib.C_CloseSession(s);
  }
}
