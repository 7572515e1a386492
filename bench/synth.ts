/**
 * Wall time and peak memory of synthesizing the example environment (config/example.json through
 * stacks/app.ts buildApp) in a fresh process, beside the same app in a process that also loads the
 * provider's barrel (`@cdktf/provider-azurerm`), the reference the deep imports are meant to beat.
 *
 *   npx tsx bench/synth.ts [--runs N]        (npm run bench:synth -- --runs N)
 *
 * Each measurement is a fresh child process (node --import tsx this file --child <variant>); the two
 * variants alternate, and which goes first swaps every round, so a noisy machine hurts both alike. One
 * unmeasured warm-up run per variant fills tsx's transform cache first. Prints figures, asserts nothing.
 *
 * Figures per run:
 *   wall      spawn to exit of the child, as a user waits for it (node start, tsx, module loading, synth)
 *   in-proc   from the child's first line to the end of synth (module loading + build + synth)
 *   peak RSS  the child's resident-set high-water mark (process.resourceUsage().maxRSS)
 */
import { spawn } from 'child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import { cpus, tmpdir } from 'os';
import { join, resolve } from 'path';

type Variant = 'deep' | 'barrel';
const VARIANTS: Record<Variant, string> = {
  deep: 'deep imports (the toolkit)',
  barrel: 'barrel import (reference)',
};

interface ChildResult {
  variant: Variant;
  loadMs: number;
  buildMs: number;
  synthMs: number;
  inProcMs: number;
  maxRssKb: number;
  stacks: number;
  resources: number;
  providerModules: number;
}

interface Run extends ChildResult {
  wallMs: number;
}

const ROOT = resolve(__dirname, '..');
const RESULT_MARK = 'BENCH_RESULT ';

// ---------------------------------------------------------------------------------------------------------
// Child: one synth, then one line of JSON on stdout.
// ---------------------------------------------------------------------------------------------------------

