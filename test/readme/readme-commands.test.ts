import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFile, execFileSync, spawn } from 'child_process';
import { randomUUID } from 'crypto';
import { ArmHarness, dedicatedHsm } from '../simulator/arm/arm-harness';
import { httpsRequest } from '../simulator/harness';
import { startAzurite, Azurite } from '../../simulator/storage/azurite';

const REPO = path.resolve(__dirname, '..', '..');
const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
const SOFTHSM = process.env.SOFTHSM2_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
const SUBSCRIPTION = '00000000-0000-0000-0000-000000000000';

/**
 * Every shell command of README.md is run here, in the order a user types it, or listed in NOT_HERE with the
 * reason it cannot run on this machine; a README command that is in neither place fails the test, so the README
 * cannot drift from the code. Azure is played by the simulator, and these stand-ins are the only changes made to
 * a command before it runs (STAND_INS below):
 * - the user's environment "prod" is config/example.json (HSM_ENV=prod -> example, hsm-prod -> hsm-example);
 * - `npx hsmctl` is this checkout's scripts/hsmctl.js, and a command that targets Azure (--from-outputs, or
 *   preflight) gets `--simulator DIR`: the simulator's endpoints and credential instead of Azure's;
 * - outputs.json (what `cdktf output` writes after a deploy) names the simulator's HSMs, made through its ARM plane;
 * - the Luna client library is not on this machine: a SoftHSM2 token labelled ctm_part stands in for the
 *   partition as the source of BYOK (p11-kit 0.24, the simulator's own path, carries no AES key wrap);
 * - storage accounts are Azurite containers; ME is the simulator principal that administers the HSM.
 */
interface Line {
  readonly block: number;
  readonly text: string;
}

