import { readPlan } from '../../policy/plan-document';
import { evaluateDocument } from '../../policy/engine';

/** readPlan on the parts of Terraform's plan format the fixtures do not show: modules, count instances, errors. */
describe('readPlan', () => {
  const plan = {
    format_version: '1.2',
    planned_values: {
      root_module: {
        child_modules: [
          {
            address: 'module.hsm',
            resources: [
              { address: 'module.hsm.azurerm_key_vault_managed_hardware_security_module_key.k[0]', mode: 'managed', type: 'azurerm_key_vault_managed_hardware_security_module_key', name: 'k', index: 0, values: { name: 'k0', key_type: 'RSA-HSM' } },
            ],
          },
        ],
      },
    },
    resource_changes: [
      { address: 'module.hsm.azurerm_key_vault_managed_hardware_security_module_key.k[0]', mode: 'managed', type: 'azurerm_key_vault_managed_hardware_security_module_key', name: 'k', change: { actions: ['create'], before: null, after: { name: 'k0' } } },
    ],
    configuration: {
      root_module: {
        module_calls: {
          hsm: {
            module: {
              resources: [
                {
                  address: 'azurerm_key_vault_managed_hardware_security_module_key.k', mode: 'managed', type: 'azurerm_key_vault_managed_hardware_security_module_key', name: 'k',
                  expressions: { managed_hsm_id: { references: ['azurerm_key_vault_managed_hardware_security_module.m.id', 'azurerm_key_vault_managed_hardware_security_module.m'] }, expiration_date: { references: ['var.expiry'] } },
                },
              ],
            },
          },
        },
      },
    },
  };

  it('reads resources of child modules, and writes references back with the module prefix (not variables)', () => {
    const { document, changes } = readPlan(plan);
    expect(document.resources).toEqual([
      expect.objectContaining({
        address: 'module.hsm.azurerm_key_vault_managed_hardware_security_module_key.k[0]',
        attrs: { name: 'k0', key_type: 'RSA-HSM', managed_hsm_id: '${module.hsm.azurerm_key_vault_managed_hardware_security_module.m.id}' },
      }),
    ]);
    expect(changes.map((c) => [c.address, c.actions])).toEqual([['module.hsm.azurerm_key_vault_managed_hardware_security_module_key.k[0]', ['create']]]);
    // The expiry comes from a variable whose value the plan left out: the key is reported as never expiring.
    expect(evaluateDocument(document).filter((v) => v.ruleId === 'HSM-KEY-001').map((v) => v.address)).toEqual(['module.hsm.azurerm_key_vault_managed_hardware_security_module_key.k[0]']);
  });

  it.each([
    [null, 'not a JSON object'],
    [{ format_version: '2.0', resource_changes: [] }, 'format_version "2.0"; allowed: "1.x"'],
    [{ format_version: '1.0', resource_changes: {} }, 'resource_changes is not a list'],
    [{ format_version: '1.0', resource_changes: [{ change: { actions: ['create'] } }] }, 'resource_changes[0] has no address or change.actions'],
  ])('refuses %j', (input, message) => {
    expect(() => readPlan(input)).toThrow(message);
  });
});