function runChild(variant: Variant): void {
  const start = process.hrtime.bigint();
  const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;

  // Modules are required here, not imported at the top, so the parent never loads them.
  if (variant === 'barrel') {
    // The reference: the provider's barrel, as an app written with `import * as azurerm from
    // '@cdktf/provider-azurerm'` loads it. Touching a member keeps the require from being dropped.
    const azurerm = require('@cdktf/provider-azurerm') as { provider: unknown };
    if (azurerm.provider === undefined) throw new Error('the provider barrel did not load');
  }
  const { loadEnvironmentConfig } = require('../stacks/environment-config') as typeof import('../stacks/environment-config');
  const { buildApp } = require('../stacks/app') as typeof import('../stacks/app');
  const loadMs = ms(start);

  const outdir = mkdtempSync(join(tmpdir(), 'bench-synth-'));
  try {
    const buildStart = process.hrtime.bigint();
    const { app } = buildApp(loadEnvironmentConfig(join(ROOT, 'config', 'example.json')), outdir);
    const buildMs = ms(buildStart);
    const synthStart = process.hrtime.bigint();
    app.synth();
    const synthMs = ms(synthStart);
    const inProcMs = ms(start);

    const stackDirs = readdirSync(join(outdir, 'stacks'));
    const resources = stackDirs
      .map((s) => JSON.parse(readFileSync(join(outdir, 'stacks', s, 'cdk.tf.json'), 'utf8')) as { resource?: Record<string, object> })
      .reduce((n, tf) => n + Object.values(tf.resource ?? {}).reduce((m, byName) => m + Object.keys(byName).length, 0), 0);
    const providerModules = Object.keys(require.cache).filter((k) => k.includes(join('@cdktf', 'provider-azurerm', 'lib'))).length;
    const result: ChildResult = {
      variant,
      loadMs,
      buildMs,
      synthMs,
      inProcMs,
      maxRssKb: process.resourceUsage().maxRSS,
      stacks: stackDirs.length,
      resources,
      providerModules,
    };
    process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Parent: spawn, time, summarize.
// ---------------------------------------------------------------------------------------------------------

function measure(variant: Variant): Promise<Run> {
  return new Promise((done, failed) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', variant], {
      cwd: ROOT,
      env: { ...process.env, CHECKPOINT_DISABLE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', failed);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (code !== 0 || !line) {
        failed(new Error(`${variant} child exited with ${code}:\n${stderr || stdout}`));
        return;
      }
      done({ ...(JSON.parse(line.slice(RESULT_MARK.length)) as ChildResult), wallMs });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const min = (xs: number[]) => Math.min(...xs);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const pad = (s: string, n: number) => s.padEnd(n);

function parseRuns(argv: string[]): number {
  const i = argv.indexOf('--runs');
  if (i === -1) return 5;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 1 || n > 50) {
    throw new Error(`invalid --runs: received ${JSON.stringify(argv[i + 1])}; allowed: a whole number from 1 to 50`);
  }
  return n;
}

async function main(): Promise<void> {
  const runs = parseRuns(process.argv.slice(2));
  console.log(`bench/synth: example environment (config/example.json), ${runs} runs per variant, alternating`);
  console.log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'})`);

  process.stdout.write('warm-up (not counted): ');
  for (const v of ['deep', 'barrel'] as Variant[]) {
    await measure(v);
    process.stdout.write(`${v} `);
  }
  console.log('done\n');

  const results: Record<Variant, Run[]> = { deep: [], barrel: [] };
  console.log(`${pad('run', 5)}${pad('variant', 8)}${pad('wall', 10)}${pad('in-proc', 10)}${pad('load', 10)}${pad('build', 10)}${pad('synth', 10)}peak RSS`);
  for (let i = 0; i < runs; i++) {
    const order: Variant[] = i % 2 === 0 ? ['deep', 'barrel'] : ['barrel', 'deep'];
    for (const v of order) {
      const r = await measure(v);
      results[v].push(r);
      console.log(
        `${pad(String(i + 1), 5)}${pad(v, 8)}${pad(secs(r.wallMs), 10)}${pad(secs(r.inProcMs), 10)}${pad(secs(r.loadMs), 10)}` +
          `${pad(secs(r.buildMs), 10)}${pad(secs(r.synthMs), 10)}${mb(r.maxRssKb)}`,
      );
    }
  }

  console.log('');
  for (const v of ['deep', 'barrel'] as Variant[]) {
    const rs = results[v];
    const first = rs[0];
    console.log(`${VARIANTS[v]}: ${first.stacks} stacks, ${first.resources} resources, ${first.providerModules} provider modules loaded`);
    console.log(`  wall      median ${secs(median(rs.map((r) => r.wallMs)))}, min ${secs(min(rs.map((r) => r.wallMs)))}`);
    console.log(`  in-proc   median ${secs(median(rs.map((r) => r.inProcMs)))}, min ${secs(min(rs.map((r) => r.inProcMs)))}`);
    console.log(`  peak RSS  median ${mb(median(rs.map((r) => r.maxRssKb)))}, min ${mb(min(rs.map((r) => r.maxRssKb)))}`);
  }
  const ratio = (f: (r: Run) => number) => (median(results.barrel.map(f)) / median(results.deep.map(f))).toFixed(1);
  console.log(`\nbarrel / deep (medians): wall x${ratio((r) => r.wallMs)}, in-proc x${ratio((r) => r.inProcMs)}, peak RSS x${ratio((r) => r.maxRssKb)}`);
  const deepWall = median(results.deep.map((r) => r.wallMs));
  const deepRss = median(results.deep.map((r) => r.maxRssKb));
  console.log(`target for the toolkit (issue 2): under 2 s and 300 MB; measured ${secs(deepWall)} wall and ${mb(deepRss)} (informational, not asserted)`);
}

const childAt = process.argv.indexOf('--child');
if (childAt !== -1) {
  const variant = process.argv[childAt + 1];
  if (variant !== 'deep' && variant !== 'barrel') {
    throw new Error(`invalid --child: received ${JSON.stringify(variant)}; allowed: "deep" or "barrel"`);
  }
  runChild(variant);
} else {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
