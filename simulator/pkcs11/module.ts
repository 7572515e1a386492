import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { Worker, SHARE_ENV } from 'worker_threads';
import { ensurePrivateDir, writeFileAtomic, writePrivateFile } from '../../files/private-files';
import { Token } from './token';
import { SignThreads } from './sign-threads';

/** Debian's softhsm2 package puts the module here; SOFTHSM2_MODULE overrides it. */
export const DEFAULT_SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/**
 * The one PKCS#11 library loaded in this process, over one SoftHSM2 token folder.
 * SoftHSM2 reads its configuration (the token folder) at C_Initialize from SOFTHSM2_CONF, and a process can
 * hold the library initialised only once, so a process serves one state folder at a time: opening a second
 * one while the first is open is refused instead of silently sharing tokens.
 */
export class Pkcs11Module {
  private static current: Pkcs11Module | undefined;
  private readonly tokens = new Map<string, Token>();
  private closed = false;
  /** Started on the first sign: most processes that open a module never sign, and threads cost memory. */
  private signThreads: SignThreads | undefined;

  private constructor(
    readonly lib: pkcs11js.PKCS11,
    readonly folder: string,
    private readonly modulePath: string,
  ) {}

  /** folder holds softhsm2.conf, tokens/ and pins/ (0700). */
  static open(folder: string, modulePath = process.env.SOFTHSM2_MODULE ?? DEFAULT_SOFTHSM_MODULE): Pkcs11Module {
    if (Pkcs11Module.current) {
      throw new Error(`a PKCS#11 token folder is already open in this process (${Pkcs11Module.current.folder}); close it first`);
    }
    if (!fs.existsSync(modulePath)) {
      throw new Error(`SoftHSM2 module not found at ${modulePath}: install Debian's softhsm2 (scripts/setup-system.sh, as root) or set SOFTHSM2_MODULE`);
    }
    ensurePrivateDir(folder);
    ensurePrivateDir(path.join(folder, 'tokens'));
    const conf = path.join(folder, 'softhsm2.conf');
    writeFileAtomic(
      conf,
      `directories.tokendir = ${path.join(folder, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
      0o600,
    );
    setRealEnv('SOFTHSM2_CONF', conf);
    const lib = new pkcs11js.PKCS11();
    lib.load(modulePath);
    // CKF_OS_LOCKING_OK: calls come from libuv's pool and the signing threads;
    // C_Initialize(NULL) would turn SoftHSM's locks off.
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    const m = new Pkcs11Module(lib, folder, modulePath);
    Pkcs11Module.current = m;
    return m;
  }

  /** Opens (creating on first use) the token with this label; its PINs live in pins/<label>.json, 0600. */
  token(label: string, sessions = 4): Token {
    const open = this.tokens.get(label);
    if (open) return open;
    if (!/^[A-Za-z0-9._-]{1,32}$/.test(label)) throw new Error(`bad token label ${JSON.stringify(label)}`);
    const pinFile = path.join(this.folder, 'pins', `${label}.json`);
    let slot = this.findSlot(label);
    let pins: { user: string; so: string };
    if (slot === undefined) {
      // PINs are saved before the token exists so that a crash in between never leaves a token nobody can open.
      pins = { user: randomBytes(16).toString('hex'), so: randomBytes(16).toString('hex') };
      writePrivateFile(pinFile, JSON.stringify(pins));
      slot = this.initToken(label, pins);
    } else {
      pins = JSON.parse(fs.readFileSync(pinFile, 'utf8'));
    }
    const token = new Token(this.lib, slot, label, pins.user, sessions, () => this.signer());
    this.tokens.set(label, token);
    return token;
  }

  /** Slot holding the initialised token with this label, if any. */
  findSlot(label: string): Buffer | undefined {
    for (const slot of this.lib.C_GetSlotList(true)) {
      const info = this.lib.C_GetTokenInfo(slot);
      if (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED && info.label.trim() === label) return slot;
    }
    return undefined;
  }

  private initToken(label: string, pins: { user: string; so: string }): Buffer {
    const free = this.lib
      .C_GetSlotList(true)
      .find((s) => !(this.lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED));
    if (!free) throw new Error('SoftHSM2 offers no free slot');
    this.lib.C_InitToken(free, pins.so, label.padEnd(32));
    // SoftHSM2 moves a freshly initialised token to a new slot id: look it up again by label.
    const slot = this.findSlot(label);
    if (!slot) throw new Error(`token ${label} vanished after C_InitToken`);
    const s = this.lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      this.lib.C_Login(s, pkcs11js.CKU_SO, pins.so);
      this.lib.C_InitPIN(s, pins.user);
      this.lib.C_Logout(s);
    } finally {
      this.lib.C_CloseSession(s);
    }
    return slot;
  }

  private signer(): SignThreads {
    if (this.closed) throw new Error('the PKCS#11 module is closed');
    return (this.signThreads ??= new SignThreads(this.modulePath));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The signing threads use the library too: they stop before C_Finalize, or a sign could run on a finalised library.
    this.signThreads?.close();
    for (const t of this.tokens.values()) t.close();
    this.tokens.clear();
    try {
      this.lib.C_Finalize();
    } finally {
      this.lib.close();
      if (Pkcs11Module.current === this) Pkcs11Module.current = undefined;
    }
  }
}

/**
 * Whether process.env is Node's own (whose assignments reach the C environment), which spares the worker
 * thread below (tens of ms). jest hands each test file a look-alike copy that even turns values into strings,
 * so nothing short of its own marker tells them apart: in a jest worker the worker thread is always used.
 */
function isRealEnv(): boolean {
  return process.env.JEST_WORKER_ID === undefined;
}

/**
 * Sets a variable in the process's real environment, where SoftHSM2's getenv() reads it. Plain assignment to
 * process.env does that in Node, but test runners (jest) hand modules a copy of process.env; a worker thread
 * sharing the environment (SHARE_ENV) writes to the real one in every case. The caller blocks until it has.
 */
export function setRealEnv(name: string, value: string): void {
  process.env[name] = value;
  if (isRealEnv()) return;
  const done = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(
    `const { workerData: d } = require('worker_threads'); process.env[d.name] = d.value; Atomics.store(d.done, 0, 1); Atomics.notify(d.done, 0);`,
    { eval: true, env: SHARE_ENV, workerData: { name, value, done } },
  );
  Atomics.wait(done, 0, 0, 10_000);
  void w.terminate();
  if (Atomics.load(done, 0) !== 1) throw new Error(`could not set ${name} for SoftHSM2`);
}