/** The commands of the ```sh blocks: continuation lines joined, comments (two spaces then #) dropped. */
function readmeCommands(markdown: string): Line[] {
  const out: Line[] = [];
  let block = 0;
  for (const m of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    block++;
    const joined = m[1].replace(/\\\n\s*/g, ' ');
    for (const raw of joined.split('\n')) {
      const text = raw.replace(/\s{2,}#.*$/, '').trim();
      if (text && !text.startsWith('#')) out.push({ block, text });
    }
  }
  return out;
}

/** Commands that cannot run here, each with why (and, where there is one, the test that covers it). */
const NOT_HERE: Array<[RegExp, string]> = [
  [/^npm test$/, 'this suite itself (CI runs it)'],
  [/^\(cd cdktf\.out\/stacks\/hsm-prod && terraform init /, 'terraform init downloads the azurerm provider, and this machine reaches no provider registry; test/policy/plan-check.test.ts checks plans written in the documented format'],
  [/^npx cdktf deploy /, 'needs Azure: a deploy against a stub would prove nothing'],
  [/^npx cdktf output /, 'needs a deployed state; the test writes outputs.json from the simulator\'s resources instead'],
  [/^ME=\$\(az ad signed-in-user /, 'needs az login; ME is set to the principal that administers the simulator\'s HSM'],
  [/^BACKUP_URL=https:\/\/mystorageacct\./, 'a storage account of the user\'s; BACKUP_URL and sas.txt are an Azurite container and its SAS'],
  [/^AUDIT_URL=https:\/\/mystorageacct\./, 'a storage account of the user\'s; AUDIT_URL and audit-sas.txt are Azurite\'s insights-logs-auditevent container and its SAS'],
  [/^npm run pack:library$/, 'run by test/library/pack-and-consume.test.ts'],
  [/^cd \.\.\/my-cdktf-app && npm install /, 'run in a temporary app by test/library/pack-and-consume.test.ts, offline'],
  [/^npm run bench:(synth|dry-run|simulator|abuse)$/, 'benchmarks load both cores for minutes and assert nothing; run by hand, their figures are in the issue notes'],
  [/^npx tsx bench\/simulator-ab\.ts \.\.\/before$/, 'needs a second checkout with its own node_modules; a benchmark, run by hand'],
];

const SIMULATOR_START = /^npx hsmctl simulator start /;

describe('every command of README.md', () => {
  const commands = readmeCommands(README);
  /** What the tests below ran: at the end, every runnable command must be here. */
  const ranAll = new Set<string>();

  test('is run by this test or listed with the reason it cannot run here', () => {
    const unknown = commands.filter((c) => !NOT_HERE.some(([re]) => re.test(c.text)) && !runnable(c.text));
    expect(unknown.map((c) => c.text)).toEqual([]);
    const stale = NOT_HERE.filter(([re]) => !commands.some((c) => re.test(c.text))).map(([re]) => re.source);
    expect(stale).toEqual([]);
    expect(commands.length).toBeGreaterThan(20);
  });

  let h: ArmHarness;
  let azurite: Azurite;
  let work: string;
  let shellState: string;
  let env: NodeJS.ProcessEnv;
  const admin = randomUUID();

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'readme-'));
    shellState = path.join(work, '.shell-state.sh');
    h = await ArmHarness.start({ dir: path.join(work, 'simulator'), arm: { provisioningStepMs: 20 } });
    await h.sim.addPrincipal(admin); // its secret goes to the simulator's secrets/ folder: --simulator acts as it
    // The subscription is approved for Dedicated HSM, as a user's is before they deploy one.
    for (const [ns, f] of [['Microsoft.HardwareSecurityModules', 'AzureDedicatedHSM'], ['Microsoft.Network', 'AllowBaremetalServers']]) {
      expect((await h.request('POST', `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Features/providers/${ns}/features/${f}/register?api-version=2021-07-01`)).status).toBe(200);
    }
    for (const ns of ['Microsoft.HardwareSecurityModules', 'Microsoft.KeyVault', 'Microsoft.Network']) {
      expect((await h.request('POST', `/subscriptions/${SUBSCRIPTION}/providers/${ns}/register?api-version=2021-04-01`)).status).toBe(200);
    }
    await h.advanceClock(3600);
    // What `cdktf deploy` of the example environment leaves: its Managed HSM (not activated) and Dedicated HSM.
    const mhsm = await h.keyVault().managedHsms.beginCreateOrUpdateAndWait(
      'rg-hsm-example',
      'hsm-example-mhsm',
      { location: 'westeurope', sku: { family: 'B', name: 'Standard_B1' }, properties: { tenantId: h.sim.tenantId, initialAdminObjectIds: [admin], softDeleteRetentionInDays: 90, enablePurgeProtection: true } },
      { updateIntervalInMs: 20 },
    );
    const luna = await h.client.dedicatedHsmOperations.beginCreateOrUpdateAndWait('rg-hsm-example', 'hsm-example-luna', dedicatedHsm('10.2.1.8'), { updateIntervalInMs: 20 });
    fs.writeFileSync(
      path.join(work, 'outputs.json'),
      JSON.stringify({ 'hsm-example': { hsm_uri: mhsm.properties!.hsmUri, managed_hsm_name: 'hsm-example-mhsm', resource_group_name: 'rg-hsm-example', dedicated_hsm_ids: [luna.id], dedicated_hsm_private_ips: ['10.2.1.8'] } }),
    );
    azurite = await startAzurite({ location: path.join(work, 'azurite') });
    const backups = await azurite.containerSas('mhsm-backups');
    const audit = await azurite.containerSas('insights-logs-auditevent', { permissions: 'racwl' });
    fs.writeFileSync(path.join(work, 'sas.txt'), backups.sas);
    fs.writeFileSync(path.join(work, 'audit-sas.txt'), audit.sas);
    // In Azure the diagnostic setting delivers the audit records; the simulator is told where through its management API.
    const mgmt = fs.readFileSync(path.join(h.dir, 'secrets', 'management.token'), 'utf8').trim();
    expect((await httpsRequest(h.arm, h.sim.caCert, 'PUT', '/_simulator/audit/destination', JSON.stringify({ containerUrl: audit.containerUri, sas: audit.sas }), mgmt)).status).toBe(200);
    // The BYOK source: a SoftHSM2 token standing in for the Luna partition ctm_part, its user PIN the README's CO_PIN.
    fs.mkdirSync(path.join(work, 'source-token', 'tokens'), { recursive: true });
    fs.writeFileSync(path.join(work, 'source-token', 'softhsm2.conf'), `directories.tokendir = ${work}/source-token/tokens\nobjectstore.backend = file\n`);
    env = {
      ...process.env,
      HSM_ENV: undefined,
      HSM_CONFIG: undefined,
      ME: admin,
      BACKUP_URL: backups.containerUri,
      AUDIT_URL: audit.containerUri,
      SOFTHSM2_CONF: path.join(work, 'source-token', 'softhsm2.conf'),
      CHECKPOINT_DISABLE: '1',
    };
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'ctm_part', '--so-pin', 'source-so-pin', '--pin', 'from-your-vault'], { env, stdio: 'pipe' });
  });

  afterAll(async () => {
    await h?.close();
    await azurite?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** A command as the shell runs it, with the exports of the commands before it in its block. */
  const sh = (command: string, cwd: string) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      const script = `[ -f ${q(shellState)} ] && . ${q(shellState)}\n${command}\nrc=$?\nexport -p > ${q(shellState)}\nexit $rc`;
      execFile('bash', ['-c', script], { cwd, env: env as NodeJS.ProcessEnv, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, out, errText) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errText });
      });
    });

  /** Runs every runnable command of one block in order, in the shell session of the blocks before it; each must exit 0. */
  const runBlock = async (block: number, cwd: string, check: (text: string, r: { out: string; err: string }) => void = () => undefined) => {
    const ran: string[] = [];
    for (const c of commands.filter((x) => x.block === block && runnable(x.text))) {
      const command = standIn(c.text, h.dir);
      const r = await sh(command, cwd);
      if (r.code !== 0) throw new Error(`README command failed (exit ${r.code}): ${c.text}\nran as: ${command}\n${r.out}\n${r.err}`);
      check(c.text, r);
      ran.push(c.text);
      ranAll.add(c.text);
    }
    return ran;
  };

  const blockOf = (first: RegExp) => commands.find((c) => first.test(c.text))!.block;

  test('the quick start: npm start runs the dry-run to the end', async () => {
    const ran = await runBlock(blockOf(/^npm ci && npm start/), REPO, (text, r) => {
      expect(r.out).toMatch(/dry-run of example: \d+ passed(, \d+ skipped)? in [\d.]+ s/);
    });
    expect(ran).toEqual(['npm ci && npm start']);
  });

  test('deploying: preflight, synth, policy check and plan check (the plan from the documented format)', async () => {
    // terraform plan cannot run here: a plan of the example environment that creates everything stands in for plan.json.
    const stack = path.join(REPO, 'cdktf.out', 'stacks', 'hsm-example');
    const ran = await runBlock(blockOf(/^export HSM_ENV=prod/), REPO, (text, r) => {
      if (/^npx cdktf synth$/.test(text)) fs.copyFileSync(path.join(REPO, 'test', 'policy', 'fixtures', 'plans', 'create-only.json'), path.join(stack, 'plan.json'));
      if (/preflight/.test(text)) expect(r.out).toMatch(/preflight passed/);
    });
    expect(ran).toEqual(expect.arrayContaining(['npx hsmctl preflight', 'npx cdktf synth', 'npx hsmctl policy check cdktf.out', 'npx hsmctl plan check cdktf.out/stacks/hsm-prod/plan.json']));
  });

  test('the Managed HSM ceremonies: status, activation, a role, a key, a backup', async () => {
    const ran = await runBlock(blockOf(/^npx hsmctl status --from-outputs outputs\.json$/), work, (text, r) => {
      if (/^npx hsmctl keys list/.test(text)) expect(r.out).toMatch(/app-signing/);
      if (/^npx hsmctl status .*--storage-url/.test(text)) expect(r.out).toMatch(/Managed HSM hsm-example-mhsm: reachable; activated; 1 keys.*last backup \d{4}-/);
    });
    expect(ran.length).toBeGreaterThanOrEqual(7);
    expect(fs.statSync(path.join(work, 'sd')).mode & 0o777).toBe(0o700);
  });

  test('the Luna appliance: init, a registered client, its partition initialised and reached over PKCS#11', async () => {
    await runBlock(blockOf(/^export TA_PW=/), work);
    const ran = await runBlock(blockOf(/^export PO_PW=/), work, (text, r) => {
      if (/^pkcs11-tool /.test(text)) expect(r.out).toMatch(/token label\s+:\s+ctm_part/);
    });
    expect(ran).toHaveLength(4);
  });

  test('BYOK from the partition (a SoftHSM2 token stands in for it), and a .byok made elsewhere', async () => {
    const ran = await runBlock(blockOf(/^npx hsmctl byok app-cmk /), work, (text, r) => {
      if (/--generate/.test(text)) expect(r.out).toMatch(/imported https:\/\/.*\/keys\/app-cmk\/[0-9a-f]{32}: its public key is the token's/);
    });
    expect(ran).toHaveLength(2);
  });

  test('the audit trail of all the above', async () => {
    const mgmt = fs.readFileSync(path.join(h.dir, 'secrets', 'management.token'), 'utf8').trim();
    expect((await httpsRequest(h.arm, h.sim.caCert, 'POST', '/_simulator/audit/flush', '', mgmt)).status).toBe(200);
    const ran = await runBlock(blockOf(/^AUDIT_URL=/), work, (text, r) => {
      expect(r.out).toMatch(/KeyCreate\s+Success 200/);
    });
    expect(ran).toHaveLength(1);
  });

  test('the simulator starts in the foreground and stops on SIGTERM', async () => {
    const line = commands.find((c) => SIMULATOR_START.test(c.text))!.text;
    ranAll.add(line);
    fs.writeFileSync(path.join(work, 'hsms.json'), JSON.stringify([{ name: 'contoso-hsm', administrators: [randomUUID()] }]));
    const child = spawn('bash', ['-c', `exec ${standIn(line, h.dir)}`], { cwd: work, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => /endpoints: /.test(out) && resolve());
      child.once('exit', (code) => reject(new Error(`exited ${code} before it was ready: ${out}`)));
    });
    const code = await new Promise<number | null>((resolve) => {
      child.removeAllListeners('exit');
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
    expect(out).toMatch(/Managed HSM contoso-hsm: https:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/simulator stopped/);
  });

  test('every runnable command of the README was run by one of the tests above', () => {
    expect(commands.filter((c) => runnable(c.text) && !ranAll.has(c.text)).map((c) => c.text)).toEqual([]);
  });
});

