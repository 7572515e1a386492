// PKCS#11 signs and decrypts run on libuv's thread pool and are CPU-bound, so the pool gets one thread per core:
// Node's default of 4 oversubscribes a 2-core machine, and bench/simulator-sign.ts measured about 15% more RSA
// signs per second at concurrency 4 with 2 threads. libuv reads the variable when the pool first starts, so this
// runs before anything else; a value set by the user wins.
const os = require('os');

exports.threadPoolSize = () => process.env.UV_THREADPOOL_SIZE || String(Math.max(2, os.availableParallelism()));

exports.useOneThreadPerCore = () => {
  process.env.UV_THREADPOOL_SIZE = exports.threadPoolSize();
};
