import * as pkcs11js from 'pkcs11js';

/**
 * A fixed set of read-write sessions on one token. PKCS#11 sessions are single-threaded (an operation's Init
 * and its call must not interleave with another's), so each request borrows a session for its duration;
 * the sessions run concurrently on libuv's thread pool, which SoftHSM2 allows with CKF_OS_LOCKING_OK.
 */
export class SessionPool {
  private readonly free: Buffer[] = [];
  private readonly all: Buffer[] = [];
  private readonly waiters: Array<(s: Buffer) => void> = [];

  constructor(private readonly lib: pkcs11js.PKCS11, slot: Buffer, size: number) {
    for (let i = 0; i < size; i++) {
      const s = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      this.all.push(s);
      this.free.push(s);
    }
  }

  first(): Buffer {
    return this.all[0];
  }

  async use<T>(fn: (s: Buffer) => Promise<T> | T): Promise<T> {
    const s = this.free.pop() ?? (await new Promise<Buffer>((resolve) => this.waiters.push(resolve)));
    try {
      return await fn(s);
    } catch (err) {
      // A failed Init/Final pair can leave an operation active on the session: reset it before reuse.
      this.resetOperation(s);
      throw err;
    } finally {
      const next = this.waiters.shift();
      if (next) next(s);
      else this.free.push(s);
    }
  }

  private resetOperation(s: Buffer): void {
    for (const final of [
      () => this.lib.C_SignFinal(s, Buffer.alloc(1024)),
      () => this.lib.C_DecryptFinal(s, Buffer.alloc(1024)),
      () => this.lib.C_EncryptFinal(s, Buffer.alloc(1024)),
    ]) {
      try {
        final();
      } catch {
        // CKR_OPERATION_NOT_INITIALIZED is the expected answer when nothing was pending.
      }
    }
  }

  close(): void {
    for (const s of this.all) {
      try {
        this.lib.C_CloseSession(s);
      } catch {
        // Already closed by C_Finalize.
      }
    }
    this.all.length = 0;
    this.free.length = 0;
  }
}
