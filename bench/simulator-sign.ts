/**
 * Sign throughput of the simulator's Managed HSM face through HTTPS, beside raw PKCS#11 calls on the same kind of
 * SoftHSM2 token and `openssl speed` (the physical limit), at concurrency 1, 4 and 16. Prints figures only.
 * "Raw" is the simulator's own Token class on a token in this process: the same PKCS#11 calls (C_SignInit and
 * C_Sign on the module's signing threads) without the service, so the ratio is what HTTPS, TLS, the token check,
 * RBAC and JSON cost. The HTTPS load comes from wrk (see wrk-load.ts), which checks every response.
 * The floor, a bare node:https server signing on the same threads (https-floor-server.ts), shows what any Node
 * HTTPS service reaches here: simulator / floor is the share of a request the simulator's own work leaves.
 * Run: npx tsx bench/simulator-sign.ts [seconds-per-case, default 1] [rounds, default 6]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, execFileSync } from 'child_process';
import { createHash, createPublicKey, verify } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { Pkcs11Module } from '../simulator/pkcs11/module';
import { Token } from '../simulator/pkcs11/token';
import { runWrk, wrkAvailable, WrkCase } from './wrk-load';
import { mainThreadCpuNs, startSimulator } from './simulator-process';
import { signMechanism, SIGN_ALGS } from '../simulator/managedhsm/algorithms';

const SECONDS = Number(process.argv[2] ?? 1);
/**
 * Simulator, raw and service-only alternate within each round, so a machine that slows down mid-run slows every
 * side; many short rounds give a steadier median than a few long ones on this machine, whose speed drifts.
 */
const ROUNDS = Number(process.argv[3] ?? 6);
const CONCURRENCY = [1, 4, 16];

/** One leg of one round: operations per second, latency percentiles (ms) and, for a server, its event loop's CPU per request (µs). */
interface Result {
  ops: number;
  p50: number;
  p99: number;
  loopUs?: number;
}

/** A wrk leg against the server process `pid`, with that server's event-loop CPU per request. */
function serverLeg(dir: string, c: WrkCase, pid: number, concurrency: number): Result {
  const before = mainThreadCpuNs(pid);
  const r = runWrk(dir, c, concurrency, SECONDS);
  const requests = r.ops * SECONDS;
  return { ...r, loopUs: (mainThreadCpuNs(pid) - before) / 1000 / requests };
}

/** Raw leg: `concurrency` callers each looping on op for SECONDS, in this process. */
async function runRaw(concurrency: number, op: () => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  const start = Date.now();
  const end = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t = process.hrtime.bigint();
        await op();
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  return { ops: (latencies.length * 1000) / (Date.now() - start), p50: at(0.5), p99: at(0.99) };
}

