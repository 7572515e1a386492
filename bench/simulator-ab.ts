/**
 * A/B of two checkouts' simulators on one machine, in one run: both simulators run side by side and wrk signs
 * ES256 (or RS256) against each in turn, round after round, the order alternating, so a machine whose speed
 * drifts slows both. Prints each side's median signs per second, p50 and event-loop CPU per request, and the
 * after/before ratio of signs per second taken pair by pair. Prints figures; asserts nothing.
 *
 *   npx tsx bench/simulator-ab.ts BEFORE_CHECKOUT [--rounds N] [--seconds S] [--concurrency C] [--alg ES256|RS256]
 *
 * BEFORE_CHECKOUT is another checkout of this project with its node_modules (e.g. `git worktree add ../before
 * HEAD~1` and `npm ci` there); "after" is this checkout.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { createHash } from 'crypto';
import { mainThreadCpuNs, startSimulator } from './simulator-process';
import { runWrk, wrkAvailable, WrkCase } from './wrk-load';

const KEYS = { ES256: { kty: 'EC-HSM', crv: 'P-256' }, RS256: { kty: 'RSA-HSM', key_size: 2048 } } as const;

function options() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { rounds: { type: 'string', default: '12' }, seconds: { type: 'string', default: '2' }, concurrency: { type: 'string', default: '1' }, alg: { type: 'string', default: 'ES256' } },
  });
  const fail = (why: string): never => {
    console.error(`bench/simulator-ab: ${why}\nusage: npx tsx bench/simulator-ab.ts BEFORE_CHECKOUT [--rounds N] [--seconds S] [--concurrency C] [--alg ES256|RS256]`);
    process.exit(2);
  };
  if (positionals.length !== 1) fail('give exactly one other checkout to compare with');
  const before = path.resolve(positionals[0]);
  if (!fs.existsSync(path.join(before, 'scripts', 'hsmctl.js'))) fail(`${before} is not a checkout of this project (no scripts/hsmctl.js)`);
  const int = (name: string, v: string, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) fail(`--${name} must be an integer from 1 to ${max}; got ${v}`);
    return n;
  };
  if (!(values.alg! in KEYS)) fail(`--alg must be ES256 or RS256; got ${values.alg}`);
  return {
    before,
    rounds: int('rounds', values.rounds!, 100),
    seconds: int('seconds', values.seconds!, 60),
    concurrency: int('concurrency', values.concurrency!, 64),
    alg: values.alg as keyof typeof KEYS,
  };
}

interface Leg {
  ops: number[];
  p50: number[];
  loopUs: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const o = options();
  if (!wrkAvailable()) {
    console.error('bench/simulator-ab: wrk is not installed (bash scripts/setup-system.sh --with-bench-tools installs it)');
    process.exit(2);
  }
  const sides = { before: o.before, after: path.resolve(__dirname, '..') };
  const started: Array<{ name: 'before' | 'after'; sim: Awaited<ReturnType<typeof startSimulator>>; dir: string; sign: WrkCase }> = [];
  try {
    for (const [name, repo] of Object.entries(sides) as Array<['before' | 'after', string]>) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-ab-${name}-`));
      const sim = await startSimulator(dir, repo);
      const key = await sim.createKey(`bench-${o.alg}`, KEYS[o.alg]);
      const body = JSON.stringify({ alg: o.alg, value: createHash('sha256').update('bench').digest('base64url') });
      started.push({ name, sim, dir, sign: sim.signCase(key.kid, body, '"value":"') });
    }
    const legs: Record<'before' | 'after', Leg> = { before: { ops: [], p50: [], loopUs: [] }, after: { ops: [], p50: [], loopUs: [] } };
    for (let round = 0; round < o.rounds; round++) {
      for (const side of round % 2 ? [...started].reverse() : started) {
        const cpu = mainThreadCpuNs(side.sim.pid);
        const r = runWrk(side.dir, side.sign, o.concurrency, o.seconds);
        legs[side.name].ops.push(r.ops);
        legs[side.name].p50.push(r.p50);
        legs[side.name].loopUs.push((mainThreadCpuNs(side.sim.pid) - cpu) / 1000 / (r.ops * o.seconds));
      }
    }
    console.log(`${o.alg} signs at concurrency ${o.concurrency}, ${o.rounds} rounds of ${o.seconds} s each side, ${os.availableParallelism()} CPUs, load ${os.loadavg()[0].toFixed(2)} at the end`);
    for (const [name, repo] of Object.entries(sides) as Array<['before' | 'after', string]>) {
      const l = legs[name];
      console.log(`  ${name.padEnd(6)} ${median(l.ops).toFixed(0).padStart(6)} signs/s  p50 ${median(l.p50).toFixed(2)} ms  event loop ${median(l.loopUs).toFixed(0)} µs/request  (${repo})`);
    }
    const ratios = legs.after.ops.map((a, i) => a / legs.before.ops[i]);
    console.log(`  after/before signs per second, pair by pair: median ${median(ratios).toFixed(2)} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`);
  } finally {
    for (const s of started) {
      await s.sim.stop();
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
  }
}

void main();
