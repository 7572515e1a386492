// Every test's temporary files under one folder of the run, removed when the run ends: cdktf's Testing.app() and
// the tests' own mkdtemp calls would otherwise leave thousands of folders in /tmp. Workers inherit TMPDIR.
const fs = require('fs');
const os = require('os');
const path = require('path');

module.exports = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsm-tests-'));
  process.env.HSM_TESTS_TMPDIR = dir;
  process.env.TMPDIR = dir;
};
