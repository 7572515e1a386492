/**
 * The simulator as the benches drive it: a child process started the way users start it (`hsmctl simulator
 * start`), one activated Managed HSM whose administrator also holds Crypto User, and the calls the benches need.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as https from 'https';
import { spawn } from 'child_process';
import { randomUUID } from 'crypto';
import { WrkCase } from './wrk-load';

/** CPU time of a process's main thread (its event loop; the signing threads are others), in ns, from the scheduler. */
export function mainThreadCpuNs(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

/** Setup calls (activation, token, role, key creation) and signature checks go through Node's https module; the load is wrk's. */
export function request(agent: https.Agent, base: string, method: string, p: string, body?: string, token?: string, type = 'application/json'): Promise<{ status: number; body: any }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const headers = { ...(body !== undefined ? { 'content-type': type, 'content-length': Buffer.byteLength(body) } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const req = https.request({ host: u.hostname, port: u.port, path: p, method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const t = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: t ? JSON.parse(t) : undefined });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts the simulator in a child process, as users run it, with the state in DIR/state; `repo`: another checkout's simulator. */
export async function startSimulator(dir: string, repo = path.resolve(__dirname, '..')) {
  const admin = randomUUID();
  fs.writeFileSync(path.join(dir, 'hsms.json'), JSON.stringify([{ name: 'bench', administrators: [admin] }]));
  const state = path.join(dir, 'state');
  const child = spawn(process.execPath, ['scripts/hsmctl.js', 'simulator', 'start', '--state-dir', state, '--instances', path.join(dir, 'hsms.json')], { cwd: repo, stdio: 'ignore' });
  const ef = path.join(state, 'endpoints.json');
  for (let i = 0; i < 400 && !fs.existsSync(ef); i++) await new Promise((r) => setTimeout(r, 50));
  if (!fs.existsSync(ef)) throw new Error('the simulator did not start within 20 s');
  const e = JSON.parse(fs.readFileSync(ef, 'utf8'));
  const agent = new https.Agent({ ca: fs.readFileSync(e.caCertificate), keepAlive: true });
  await request(agent, e.authorityHost, 'POST', '/_simulator/managedHsms/bench/activate', '', fs.readFileSync(e.managementTokenFile, 'utf8').trim());
  const secret = fs.readFileSync(e.principals[0].secretFile, 'utf8').trim();
  const form = `grant_type=client_credentials&client_id=${admin}&client_secret=${encodeURIComponent(secret)}&scope=${encodeURIComponent('https://managedhsm.azure.net/.default')}`;
  const token: string = (await request(agent, e.authorityHost, 'POST', `/${e.tenantId}/oauth2/v2.0/token`, form, undefined, 'application/x-www-form-urlencoded')).body.access_token;
  const hsm: string = e.managedHsms[0].hsmUri;
  await request(agent, hsm, 'PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`, JSON.stringify({ properties: { roleDefinitionId: '21dbd100-6940-42c2-9190-5d6cb909625b', principalId: admin } }), token);
  const auth = { Authorization: `Bearer ${token}` };
  return {
    pid: child.pid!,
    hsmUri: hsm,
    caCert: fs.readFileSync(e.caCertificate, 'utf8'),
    token,
    createKey: async (name: string, spec: object) => (await request(agent, hsm, 'POST', `/keys/${name}/create?api-version=7.4`, JSON.stringify(spec), token)).body.key,
    /** One sign through Node's https client, for the signatures the bench verifies itself. */
    sign: async (kid: string, body: string): Promise<Buffer> => {
      const r = await request(agent, hsm, 'POST', `${new URL(kid).pathname}/sign?api-version=7.4`, body, token);
      if (r.status !== 200) throw new Error(`sign failed: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      return Buffer.from(r.body.value, 'base64url');
    },
    signCase: (kid: string, body: string, mustContain: string): WrkCase => ({ url: new URL(`${kid}/sign?api-version=7.4`), method: 'POST', headers: auth, body, mustContain }),
    getCase: (kid: string): WrkCase => ({ url: new URL(`${kid}?api-version=7.4`), method: 'GET', headers: auth, mustContain: `"kid":"${kid}"` }),
    stop: async () => {
      agent.destroy();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

