import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { hsmctl } from '../hsmctl-in-process';

/** --format sarif is checked against the official SARIF 2.1.0 schema (vendored in sarif-schema/, draft-04). */
const schema = JSON.parse(readFileSync(join(__dirname, 'sarif-schema', 'sarif-schema-2.1.0.json'), 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validateSarif = ajv.compile(schema);
const PLANS = join(__dirname, 'fixtures', 'plans');

function expectValidSarif(text: string): any {
  const log = JSON.parse(text);
  const valid = validateSarif(log);
  expect(validateSarif.errors ?? []).toEqual([]);
  expect(valid).toBe(true);
  return log;
}

describe('SARIF output', () => {
  it('of a failing plan check is valid SARIF 2.1.0 with the rule, the level, the message and the location', async () => {
    const { code, out } = await hsmctl(['plan', 'check', join(PLANS, 'replace-managed-hsm-tenant.json'), '--format', 'sarif']);
    expect(code).toBe(1);
    const log = expectValidSarif(out);
    const run = log.runs[0];
    expect(run.tool.driver.name).toBe('hsmctl');
    const [result] = run.results;
    expect(result).toMatchObject({ ruleId: 'HSM-PLAN-001', level: 'error' });
    expect(run.tool.driver.rules[result.ruleIndex].id).toBe('HSM-PLAN-001');
    expect(result.message.text).toContain('tenant_id forces the replacement');
    expect(result.locations[0].physicalLocation.artifactLocation.uri).toBe('test/policy/fixtures/plans/replace-managed-hsm-tenant.json');
    expect(result.locations[0].physicalLocation.region.startLine).toBeGreaterThan(1);
    expect(result.locations[0].logicalLocations[0]).toEqual({ fullyQualifiedName: 'azurerm_key_vault_managed_hardware_security_module.hsm', kind: 'resource' });
  });

  it('marks an acknowledged finding as suppressed, with its reason', async () => {
    const { code, out } = await hsmctl([
      'plan', 'check', join(PLANS, 'replace-managed-hsm-tenant.json'), '--format', 'sarif',
      '--allow-destroy', 'azurerm_key_vault_managed_hardware_security_module.hsm', '--reason', 'approved tenant migration',
    ]);
    expect(code).toBe(0);
    const log = expectValidSarif(out);
    expect(log.runs[0].results[0].suppressions).toEqual([{ kind: 'external', justification: 'approved tenant migration' }]);
  });

  it('of a passing check and of a policy check is valid too', async () => {
    expectValidSarif((await hsmctl(['plan', 'check', join(PLANS, 'create-only.json'), '--format', 'sarif'])).out);
    const dir = mkdtempSync(join(tmpdir(), 'sarif-'));
    try {
      writeFileSync(join(dir, 'main.tf.json'), JSON.stringify({ resource: { azurerm_network_security_rule: { 'open ssh': { direction: 'Inbound', access: 'Allow', source_address_prefix: '*', destination_port_range: '22' } } } }, null, 2));
      const { code, out } = await hsmctl(['policy', 'check', dir, '--format', 'sarif']);
      expect(code).toBe(1);
      const log = expectValidSarif(out);
      expect(log.runs[0].results[0].locations[0].physicalLocation.region.startLine).toBe(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stays valid with suppressions that carry a waiver\'s origin, and a module as a logical location', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sarif-'));
    try {
      writeFileSync(join(dir, 'main.tf.json'), JSON.stringify({
        '//': { policy: { acknowledgements: [{ ruleId: 'HSM-NET-001', reason: 'written into the JSON by hand', addresses: ['*'] }] } },
        resource: { azurerm_network_security_rule: { ssh: { direction: 'Inbound', access: 'Allow', source_address_prefix: '*', destination_port_range: '22' } } },
        module: { vault: { source: './vault' } },
      }));
      const log = expectValidSarif((await hsmctl(['policy', 'check', dir, '--format', 'sarif'])).out);
      expect(log.runs[0].results.map((r: any) => r.locations[0].logicalLocations[0])).toEqual(
        expect.arrayContaining([{ fullyQualifiedName: 'module.vault', kind: 'module' }]),
      );
      expect(log.runs[0].results.find((r: any) => r.ruleId === 'HSM-NET-001').suppressions[0].properties).toEqual({ namesNoConstruct: true, everyAddress: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the validator refuses what is not SARIF (so the checks above can fail)', () => {
    expect(validateSarif({ version: '2.1.0', runs: [{ tool: { driver: {} }, results: [] }] })).toBe(false);
    expect(validateSarif({ version: '2.0.0', runs: [] })).toBe(false);
  });
});
