/**
 * Sign throughput of the simulator's Managed HSM face through HTTPS, beside raw PKCS#11 calls on the same kind of
 * SoftHSM2 token and `openssl speed` (the physical limit), at concurrency 1, 4 and 16. Prints figures only.
 * Run: npx tsx bench/simulator-sign.ts [seconds-per-case, default 3]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as https from 'https';
import { spawn, execFileSync } from 'child_process';
import { createHash, randomUUID } from 'crypto';
import * as pkcs11js from 'pkcs11js';
import { Pkcs11Module } from '../simulator/pkcs11/module';
import { signMechanism, SIGN_ALGS } from '../simulator/managedhsm/algorithms';

const SECONDS = Number(process.argv[2] ?? 3);
const CONCURRENCY = [1, 4, 16];
/** PKCS#11 sessions per token on both sides: the simulator's default sessionsPerToken, so raw gets the same parallelism. */
const SESSIONS = 4;

interface Result {
  ops: number;
  p50: number;
  p99: number;
}

async function run(concurrency: number, op: () => Promise<void>): Promise<Result> {
  const lat: number[] = [];
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t = process.hrtime.bigint();
        await op();
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { ops: lat.length / SECONDS, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)] };
}

function request(agent: https.Agent, base: string, method: string, p: string, body?: string, token?: string, type = 'application/json'): Promise<{ status: number; body: any }> {
  const u = new URL(base);
  return send({ host: u.hostname, port: u.port, path: p, method, agent, headers: { ...(body !== undefined ? { 'content-type': type, 'content-length': Buffer.byteLength(body) } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) } }, body);
}

