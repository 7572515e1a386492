import { execFileSync, spawnSync } from 'child_process';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { buildApp } from '../../stacks/app';
import { configPathFor } from '../../stacks/config-path';
import { loadEnvironmentConfig } from '../../stacks/environment-config';
import { formatSummary, summarizeSynthOutput } from '../../scripts/synth-summary';

const ROOT = resolve(__dirname, '..', '..');
const HSMCTL = join(ROOT, 'scripts', 'hsmctl.js');

describe('synth summary', () => {
  const out = mkdtempSync(join(tmpdir(), 'hsm-summary-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  buildApp(loadEnvironmentConfig(configPathFor('example')), out).app.synth();
  const [env, dr] = summarizeSynthOutput(out);

  test('counts resources by type from the synthesized JSON', () => {
    expect(env.stack).toBe('hsm-example');
    expect(env.resourceCounts).toMatchObject({ azurerm_dedicated_hardware_security_module: 1, azurerm_key_vault_managed_hardware_security_module_key: 3, azurerm_subnet: 3 });
    expect(dr.stack).toBe('hsm-example-dr');
  });
  test('lists the HSMs, the admin CIDRs and the backend', () => {
    expect(env.dedicatedHsms).toEqual([{ name: 'hsm-example-luna', sku: 'SafeNet Luna Network HSM A790', placement: 'stamp1', privateIps: ['10.2.1.8'] }]);
    expect(env.managedHsms[0]).toMatchObject({ name: 'hsm-example-mhsm', purgeProtection: true, softDeleteDays: 90, publicNetworkAccess: false, keys: 3, roleAssignments: 2 });
    expect(env.adminCidrs).toEqual(['203.0.113.0/24']);
    expect(env.backend).toBe('local (terraform.hsm-example.tfstate)');
    expect(formatSummary([env])).toMatch(/Managed HSM hsm-example-mhsm: purge protection on/);
  });
});

describe('hsmctl', () => {
  const run = (...args: string[]) => spawnSync('node', [HSMCTL, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CHECKPOINT_DISABLE: '1' } });

  test('summary --json prints the summary of every stack', () => {
    const summaries = JSON.parse(execFileSync('node', [HSMCTL, 'summary', '--json'], { cwd: ROOT, encoding: 'utf8' }));
    expect(summaries.map((s: { stack: string }) => s.stack)).toEqual(['hsm-example', 'hsm-example-dr']);
  });
  test('an unknown environment is a usage error naming the environments there are (exit 2)', () => {
    const r = run('summary', '--env', 'nosuchenv');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--env nosuchenv: there is no .*config\/nosuchenv\.json; environments in config\/: .*example/);
  });
});