/** Whether this test runs the command (every other one must be in NOT_HERE). */
function runnable(text: string): boolean {
  if (NOT_HERE.some(([re]) => re.test(text))) return false;
  return /^(npx hsmctl |npx cdktf synth$|export |eval "\$\(npx hsmctl |pkcs11-tool |npm ci && npm start$)/.test(text);
}

/** The stand-ins of the header comment, applied to a command before it runs. */
function standIn(text: string, simulatorDir: string): string {
  let c = text
    .replace(/HSM_ENV=prod\b/g, 'HSM_ENV=example')
    .replace(/\bhsm-prod\b/g, 'hsm-example')
    .replace(/^npm ci && npm start$/, 'npm start') // npm ci ran before the suite (.ci/run); again here it would replace node_modules under it
    .replace(/\/usr\/safenet\/lunaclient\/lib\/libCryptoki2_64\.so/g, SOFTHSM);
  const hsmctl = `node ${q(path.join(REPO, 'scripts', 'hsmctl.js'))}`;
  c = c.replace(/npx hsmctl /g, `${hsmctl} `);
  const targetsAzure = /--from-outputs |hsmctl\.js'? preflight\b/.test(c);
  if (targetsAzure && !/ eval /.test(c)) c = `${c} --simulator ${q(simulatorDir)}`;
  return c;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