/** The bare node:https signing server of https-floor-server.ts, in its own process like the simulator. */
async function startFloor(dir: string) {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'bench/https-floor-server.ts', dir], { cwd: path.resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).port));
    child.once('exit', (code) => reject(new Error(`the floor server exited (${code}) before it was ready`)));
  });
  return {
    pid: child.pid!,
    /** The simulator's own request (path, query, bearer token, body) sent to the floor, so both parse and decrypt the same bytes. */
    signCase: (simulatorCase: WrkCase, mustContain: string): WrkCase => {
      const url = new URL(simulatorCase.url);
      url.host = `127.0.0.1:${port}`;
      return { ...simulatorCase, url, mustContain };
    },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

interface Case {
  label: string;
  simPid: number;
  floorPid: number;
  /** The HTTPS sign as wrk sends it; every response must be a 200 with a body that contains mustContain. */
  simulator: WrkCase;
  /** The bench's own checks around each simulator leg: signatures verified with Node's crypto. */
  verify: () => Promise<void>;
  /** One sign on the bench's own token through the simulator's Token class: the same PKCS#11 calls, no service. */
  raw: () => Promise<void>;
  /** A GET of the key through the same HTTPS path (TLS, framing, token check, RBAC, JSON) with no token work. */
  serviceOnly: WrkCase;
  /** The same sign through the bare node:https server of https-floor-server.ts. */
  floor: WrkCase;
}

/** ECDSA signatures are randomised, so wrk checks only their shape: this many per round are verified here. */
const EC_VERIFIED_PER_ROUND = 20;

async function cases(sim: Awaited<ReturnType<typeof startSimulator>>, floor: Awaited<ReturnType<typeof startFloor>>, rawToken: Token): Promise<Case[]> {
  const message = Buffer.from('bench');
  const digest = createHash('sha256').update(message).digest();
  const out: Case[] = [];
  for (const [label, spec, alg, id] of [
    ['RSA-2048 RS256', { kty: 'RSA-HSM', key_size: 2048 }, 'RS256', '01'],
    ['ECDSA P-256 ES256', { kty: 'EC-HSM', crv: 'P-256' }, 'ES256', '02'],
  ] as const) {
    const key = await sim.createKey(`bench-${alg}`, spec);
    const publicKey = createPublicKey({ key: { ...key, kty: key.kty.replace('-HSM', '') }, format: 'jwk' });
    const body = JSON.stringify({ alg, value: digest.toString('base64url') });
    const signAndVerify = async () => {
      const value = await sim.sign(key.kid, body);
      if (!verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, value)) throw new Error(`${label}: the simulator returned a signature that does not verify`);
      return value;
    };
    // RSASSA-PKCS1-v1_5 is deterministic: once one signature verifies, wrk checks every response against it byte for byte.
    const mustContain = alg === 'RS256' ? `"value":"${(await signAndVerify()).toString('base64url')}"` : '"value":"';
    const verifyRound = async () => {
      for (let i = 0; i < (alg === 'RS256' ? 1 : EC_VERIFIED_PER_ROUND); i++) await signAndVerify();
    };
    if (spec.kty === 'RSA-HSM') await rawToken.generateRsa(id, label, 2048, Buffer.from([1, 0, 1]), { sign: true });
    else await rawToken.generateEc(id, label, 'P-256', { sign: true });
    const m = alg === 'RS256' ? signMechanism(SIGN_ALGS.RS256, digest) : { mech: { mechanism: pkcs11js.CKM_ECDSA }, data: digest };
    const raw = async () => void (await rawToken.sign(id, m.mech, m.data, 512));
    // The floor signs with its own key: its responses are checked for shape only.
    const simulator = sim.signCase(key.kid, body, mustContain);
    out.push({ label, simPid: sim.pid, floorPid: floor.pid, simulator, verify: verifyRound, raw, serviceOnly: sim.getCase(key.kid), floor: floor.signCase(simulator, '"value":"') });
  }
  return out;
}

interface Row {
  concurrency: number;
  sim: Result[];
  raw: Result[];
  serviceOnly: Result[];
  floor: Result[];
  /** The 1-minute load average read after each round: how busy the shared machine was. */
  load: number[];
}

