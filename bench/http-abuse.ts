/**
 * What one abusive client costs the simulator and everyone else: a chunked body of 300,000 one-byte chunks (1.8 MB
 * on the wire) on one connection while another connection signs (ES256) in a loop. Prints, per flood, the
 * simulator's event-loop CPU from the flood's first byte to its answer (minus what the signs meanwhile cost), the
 * time to the answer, and the latency of the signs meanwhile beside the same signs with no flood. The same flood
 * against the bare node:https server of https-floor-server.ts (no piece cap: Node reads every chunk) shows what
 * the cap saves. Prints figures only.
 * Run: npx tsx bench/http-abuse.ts [floods, default 3]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { mainThreadCpuNs, startSimulator } from './simulator-process';

const FLOODS = Number(process.argv[2] ?? 3);
/**
 * The flooding client, in its own process so that encrypting 1.8 MB does not hold up the bench's signing client:
 * sends the flood on a fresh connection and prints the answer's status line and the ms it took.
 */
const FLOOD_CLIENT = `
const tls = require('tls');
const [port, ca] = [Number(process.argv[1]), require('fs').readFileSync(process.argv[2], 'utf8')];
const flood = Buffer.concat([Buffer.from('POST /sign HTTP/1.1\\r\\nHost: a\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n'), Buffer.from('1\\r\\nx\\r\\n'.repeat(300000)), Buffer.from('0\\r\\n\\r\\n')]);
console.log('ready');
process.stdin.once('data', () => {
  const started = process.hrtime.bigint();
  const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => s.write(flood));
  let out = '';
  s.on('data', (d) => (out += d.toString('latin1')));
  s.on('error', () => undefined);
  s.on('close', () => {
    console.log(JSON.stringify({ status: out.split('\\r\\n')[0] || '(closed without an answer)', ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    process.exit(0);
  });
});
`;

/** Starts the flooding client and waits until it is ready; `go()` sends the flood and resolves with the answer. */
async function floodClient(port: number, caFile: string): Promise<{ go: () => Promise<{ status: string; ms: number }> }> {
  const child = spawn(process.execPath, ['-e', FLOOD_CLIENT, String(port), caFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out === 'ready\n') resolve();
    }),
  );
  const done = new Promise<{ status: string; ms: number }>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length))) : reject(new Error(`the flood client exited with ${code}`)))),
  );
  return {
    go: () => {
      child.stdin.end('go\n');
      return done;
    },
  };
}

/** Signs in a loop on one kept-alive connection until `stop()` is true; returns each sign's latency in ms. */
async function signLoop(sign: () => Promise<unknown>, stop: () => boolean, atLeast = 0): Promise<number[]> {
  const latencies: number[] = [];
  while (!stop() || latencies.length < atLeast) {
    const t = process.hrtime.bigint();
    await sign();
    latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return latencies;
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))];
  return `${s.length} signs, p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, max ${s[s.length - 1].toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-abuse-'));
  const sim = await startSimulator(dir);
  try {
    const key = await sim.createKey('abuse', { kty: 'EC-HSM', crv: 'P-256' });
    const body = JSON.stringify({ alg: 'ES256', value: Buffer.alloc(32, 7).toString('base64url') });
    const sign = () => sim.sign(key.kid, body);
    const port = Number(new URL(sim.hsmUri).port);
    const caFile = path.join(dir, 'ca.crt');
    fs.writeFileSync(caFile, sim.caCert);
    console.log(`abuse benchmark: ${FLOODS} floods of 300,000 one-byte chunks, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}, Node ${process.version}`);

    const before = mainThreadCpuNs(sim.pid);
    const quiet = await signLoop(sign, () => true, 300);
    const signCpuMs = (mainThreadCpuNs(sim.pid) - before) / 1e6 / quiet.length;
    console.log(`no flood:      ${summary(quiet)}; ${(signCpuMs * 1000).toFixed(0)} µs of event loop per sign`);

    for (let i = 0; i < FLOODS; i++) {
      const client = await floodClient(port, caFile);
      let answered = false;
      const cpu0 = mainThreadCpuNs(sim.pid);
      const signs = signLoop(sign, () => answered);
      const f = await client.go();
      answered = true;
      const during = await signs;
      const cpuMs = (mainThreadCpuNs(sim.pid) - cpu0) / 1e6 - during.length * signCpuMs;
      console.log(`flood ${i + 1}:       answered "${f.status}" after ${f.ms.toFixed(0)} ms, ${Math.max(0, cpuMs).toFixed(1)} ms of the simulator's event loop; signs meanwhile: ${summary(during)}`);
    }

    // The same flood against a bare node:https server, which reads every chunk.
    const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'bench/https-floor-server.ts', path.join(dir, 'floor')], { cwd: path.resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
    const floorPort = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).port)));
    const client = await floodClient(floorPort, path.join(dir, 'floor', 'tls', 'ca.crt'));
    const cpu0 = mainThreadCpuNs(child.pid!);
    const f = await client.go();
    console.log(`bare node:https (no piece cap): answered "${f.status}" after ${f.ms.toFixed(0)} ms, ${((mainThreadCpuNs(child.pid!) - cpu0) / 1e6).toFixed(1)} ms of its event loop`);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  } finally {
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