/** One request with options built once by the caller (as a real client reuses its pipeline): no per-call URL parsing. */
function send(options: https.RequestOptions, body?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const t = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: t ? JSON.parse(t) : undefined });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function simulatorFigures(): Promise<Record<string, Result[]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sim-'));
  const admin = randomUUID();
  fs.writeFileSync(path.join(dir, 'hsms.json'), JSON.stringify([{ name: 'bench', administrators: [admin] }]));
  const state = path.join(dir, 'state');
  const child = spawn(process.execPath, ['scripts/hsmctl.js', 'simulator', 'start', '--state-dir', state, '--instances', path.join(dir, 'hsms.json')], { cwd: path.resolve(__dirname, '..'), stdio: 'ignore' });
  try {
    const ef = path.join(state, 'endpoints.json');
    for (let i = 0; i < 400 && !fs.existsSync(ef); i++) await new Promise((r) => setTimeout(r, 50));
    const e = JSON.parse(fs.readFileSync(ef, 'utf8'));
    const agent = new https.Agent({ ca: fs.readFileSync(e.caCertificate), keepAlive: true, maxSockets: 64 });
    await request(agent, e.authorityHost, 'POST', '/_simulator/managedHsms/bench/activate', '', fs.readFileSync(e.managementTokenFile, 'utf8').trim());
    const secret = fs.readFileSync(e.principals[0].secretFile, 'utf8').trim();
    const tok = await request(agent, e.authorityHost, 'POST', `/${e.tenantId}/oauth2/v2.0/token`, `grant_type=client_credentials&client_id=${admin}&client_secret=${encodeURIComponent(secret)}&scope=${encodeURIComponent('https://managedhsm.azure.net/.default')}`, undefined, 'application/x-www-form-urlencoded');
    const token = tok.body.access_token;
    const hsm = e.managedHsms[0].hsmUri;
    await request(agent, hsm, 'PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`, JSON.stringify({ properties: { roleDefinitionId: '21dbd100-6940-42c2-9190-5d6cb909625b', principalId: admin } }), token);
    const out: Record<string, Result[]> = {};
    for (const [label, create, alg] of [
      ['RSA-2048 RS256', { kty: 'RSA-HSM', key_size: 2048 }, 'RS256'],
      ['ECDSA P-256 ES256', { kty: 'EC-HSM', crv: 'P-256' }, 'ES256'],
    ] as const) {
      const k = await request(agent, hsm, 'POST', `/keys/k${alg}/create?api-version=7.4`, JSON.stringify(create), token);
      const version = k.body.key.kid.split('/').pop();
      const body = JSON.stringify({ alg, value: createHash('sha256').update('bench').digest().toString('base64url') });
      const u = new URL(hsm);
      const options: https.RequestOptions = {
        host: u.hostname,
        port: u.port,
        path: `/keys/k${alg}/${version}/sign?api-version=7.4`,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
      };
      out[label] = [];
      for (const c of CONCURRENCY) {
        out[label].push(
          await run(c, async () => {
            const r = await send(options, body);
            if (r.status !== 200) throw new Error(`sign failed: ${r.status}`);
          }),
        );
      }
    }
    agent.destroy();
    return out;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function rawFigures(): Promise<Record<string, Result[]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-raw-'));
  const m = Pkcs11Module.open(dir);
  try {
    const out: Record<string, Result[]> = {};
    const digest = createHash('sha256').update('bench').digest();
    for (const c of CONCURRENCY) {
      const t = m.token(`raw${c}`, SESSIONS);
      await t.generateRsa('01', 'rsa', 2048, Buffer.from([1, 0, 1]), { sign: true });
      await t.generateEc('02', 'ec', 'P-256', { sign: true });
      const rs = signMechanism(SIGN_ALGS.RS256, digest);
      (out['RSA-2048 RS256'] ??= []).push(await run(c, async () => void (await t.sign('01', rs.mech, rs.data, 512))));
      (out['ECDSA P-256 ES256'] ??= []).push(await run(c, async () => void (await t.sign('02', { mechanism: pkcs11js.CKM_ECDSA }, digest, 128))));
    }
    return out;
  } finally {
    m.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function opensslFigures(): Record<string, { one: number; all: number }> {
  const speed = (multi: boolean) => {
    const txt = execFileSync('openssl', ['speed', '-seconds', String(SECONDS), ...(multi ? ['-multi', String(os.cpus().length)] : []), 'rsa2048', 'ecdsap256'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const rsa = /rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/.exec(txt) ?? /rsa 2048 bits[^\n]*?([\d.]+)\s+[\d.]+\s*$/m.exec(txt);
    const ec = /256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)/.exec(txt);
    return { rsa: rsa ? Number(rsa[1]) : NaN, ec: ec ? Number(ec[1]) : NaN };
  };
  const one = speed(false);
  const all = speed(true);
  return { 'RSA-2048 RS256': { one: one.rsa, all: all.rsa }, 'ECDSA P-256 ES256': { one: one.ec, all: all.ec } };
}

async function main(): Promise<void> {
  console.log(`sign benchmark: ${SECONDS}s per case, ${os.cpus().length} CPUs, Node ${process.version}`);
  const sim = await simulatorFigures();
  const raw = await rawFigures();
  const ossl = opensslFigures();
  for (const label of Object.keys(sim)) {
    console.log(`\n${label}   (openssl speed: ${ossl[label].one.toFixed(0)}/s one core, ${ossl[label].all.toFixed(0)}/s all cores)`);
    console.log('  conc   simulator HTTPS ops/s  p50 ms  p99 ms | raw PKCS#11 ops/s  p50 ms  p99 ms | ratio');
    CONCURRENCY.forEach((c, i) => {
      const s = sim[label][i];
      const r = raw[label][i];
      console.log(
        `  ${String(c).padStart(4)}   ${s.ops.toFixed(0).padStart(21)}  ${s.p50.toFixed(2).padStart(6)}  ${s.p99.toFixed(2).padStart(6)} | ${r.ops.toFixed(0).padStart(17)}  ${r.p50.toFixed(2).padStart(6)}  ${r.p99.toFixed(2).padStart(6)} | ${(s.ops / r.ops).toFixed(2)}`,
      );
    });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
