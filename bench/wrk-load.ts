import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';

/**
 * Load through wrk (Debian's wrk package), the usual HTTP benchmarking tool: a C event loop that spends a few
 * microseconds of CPU per request, where a Node client spends 100-200. The load generator shares this machine's
 * 2 cores with the simulator while raw PKCS#11 has no client at all, so a heavy client would be counted as
 * the service's cost. Every response is checked by a Lua hook: status 200, and a body that matches `check`.
 */
export interface WrkCase {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** Every response body must contain this text (plain, not a pattern). */
  mustContain: string;
}

export interface WrkResult {
  ops: number;
  p50: number;
  p99: number;
}

const SCRIPT = `
wrk.method = os.getenv("WRK_METHOD")
wrk.body = os.getenv("WRK_BODY")
for name, value in string.gmatch(os.getenv("WRK_HEADERS"), "([^\\n:]+): ([^\\n]*)") do wrk.headers[name] = value end
local expected = os.getenv("WRK_EXPECT")
bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, expected, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration, b, e.connect + e.read + e.write + e.timeout + e.status, latency:percentile(50), latency:percentile(99)))
end
`;

export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** One wrk run: `concurrency` keep-alive connections, one request in flight on each, for `seconds`. */
export function runWrk(dir: string, c: WrkCase, concurrency: number, seconds: number): WrkResult {
  const script = path.join(dir, 'wrk-check.lua');
  if (!fs.existsSync(script)) fs.writeFileSync(script, SCRIPT);
  const headers = Object.entries({ ...c.headers, ...(c.body !== undefined ? { 'Content-Type': 'application/json' } : {}) })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  const r = spawnSync('wrk', ['-t1', `-c${concurrency}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, c.url.href], {
    encoding: 'utf8',
    env: { ...process.env, WRK_METHOD: c.method, WRK_BODY: c.body ?? '', WRK_HEADERS: headers, WRK_EXPECT: c.mustContain },
  });
  const m = /^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/m.exec(r.stdout ?? '');
  if (!m) throw new Error(`wrk gave no result (exit ${r.status}): ${(r.stderr || r.stdout || '').slice(0, 300)}`);
  const [requests, durationUs, bad, errors, p50, p99] = m.slice(1).map(Number);
  if (bad > 0 || errors > 0) throw new Error(`wrk: ${bad} of ${requests} responses were not a 200 with the expected body, ${errors} socket errors`);
  if (requests === 0) throw new Error('wrk completed no request');
  return { ops: requests / (durationUs / 1e6), p50: p50 / 1000, p99: p99 / 1000 };
}