function opensslFigures(): Record<string, { one: number; all: number }> {
  const speed = (multi: boolean) => {
    const txt = execFileSync('openssl', ['speed', '-seconds', String(Math.max(1, Math.round(SECONDS))), ...(multi ? ['-multi', String(os.cpus().length)] : []), 'rsa2048', 'ecdsap256'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const rsa = /rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/.exec(txt) ?? /rsa 2048 bits[^\n]*?([\d.]+)\s+[\d.]+\s*$/m.exec(txt);
    const ec = /256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/.exec(txt);
    return { rsa: rsa ? Number(rsa[1]) : NaN, ec: ec ? Number(ec[1]) : NaN };
  };
  const one = speed(false);
  const all = speed(true);
  return { 'RSA-2048 RS256': { one: one.rsa, all: all.rsa }, 'ECDSA P-256 ES256': { one: one.ec, all: all.ec } };
}

async function main(): Promise<void> {
  if (!wrkAvailable()) {
    console.error('bench: wrk is missing; install it with `bash scripts/setup-system.sh --with-bench-tools` (as root) or `apt-get install wrk`');
    process.exitCode = 2;
    return;
  }
  console.log(`sign benchmark: ${SECONDS}s per case, ${ROUNDS} rounds of simulator, node:https floor, raw and service-only per concurrency, ${os.cpus().length} CPUs, Node ${process.version}, load from wrk (1 thread)`);
  const loadBefore = os.loadavg();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sign-'));
  const sim = await startSimulator(dir);
  const floor = await startFloor(path.join(dir, 'floor'));
  const module = Pkcs11Module.open(path.join(dir, 'raw'));
  const results: Record<string, Row[]> = {};
  try {
    const rawToken = module.token('raw');
    for (const c of await cases(sim, floor, rawToken)) {
      results[c.label] = [];
      for (const concurrency of CONCURRENCY) {
        const row: Row = { concurrency, sim: [], raw: [], serviceOnly: [], floor: [], load: [] };
        runWrk(dir, c.simulator, concurrency, SECONDS); // warm-up: JIT, TLS sessions, caches
        runWrk(dir, c.floor, concurrency, SECONDS);
        for (let r = 0; r < ROUNDS; r++) {
          // Simulator and floor alternate which goes first, so neither always runs on the warmer machine.
          const legs: Array<[WrkCase, number]> = [
            [c.simulator, c.simPid],
            [c.floor, c.floorPid],
          ];
          if (r % 2 === 1) legs.reverse();
          const a = serverLeg(dir, legs[0][0], legs[0][1], concurrency);
          const b = serverLeg(dir, legs[1][0], legs[1][1], concurrency);
          row.sim.push(r % 2 === 0 ? a : b);
          row.floor.push(r % 2 === 0 ? b : a);
          await c.verify();
          row.raw.push(await runRaw(concurrency, c.raw));
          row.serviceOnly.push(serverLeg(dir, c.serviceOnly, c.simPid, concurrency));
          row.load.push(os.loadavg()[0]);
        }
        results[c.label].push(row);
      }
    }
  } finally {
    module.close();
    await sim.stop();
    await floor.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const ossl = opensslFigures();
  const loadAfter = os.loadavg();
  for (const [label, rows] of Object.entries(results)) {
    console.log(`\n${label}   (openssl speed: ${ossl[label].one.toFixed(0)}/s one core, ${ossl[label].all.toFixed(0)}/s all cores)`);
    console.log('  conc | simulator ops/s  p50 ms  p99 ms | node:https floor ops/s  p50 ms  p99 ms | raw PKCS#11 ops/s  p50 ms  p99 ms | sim/floor (median; min-max) | sim/raw | floor/raw | event loop µs/request sim, floor | load');
    const ceilings: string[] = [];
    for (const { concurrency, sim: s, raw: r, serviceOnly: g, floor: f, load } of rows) {
      // A sign costs at least a raw sign plus the service work of a request (back to back in latency, or side
      // by side in CPU once the cores are saturated): the ratio that leaves is the best the service allows.
      const ceiling = median(g.map((x, i) => 1 / (1 + r[i].ops / x.ops)));
      ceilings.push(`c=${concurrency} ${median(g.map((x) => x.ops)).toFixed(0)}/s, ${median(g.map((x) => x.loopUs!)).toFixed(0)} µs event loop/request -> sim/raw at most ${ceiling.toFixed(2)}`);
      const toFloor = s.map((x, i) => x.ops / f[i].ops).sort((a, b) => a - b);
      console.log(
        `  ${String(concurrency).padStart(4)} | ${figures(s, 15)} | ${figures(f, 22)} | ${figures(r, 17)} | ${median(toFloor).toFixed(2).padStart(6)} (${toFloor[0].toFixed(2)}-${toFloor[toFloor.length - 1].toFixed(2)}) | ${median(s.map((x, i) => x.ops / r[i].ops)).toFixed(2).padStart(7)} | ${median(f.map((x, i) => x.ops / r[i].ops)).toFixed(2).padStart(9)} | ${median(s.map((x) => x.loopUs!)).toFixed(0).padStart(4)}, ${median(f.map((x) => x.loopUs!)).toFixed(0).padStart(4)} | ${median(load).toFixed(2)}`,
      );
    }
    console.log(`  service alone (GET of the key through the same HTTPS path, no token work): ${ceilings.join('; ')}`);
  }
  console.log(`\nmachine load (1-minute average): ${loadBefore[0].toFixed(2)} before, ${loadAfter[0].toFixed(2)} after, on ${os.cpus().length} CPUs; the bench itself keeps about 2 busy`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median ops/s and median p50/p99 across rounds, as padded columns. */
function figures(rounds: Result[], width: number): string {
  return `${median(rounds.map((x) => x.ops)).toFixed(0).padStart(width)}  ${median(rounds.map((x) => x.p50)).toFixed(2).padStart(6)}  ${median(rounds.map((x) => x.p99)).toFixed(2).padStart(6)}`;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
