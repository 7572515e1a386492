import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { hsmctl } from '../hsmctl-in-process';

/**
 * hsmctl plan check on plan JSON written from Terraform's documented format ("JSON Output Format":
 * resource_changes[].change.actions, before/after, replace_paths, action_reason; planned_values;
 * configuration with constant_value/references). The fixtures hold a Managed HSM with its key, lock, private
 * endpoint and diagnostic setting, and a Dedicated HSM with its lock.
 */
const FIXTURES = join(__dirname, 'fixtures', 'plans');
const fixture = (name: string) => join(FIXTURES, `${name}.json`);
const MHSM = 'azurerm_key_vault_managed_hardware_security_module.hsm';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'plan-check-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('hsmctl plan check', () => {
  it('passes a create-only plan of a secure estate (exit 0)', async () => {
    const { code, out } = await hsmctl(['plan', 'check', fixture('create-only')]);
    expect(code).toBe(0);
    expect(out).toMatch(/^hsmctl plan check passed \(.*create-only\.json; 0 acknowledged\)$/m);
  });

  it('passes an in-place update of the Managed HSM tags (exit 0)', async () => {
    const { code } = await hsmctl(['plan', 'check', fixture('in-place-update')]);
    expect(code).toBe(0);
  });

  it('fails on the replacement of the Managed HSM, naming the address and tenant_id as the attribute forcing it (exit 1)', async () => {
    const { code, out } = await hsmctl(['plan', 'check', fixture('replace-managed-hsm-tenant')]);
    expect(code).toBe(1);
    expect(out).toContain(`HSM-PLAN-001 (The plan deletes or replaces no HSM, HSM key, HSM administrator role assignment, HSM subnet or gateway): ${MHSM} (an HSM) would be replaced; tenant_id forces the replacement.`);
    expect(out).toContain(`pass --allow-destroy ${MHSM} --reason "..."`);
    expect(out).toMatch(/hsmctl plan check failed: 1 violation/);
  });

  it('fails on the deletion of a key, saying why Terraform deletes it (exit 1)', async () => {
    const { code, out } = await hsmctl(['plan', 'check', fixture('delete-key')]);
    expect(code).toBe(1);
    expect(out).toContain('azurerm_key_vault_managed_hardware_security_module_key.app_signing (an HSM key) would be deleted: its configuration was removed');
  });

  it('fails on the deletion of the Dedicated HSM but not of its lock alone (exit 1)', async () => {
    const { code, out } = await hsmctl(['plan', 'check', fixture('delete-dedicated-hsm'), '--format', 'json']);
    expect(code).toBe(1);
    const report = JSON.parse(out);
    expect(report.passed).toBe(false);
    expect(report.violations.map((v: { ruleId: string; address: string }) => [v.ruleId, v.address])).toEqual([
      ['HSM-PLAN-001', 'azurerm_dedicated_hardware_security_module.luna'],
    ]);
  });

  it('passes an acknowledged replacement and reports the reason (exit 0)', async () => {
    const reason = 'tenant migration approved in change CHG-1234';
    const { code, out } = await hsmctl(['plan', 'check', fixture('replace-managed-hsm-tenant'), '--allow-destroy', MHSM, '--reason', reason]);
    expect(code).toBe(0);
    expect(out).toContain(`acknowledged (1):\n  HSM-PLAN-001 ${MHSM}: ${reason}`);
    expect(out).toMatch(/hsmctl plan check passed .*1 acknowledged/);
  });

  it('runs the policy rules on the planned values (public access turned on, exit 1)', async () => {
    const { code, out } = await hsmctl(['plan', 'check', fixture('update-opens-public-access')]);
    expect(code).toBe(1);
    expect(out).toContain(`HSM-MHSM-004 (Managed HSM public network access is off): ${MHSM} public network access is on`);
  });

  it('applies the acknowledgements recorded in a cdk.tf.json by address', async () => {
    const synth = join(tmp, 'cdk.tf.json');
    writeFileSync(synth, JSON.stringify({ '//': { policy: { acknowledgements: [{ ruleId: 'HSM-MHSM-004', reason: 'public pilot, behind the IP allow list', addresses: [MHSM] }] } } }));
    const { code, out } = await hsmctl(['plan', 'check', fixture('update-opens-public-access'), '--acknowledgements-from', synth]);
    expect(code).toBe(0);
    expect(out).toContain(`HSM-MHSM-004 ${MHSM}: public pilot, behind the IP allow list`);
  });

  describe('--acknowledgements-from takes the waivers of exactly one configuration (the stack the plan is of)', () => {
    // The main and DR stacks give their Managed HSM the same address: a DR-only waiver must not clear the primary's plan.
    const synthOut = () => {
      const out = join(tmp, 'cdktf.out');
      const stack = (name: string, acknowledgements: object[]) => {
        mkdirSync(join(out, 'stacks', name), { recursive: true });
        writeFileSync(join(out, 'stacks', name, 'cdk.tf.json'), JSON.stringify({ '//': { policy: { acknowledgements } } }));
      };
      stack('hsm-prod', []);
      stack('hsm-prod-dr', [{ ruleId: 'HSM-MHSM-004', reason: 'DR HSM reached over the IP allow list', construct: 'hsm-prod-dr/ManagedHsm', addresses: [MHSM] }]);
      return out;
    };

    it('refuses a folder holding several stacks, naming them (exit 2)', async () => {
      const out = synthOut();
      const { code, err, out: stdout } = await hsmctl(['plan', 'check', fixture('update-opens-public-access'), '--acknowledgements-from', out]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(err).toContain(`--acknowledgements-from ${out}: holds 2 configurations (${join(out, 'stacks', 'hsm-prod')}, ${join(out, 'stacks', 'hsm-prod-dr')}); allowed: exactly one, that of the stack the plan is of: its folder (such as ${join(out, 'stacks', 'hsm-prod')}) or its cdk.tf.json`);
    });

    it("applies only that stack's waivers: the primary's folder leaves the DR waiver out (exit 1)", async () => {
      const out = synthOut();
      const primary = await hsmctl(['plan', 'check', fixture('update-opens-public-access'), '--acknowledgements-from', join(out, 'stacks', 'hsm-prod')]);
      expect(primary.code).toBe(1);
      expect(primary.out).toContain(`HSM-MHSM-004 (Managed HSM public network access is off): ${MHSM} public network access is on`);
      const dr = await hsmctl(['plan', 'check', fixture('update-opens-public-access'), '--acknowledgements-from', join(out, 'stacks', 'hsm-prod-dr', 'cdk.tf.json')]);
      expect(dr.code).toBe(0);
    });
  });

  it('writes the report to --output and prints the verdict', async () => {
    const output = join(tmp, 'report.json');
    const { code, out } = await hsmctl(['plan', 'check', fixture('delete-key'), '--format', 'json', '--output', output]);
    expect(code).toBe(1);
    expect(out).toMatch(/hsmctl plan check failed: 1 violation .*; json report written to /);
    expect(JSON.parse(readFileSync(output, 'utf8')).violations).toHaveLength(1);
  });

  describe('refuses bad input with exit 2, naming what was wrong', () => {
    it.each([
      [['plan', 'check'], "missing required argument 'PLAN.json'"],
      [['plan', 'check', 'a.json', 'b.json'], 'unexpected argument "b.json": it takes PLAN.json'],
      [['plan', 'check', '/nonexistent/plan.json'], '/nonexistent/plan.json: cannot read it (ENOENT)'],
      [['plan', 'check', join(FIXTURES, 'delete-key.json'), '--format', 'xml'], '--format xml: allowed: text, json, sarif'],
      [['plan', 'check', join(FIXTURES, 'delete-key.json'), '--allow-destroy', 'azurerm_x.y'], '--allow-destroy needs --reason'],
    ])('%j', async (args, message) => {
      const { code, err, out } = await hsmctl(args);
      expect(code).toBe(2);
      expect(err).toContain(message);
      expect(out).toBe('');
    });

    it('refuses --allow-destroy for an address the plan does not destroy, listing those it does', async () => {
      const { code, err } = await hsmctl(['plan', 'check', fixture('delete-key'), '--allow-destroy', MHSM, '--reason', 'a reason long enough']);
      expect(code).toBe(2);
      expect(err).toContain(`--allow-destroy ${MHSM}: no change in the plan deletes or replaces it; allowed: azurerm_key_vault_managed_hardware_security_module_key.app_signing`);
    });

    it('refuses a file that is not a plan (a state, a cdk.tf.json, invalid JSON)', async () => {
      const state = join(tmp, 'state.json');
      writeFileSync(state, JSON.stringify({ format_version: '1.0', values: {} }));
      expect((await hsmctl(['plan', 'check', state])).err).toContain('looks like a state, not a plan');
      const config = join(tmp, 'cdk.tf.json');
      writeFileSync(config, JSON.stringify({ resource: {} }));
      expect((await hsmctl(['plan', 'check', config])).err).toContain('format_version undefined; allowed: "1.x"');
      const broken = join(tmp, 'broken.json');
      writeFileSync(broken, '{"format_version": ');
      const result = await hsmctl(['plan', 'check', broken]);
      expect(result.code).toBe(2);
      expect(result.err).toContain('not valid JSON');
    });
  });
});
