// One signing thread of SignThreads (sign-threads.ts). Plain CommonJS so that it loads the same way under node,
// tsx and jest. It shares the process's PKCS#11 library (already initialised by the main thread), opens its own
// session per token, and runs C_SignInit + C_Sign back to back: one hand-off per sign, no session borrowing.
const os = require('os');
const { parentPort, workerData } = require('worker_threads');
/** Answers go back on their own port (see SignThread.stop). */
const replies = workerData.replies;
const pkcs11js = require('pkcs11js');

// Linux: setpriority on thread id 0 changes this thread only. Signers yield to the event loop that feeds them.
try {
  os.setPriority(0, workerData.nice);
} catch {
  // Not allowed here (or not Linux): run at the process's priority.
}

const lib = new pkcs11js.PKCS11();
lib.load(workerData.modulePath);
try {
  lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
} catch (err) {
  // The main thread initialised the library; this thread only uses it and never calls C_Finalize.
  if (!(err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw err;
}

/** slot (hex) -> this thread's session on that token; tokens are logged in by the main thread (login is per token). */
const sessions = new Map();

function sessionFor(slot) {
  const key = Buffer.from(slot).toString('hex');
  let s = sessions.get(key);
  if (!s) {
    s = lib.C_OpenSession(Buffer.from(slot), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    sessions.set(key, s);
  }
  return s;
}

/** postMessage turns Buffers into Uint8Arrays; pkcs11js wants Buffers. */
function mechanism(m) {
  const p = m.parameter;
  return p instanceof Uint8Array ? { mechanism: m.mechanism, parameter: Buffer.from(p) } : m;
}

function sign(job) {
  const s = sessionFor(job.slot);
  try {
    lib.C_SignInit(s, mechanism(job.mech), Buffer.from(job.key));
  } catch (err) {
    return { id: job.id, error: describe(err) };
  }
  try {
    return { id: job.id, signature: lib.C_Sign(s, Buffer.from(job.data), Buffer.alloc(job.maxOut)) };
  } catch (err) {
    // A failed C_Sign can leave the operation active; C_SignFinal ends it so the session stays usable.
    try {
      lib.C_SignFinal(s, Buffer.alloc(job.maxOut));
    } catch {
      // CKR_OPERATION_NOT_INITIALIZED when nothing was pending.
    }
    return { id: job.id, error: describe(err) };
  }
}

function describe(err) {
  return { message: err.message, code: err.code, pkcs11: err instanceof pkcs11js.Pkcs11Error };
}

parentPort.on('message', (msg) => {
  if (msg.stop) {
    for (const s of sessions.values()) {
      try {
        lib.C_CloseSession(s);
      } catch {
        // Closed already.
      }
    }
    sessions.clear();
    // The main thread waits on this flag before it calls C_Finalize: nothing of this thread touches the library after it.
    Atomics.store(msg.stopped, 0, 1);
    Atomics.notify(msg.stopped, 0);
    parentPort.close();
    return;
  }
  replies.postMessage(sign(msg));
});
