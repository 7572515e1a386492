// A documented run of the suite as if the machine had another core count (issue 16): every Node process of the
// run, the simulator's children included, reports HSM_TEST_PARALLELISM as os.availableParallelism().
//   NODE_OPTIONS="--require $PWD/test/parallelism-override.js" HSM_TEST_PARALLELISM=16 npx jest
const os = require('os');

const n = Number(process.env.HSM_TEST_PARALLELISM);
if (Number.isInteger(n) && n > 0) os.availableParallelism = () => n;
