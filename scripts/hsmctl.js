#!/usr/bin/env node
// Entry point for `npx hsmctl`: runs the TypeScript CLI through tsx so users need no build step.
require('./thread-pool').useOneThreadPerCore();
require('tsx/cjs');
require('./cli.ts').main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`hsmctl: ${err && err.message ? err.message : err}`); process.exitCode = 1; },
);
