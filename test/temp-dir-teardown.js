// Removes the run's temporary folder (see temp-dir-setup.js).
const fs = require('fs');

module.exports = async () => {
  const dir = process.env.HSM_TESTS_TMPDIR;
  if (dir) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
};
