/**
 * Per-step wall times of `hsmctl dry-run` on the example environment: a first run on an empty state folder
 * and a rerun on the same folder, each in a fresh process, with the default 4096-bit security-domain keys
 * (and 2048-bit for comparison). Prints figures; asserts nothing.
 *
 *   npx tsx bench/dry-run.ts [--runs N]
 */
import { spawnSync } from 'child_process';
import { parseArgs } from 'util';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const ROOT = resolve(__dirname, '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '2' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
  console.error(`bench/dry-run: --runs must be an integer from 1 to 20; got ${values.runs}`);
  process.exit(2);
}

interface Report {
  ok: boolean;
  seconds: number;
  steps: Array<{ name: string; status: string; seconds: number }>;
}

function once(state: string, keyBits: number): { wall: number; report: Report } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('node', [join(ROOT, 'scripts', 'hsmctl.js'), 'dry-run', '--json', '--key-bits', String(keyBits), '--state-dir', state], { cwd: ROOT, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const report = JSON.parse(r.stdout) as Report;
  if (!report.ok) throw new Error(`dry-run failed: ${JSON.stringify(report.steps.find((s) => s.status === 'failed'))}`);
  return { wall, report };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const keyBits of [4096, 2048]) {
  const first: Array<{ wall: number; report: Report }> = [];
  const rerun: Array<{ wall: number; report: Report }> = [];
  for (let i = 0; i < runs; i++) {
    const state = mkdtempSync(join(tmpdir(), 'bench-dry-run-'));
    try {
      first.push(once(state, keyBits));
      rerun.push(once(state, keyBits));
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  }
  console.log(`\ndry-run, ${keyBits}-bit security-domain keys, ${runs} run(s), medians (s):`);
  const rows: [string, number, number][] = first[0].report.steps.map((step, i) => [
    step.name,
    median(first.map((r) => r.report.steps[i].seconds)),
    median(rerun.map((r) => r.report.steps[i].seconds)),
  ]);
  rows.push(['total in the process', median(first.map((r) => r.report.seconds)), median(rerun.map((r) => r.report.seconds))]);
  rows.push(['wall time of the command', median(first.map((r) => r.wall)), median(rerun.map((r) => r.wall))]);
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`  ${'step'.padEnd(width)} ${'first'.padStart(7)} ${'rerun'.padStart(7)}`);
  for (const [name, a, b] of rows) console.log(`  ${name.padEnd(width)} ${a.toFixed(2).padStart(7)} ${b.toFixed(2).padStart(7)}`);
}
