// PKCS#11 decrypts, unwraps and key generation run on libuv's thread pool and are CPU-bound (signs have their
// own threads, simulator/pkcs11/sign-threads.ts), so the pool gets one thread per core: Node's default of 4
// oversubscribes a 2-core machine; RSA signs on the pool ran about 15% faster at concurrency 4 with 2 threads.
// libuv reads the variable when the pool first starts, so this runs before anything else; a user's value wins.
const os = require('os');

exports.useOneThreadPerCore = () => {
  process.env.UV_THREADPOOL_SIZE ||= String(Math.max(2, os.availableParallelism()));
};
