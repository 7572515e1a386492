import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const ROOT = resolve(__dirname, '..', '..');
const HSMCTL = join(ROOT, 'scripts', 'hsmctl.js');

/**
 * The dry-run drives an HA group from the config's HA pair: both appliances initialised with one cloning
 * domain, the clients registered on the first, the partition cloned to the second, the bundle given the group.
 * The environment is the example's network and Dedicated HSM part only (no Managed HSM), to stay short.
 */
describe('hsmctl dry-run with a Dedicated HSM HA pair', () => {
  const state = mkdtempSync(join(tmpdir(), 'hsm-e2e-ha-'));
  afterAll(() => rmSync(state, { recursive: true, force: true }));
  const example = JSON.parse(readFileSync(join(ROOT, 'config', 'example.json'), 'utf8'));
  const config = {
    ...example,
    name: 'ha',
    dedicatedHsm: { name: 'hsm-ha-luna', haPairPrivateIpAddresses: ['10.2.1.8', '10.2.1.9'], luna: { hsmLabel: 'LunaHSM', partitions: [{ name: 'ctm_part' }] } },
  };
  for (const k of ['managedHsm', 'disasterRecovery', 'firewallClients', 'lunaClientHost']) delete config[k];
  const file = join(state, 'ha.json');
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync('node', [HSMCTL, 'dry-run', '--config', file, '--json', '--state-dir', join(state, 'run')], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  const report = JSON.parse(r.stdout || '{}');

  test('every step passes', () => {
    expect(r.stderr).not.toMatch(/Error/);
    expect(report.ok).toBe(true);
  });

  test('the CipherTrust bundle holds the HA group of both appliances, the first member first', () => {
    const bundleDir = join(state, 'run', 'ceremonies', 'hsm-ha-luna-1', 'luna', 'clients', 'hsm-example-ctm');
    const bundle = JSON.parse(readFileSync(join(bundleDir, 'bundle.json'), 'utf8'));
    expect(bundle.ha).toMatchObject({ label: 'ctm_part-ha', partition: 'ctm_part' });
    expect(bundle.ha.members).toHaveLength(2);
    // The simulator has stopped with the dry-run: what is checked is that the group names both members in stamp order.
    const luna = report.steps.find((s: { name: string }) => s.name === 'initialise the Luna appliances and register clients');
    expect(luna.status).toBe('ok');
    expect(bundle.ha.members.map((m: { serverCertificateSha256: string }) => m.serverCertificateSha256)).toEqual([bundle.hsm.serverCertificateSha256, expect.not.stringMatching(bundle.hsm.serverCertificateSha256)]);
  });
});
