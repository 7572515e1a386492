import { spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, readdirSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

import { startSimulatorProcess } from '../simulator/simulator-process';
import { armClients } from '../../scripts/dry-run/arm-clients';
import { simulatorCredential } from '../../scripts/clients/target';
import type { ChildProcess } from 'child_process';

const ROOT = resolve(__dirname, '..', '..');

/** SIGTERM, as an operator stops it, and wait until it has closed its state. */
async function stopCleanly(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}
const HSMCTL = join(ROOT, 'scripts', 'hsmctl.js');

function dryRun(...args: string[]) {
  const r = spawnSync('node', [HSMCTL, 'dry-run', '--key-bits', '2048', '--json', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  let report: any;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    throw new Error(`no JSON report (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return { status: r.status, report, stderr: r.stderr };
}

describe('hsmctl dry-run of the example environment', () => {
  const state = mkdtempSync(join(tmpdir(), 'hsm-e2e-'));
  afterAll(() => rmSync(state, { recursive: true, force: true }));
  const first = dryRun('--state-dir', state);

  test('every step passes and the report says so', () => {
    expect(first.status).toBe(0);
    expect(first.report.ok).toBe(true);
    expect(first.report.steps.map((s: { name: string; status: string }) => [s.name, s.status])).toEqual(
      first.report.steps.map((s: { name: string }) => [s.name, 'ok']),
    );
    expect(first.report.steps.map((s: { name: string }) => s.name)).toEqual(
      expect.arrayContaining(['synthesize the stacks', 'provision the HSMs through the ARM plane', 'activate the security domains', 'disaster-recovery drill', 'status report']),
    );
  });

  test('registers the CipherTrust Manager, the Luna client host and the firewall with the IPs of their synthesized NICs', () => {
    const luna = first.report.steps.find((s: { name: string }) => s.name === 'initialise the Luna appliances and register clients');
    expect(luna.details).toEqual([
      { hsm: 'hsm-example-luna', name: 'hsm-example-ctm', role: 'ciphertrust', ip: '10.2.0.10', partition: 'ctm_part' },
      { hsm: 'hsm-example-luna', name: 'luna-client', role: 'luna-client', ip: '10.2.0.11', partition: 'ctm_part' },
      { hsm: 'hsm-example-luna', name: 'vsrx-1', role: 'firewall', ip: '10.2.0.20', partition: 'fw_part' },
    ]);
    const bundle = JSON.parse(require('fs').readFileSync(join(state, 'ceremonies', 'hsm-example-luna', 'luna', 'clients', 'hsm-example-ctm', 'bundle.json'), 'utf8'));
    expect(bundle.partition).toMatchObject({ name: 'ctm_part', serialNumber: expect.stringMatching(/^\d+$/) });
    expect(statSync(join(state, 'ceremonies', 'hsm-example-luna', 'luna', 'clients', 'hsm-example-ctm', 'hsm-example-ctmKey.pem')).mode & 0o777).toBe(0o600);
  });

  test('imports a CipherTrust key (Luna root of trust) by BYOK and runs both firewall scenarios over PKCS#11', () => {
    const byok = first.report.steps.find((s: { name: string }) => s.name.startsWith('BYOK'));
    expect(byok.details).toMatchObject({ kek: expect.stringMatching(/\/keys\/byok-kek\/[0-9a-f]{32}$/), imported: expect.stringMatching(/\/keys\/byok-imported\//), partition: 'ctm_part' });
    const file = JSON.parse(require('fs').readFileSync(byok.details.byokFile, 'utf8'));
    expect(file).toMatchObject({ schema_version: '1.0.0', header: { kid: byok.details.kek, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' } });
    const scenarios = first.report.steps.find((s: { name: string }) => s.name.startsWith('firewall scenarios'));
    expect(scenarios.details.panos).toMatchObject({ firewall: 'vsrx-1', partition: 'fw_part', wrappingKeys: 2 });
    // The second create was sent: the HSM's own answer is reported (soft delete keeps the name: 409).
    expect(scenarios.details.vsrx).toMatchObject({ vm: 'vsrx-1', key: expect.stringMatching(/^mek-binding-[0-9a-f-]{36}$/), secondKeyRefused: true, hsmAnswer: { status: 409, code: 'Conflict' } });
  });

  test('reads back the audit trail of the ceremonies it ran from the insights-logs-auditevent container', () => {
    const audit = first.report.steps.find((s: { name: string }) => s.name === 'read the audit trail');
    expect(audit.details.container).toMatch(/\/insights-logs-auditevent$/);
    const primary = audit.details.hsms['hsm-example-mhsm'];
    expect(Object.keys(primary.operations)).toEqual(expect.arrayContaining(['SecurityDomainDownload', 'RoleAssignmentCreate', 'KeyCreate', 'KeyImport', 'BackupCreate']));
    expect(primary.callers).toContain('aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
    expect(Object.keys(audit.details.hsms['hsm-example-mhsm-dr'].operations)).toEqual(expect.arrayContaining(['SecurityDomainUpload']));
    expect(audit.summary.join('\n')).toMatch(/hsm-example-mhsm: \d+ request\(s\) from \d+ caller\(s\)/);
  });

  test('the status reports the activated primary, the recovered DR HSM and the Dedicated HSM', () => {
    const byName = Object.fromEntries(first.report.status.map((s: { hsm: string }) => [s.hsm, s]));
    expect(byName['hsm-example-mhsm']).toMatchObject({ kind: 'Managed HSM', reachable: true, activated: true, quorum: '2 of 3' });
    expect(byName['hsm-example-mhsm'].keys).toBeGreaterThanOrEqual(3);
    expect(byName['hsm-example-mhsm'].lastBackup).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(byName['hsm-example-mhsm-dr']).toMatchObject({ reachable: true, activated: true });
    expect(byName['hsm-example-luna']).toMatchObject({ kind: 'Dedicated HSM', reachable: true, registeredClients: ['hsm-example-ctm', 'luna-client', 'vsrx-1'] });
  });

  test('rehearses deleting the primary Managed HSM: listed as deleted, purge refused under purge protection, recovered with every key version', () => {
    const drill = first.report.steps.find((s: { name: string }) => s.name === 'rehearse deleting and recovering the Managed HSM (purge refused)');
    expect(drill.details).toMatchObject({ hsm: 'hsm-example-mhsm', location: 'westeurope', purgeProtection: true, purgeRefused: { code: 'InvalidOperation' }, activationStatus: 'Active' });
    expect(Date.parse(drill.details.scheduledPurgeDate) - Date.parse(drill.details.deletionDate)).toBe(90 * 86400_000);
    expect(drill.details.keyVersions).toBeGreaterThanOrEqual(5);
  });

  test('provisions exactly what synth produced, and lists the rest as not simulated', () => {
    const provision = first.report.steps.find((s: { name: string }) => s.name === 'provision the HSMs through the ARM plane');
    expect(provision.details.provisioned.map((p: { kind: string; name: string; state: string }) => [p.kind, p.name, p.state])).toEqual([
      ['managedHSMs', 'hsm-example-mhsm', 'Succeeded'],
      ['managedHSMs', 'hsm-example-mhsm-dr', 'Succeeded'],
      ['dedicatedHSMs', 'hsm-example-luna', 'Succeeded'],
    ]);
    expect(provision.details.notSimulated.map((n: { type: string }) => n.type)).toEqual(expect.arrayContaining(['azurerm_virtual_network_gateway', 'azurerm_linux_virtual_machine']));
  });

  test('writes the security-domain file and keys 0600 in a 0700 folder', () => {
    const dir = join(state, 'ceremonies', 'hsm-example-mhsm', 'security-domain');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir).filter((n) => !n.endsWith('.cer'))) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
  });

  test('keeps secrets out of its output', () => {
    const text = JSON.stringify(first.report) + first.stderr;
    expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(text).not.toMatch(/"access_token"|client_secret/);
  });

  test('a rerun on the same state is idempotent, and recovers an HSM an interrupted run left soft-deleted', async () => {
    // As if the last run had stopped inside the soft-delete drill: the primary Managed HSM deleted through ARM.
    const simDir = join(state, 'simulator');
    const spec = join(state, 'no-instances.json');
    writeFileSync(spec, '[]');
    const { child, endpoints } = await startSimulatorProcess(simDir, spec);
    try {
      const operator = endpoints.principals[0].objectId;
      const arm = armClients(simulatorCredential(endpoints, simDir, operator), '00000000-0000-0000-0000-000000000000', { endpoint: endpoints.armEndpoint!, ca: readFileSync(endpoints.caCertificate, 'utf8'), pollMs: 50 });
      await arm.keyVault.managedHsms.delete('rg-hsm-example', 'hsm-example-mhsm', arm.pollOptions);
    } finally {
      await stopCleanly(child);
    }
    const again = dryRun('--state-dir', state);
    expect(again.status).toBe(0);
    const provision = again.report.steps.find((s: { name: string }) => s.name === 'provision the HSMs through the ARM plane');
    expect(provision.summary).toContain('Managed HSM hsm-example-mhsm: was soft-deleted (an earlier run stopped inside the soft-delete drill); recovered with its keys');
    const activate = again.report.steps.find((s: { name: string }) => s.name === 'activate the security domains');
    expect(activate.details).toEqual([{ hsm: 'hsm-example-mhsm', activated: 'earlier run' }]);
    const keys = again.report.steps.find((s: { name: string }) => s.name === 'apply role assignments and create keys');
    expect(keys.details[0].created).toBe(0);
  });

  test('a failing step names itself, says why and keeps the state', () => {
    // A region no Azure resource type is offered in: the ARM plane refuses the HSMs as Azure would.
    const config = join(state, 'nowhere.json');
    const example = JSON.parse(readFileSync(join(ROOT, 'config', 'example.json'), 'utf8'));
    writeFileSync(config, JSON.stringify({ ...example, name: 'nowhere', location: 'antarcticanorth' }));
    const kept = join(state, 'nowhere-state');
    const r = dryRun('--config', config, '--state-dir', kept);
    expect(r.status).toBe(1);
    expect(r.report.ok).toBe(false);
    expect(r.report.failedStep).toBe('provision the HSMs through the ARM plane');
    expect(r.report.steps.find((s: { status: string }) => s.status === 'failed').error).toMatch(/LocationNotAvailableForResourceType|antarcticanorth/);
    const after = r.report.steps.slice(r.report.steps.findIndex((s: { status: string }) => s.status === 'failed') + 1);
    expect(after.length).toBeGreaterThan(0);
    for (const s of after) expect(s).toMatchObject({ status: 'skipped', reason: 'not run: "provision the HSMs through the ARM plane" failed' });
    // What the steps before it made is still there: the synthesized stacks and the simulator's state.
    expect(readdirSync(join(kept, 'cdktf.out', 'stacks')).sort()).toEqual(['hsm-nowhere', 'hsm-nowhere-dr']);
    expect(existsSync(join(kept, 'simulator', 'state'))).toBe(true);
  });
});
