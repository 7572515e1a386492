import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { openViolations } from '../../policy/engine';
import { evaluatePolicy } from '../../policy/hsm-policy';
import { POLICY_RULES } from '../../policy/rules';
import { buildApp } from '../../stacks/app';
import { ConfigError, EnvironmentConfig, loadEnvironmentConfig, parseEnvironmentConfig } from '../../stacks/environment-config';

// ---------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------

const EXAMPLE_PATH = join(__dirname, '..', '..', 'config', 'example.json');
const EXAMPLE_TEXT = readFileSync(EXAMPLE_PATH, 'utf8');
const FILE = 'config/test.json';

type Json = Record<string, any>;

/** A fresh, mutable copy of the example config. */
function example(): Json {
  return JSON.parse(EXAMPLE_TEXT);
}

/** The example config with `change` applied to a copy. */
function withChange(change: (c: Json) => void): Json {
  const config = example();
  change(config);
  return config;
}

/** The ConfigError that parsing `data` raises (it must raise one). */
function configError(data: unknown): ConfigError {
  try {
    parseEnvironmentConfig(data, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but the config was accepted');
}

/** THEN part of most failure tests: exactly one problem, which names the path, the value and what is allowed. */
function expectOnlyProblem(data: unknown, path: string, received: string, allowed: string): void {
  const error = configError(data);
  const expected = `${path}: received ${received}; allowed: ${allowed}`;
  expect(error.problems).toEqual([expected]);
  expect(error.message).toContain(`${FILE}: invalid environment config:`);
  expect(error.message).toContain(expected);
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'env-config-test-'));
});
afterEach(() => {
  chmodSync(tmp, 0o700);
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------
// Accepted configs
// ---------------------------------------------------------------------------------------------------------

describe('parseEnvironmentConfig / loadEnvironmentConfig', () => {
  describe('accepts', () => {
    it('loads the example config', () => {
      // WHEN
      const config = loadEnvironmentConfig(EXAMPLE_PATH);
      // THEN
      expect(config.name).toBe('example');
      expect(config.tenantId).toBe('11111111-2222-3333-4444-555555555555');
      expect(config.network.adminCidrs).toEqual(['203.0.113.0/24']);
      expect(config.dedicatedHsm?.privateIpAddress).toBe('10.2.1.8');
      expect(config.managedHsm?.keys).toHaveLength(3);
      expect(config.disasterRecovery?.location).toBe('northeurope');
      expect(config.backend).toEqual({ type: 'local' });
    });

    it('accepts a minimal config with only a network', () => {
      const minimal = {
        name: 'dev',
        tenantId: '11111111-2222-3333-4444-555555555555',
        location: 'westeurope',
        resourceGroupName: 'rg-dev',
        namePrefix: 'dev',
        network: { adminCidrs: [] },
      };
      expect(parseEnvironmentConfig(minimal, FILE)).toEqual(minimal);
    });

    it('accepts an HA pair instead of a single Dedicated HSM', () => {
      const config = withChange((c) => {
        delete c.dedicatedHsm.privateIpAddress;
        delete c.dedicatedHsm.stampId;
        c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.1.9'];
      });
      expect(parseEnvironmentConfig(config, FILE).dedicatedHsm?.haPairPrivateIpAddresses).toEqual(['10.2.1.8', '10.2.1.9']);
    });

    it.each([
      [{ type: 'local', path: 'state/example.tfstate' }],
      [{ type: 'azurerm', resourceGroupName: 'rg-tfstate', storageAccountName: 'tfstate1234', containerName: 'tfstate', key: 'hsm.tfstate' }],
      [{ type: 'cloud', organization: 'contoso', workspace: 'hsm-prod' }],
    ])('accepts the backend %j', (backend) => {
      expect(parseEnvironmentConfig(withChange((c) => (c.backend = backend)), FILE).backend).toEqual(backend);
    });

    it('accepts a one-character resource group name, as Azure does', () => {
      expect(parseEnvironmentConfig(withChange((c) => (c.resourceGroupName = 'r')), FILE).resourceGroupName).toBe('r');
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // One kind of bad field at a time
  // -------------------------------------------------------------------------------------------------------

  describe('wrong types', () => {
    it('fails when a boolean is a string', () => {
      expectOnlyProblem(withChange((c) => (c.existingResourceGroup = 'yes')), '$.existingResourceGroup', '"yes"', 'true or false');
    });

    it('fails when a number is a string', () => {
      expectOnlyProblem(
        withChange((c) => (c.managedHsm.softDeleteRetentionDays = '90')),
        '$.managedHsm.softDeleteRetentionDays', '"90"', 'a whole number from 7 to 90',
      );
    });

    it('fails when a list is a single string', () => {
      expectOnlyProblem(withChange((c) => (c.network.adminCidrs = '203.0.113.0/24')), '$.network.adminCidrs', '"203.0.113.0/24"', 'a list of 0 or more items');
    });

    it('fails when an object is a list', () => {
      const error = configError(withChange((c) => (c.network = ['10.2.0.0/16'])));
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^\$\.network: received \["10\.2\.0\.0\/16"\]; allowed: an object with addressSpace, .*adminCidrs$/);
    });

    it('fails when the whole config is not an object', () => {
      const error = configError([]);
      expect(error.problems).toEqual([expect.stringMatching(/^\$: received \[\]; allowed: an object with name, subscriptionId, tenantId/)]);
    });

    it('fails when a tag value is not a string', () => {
      expectOnlyProblem(withChange((c) => (c.tags['cost-center'] = 1234)), '$.tags.cost-center', '1234', 'a string of at most 256 characters');
    });
  });

  describe('bad GUIDs', () => {
    const ALLOWED = 'a GUID such as 00000000-0000-0000-0000-000000000000';

    it('fails when the tenant id is not a GUID', () => {
      expectOnlyProblem(withChange((c) => (c.tenantId = 'contoso.onmicrosoft.com')), '$.tenantId', '"contoso.onmicrosoft.com"', ALLOWED);
    });

    it('fails when an admin object id lacks a group', () => {
      expectOnlyProblem(
        withChange((c) => (c.managedHsm.adminObjectIds = ['aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', 'aaaaaaaa-bbbb-cccc-eeeeeeeeeeee'])),
        '$.managedHsm.adminObjectIds[1]', '"aaaaaaaa-bbbb-cccc-eeeeeeeeeeee"', ALLOWED,
      );
    });

    it('fails when a role assignment principal has a non-hex digit', () => {
      expectOnlyProblem(
        withChange((c) => (c.managedHsm.roleAssignments[1].principalId = 'g9999999-8888-7777-6666-444444444444')),
        '$.managedHsm.roleAssignments[1].principalId', '"g9999999-8888-7777-6666-444444444444"', ALLOWED,
      );
    });
  });

  describe('bad CIDRs', () => {
    const ALLOWED = 'an IPv4 CIDR such as 10.2.0.0/24';

    it.each([
      ['a prefix above 32', '203.0.113.0/33'],
      ['no prefix', '203.0.113.0'],
      ['an octet above 255', '203.0.300.0/24'],
      ['an IPv6 range', '2001:db8::/32'],
    ])('fails when an admin CIDR has %s', (_what, cidr) => {
      expectOnlyProblem(withChange((c) => (c.network.adminCidrs = [cidr])), '$.network.adminCidrs[0]', JSON.stringify(cidr), ALLOWED);
    });

    it('fails when a subnet CIDR is malformed', () => {
      expectOnlyProblem(withChange((c) => (c.network.gatewaySubnetCidr = '10.2.255.0 /26')), '$.network.gatewaySubnetCidr', '"10.2.255.0 /26"', ALLOWED);
    });

    it('fails when the DR address space holds a malformed CIDR', () => {
      expectOnlyProblem(
        withChange((c) => (c.disasterRecovery.addressSpace = ['10.3.0.0/16', '10.4.0/16'])),
        '$.disasterRecovery.addressSpace[1]', '"10.4.0/16"', ALLOWED,
      );
    });
  });

  describe('bad IP addresses', () => {
    const ALLOWED = 'an IPv4 address such as 10.2.1.8';

    it('fails when the Dedicated HSM IP has an octet above 255', () => {
      expectOnlyProblem(withChange((c) => (c.dedicatedHsm.privateIpAddress = '10.2.1.256')), '$.dedicatedHsm.privateIpAddress', '"10.2.1.256"', ALLOWED);
    });

    it('fails when a firewall client IP carries a prefix', () => {
      expectOnlyProblem(withChange((c) => (c.firewallClients[0].ip = '10.2.0.20/32')), '$.firewallClients[0].ip', '"10.2.0.20/32"', ALLOWED);
    });

    it('fails when an HA pair IP has a leading zero', () => {
      expectOnlyProblem(
        withChange((c) => {
          delete c.dedicatedHsm.privateIpAddress;
          delete c.dedicatedHsm.stampId;
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.1.09'];
        }),
        '$.dedicatedHsm.haPairPrivateIpAddresses[1]', '"10.2.1.09"', ALLOWED,
      );
    });

    it('fails when an HA pair has three IPs', () => {
      expectOnlyProblem(
        withChange((c) => {
          delete c.dedicatedHsm.privateIpAddress;
          delete c.dedicatedHsm.stampId;
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.1.9', '10.2.1.10'];
        }),
        '$.dedicatedHsm.haPairPrivateIpAddresses', '["10.2.1.8","10.2.1.9","10.2.1.10"]', 'a list of 2-2 items',
      );
    });
  });

  describe('out-of-range numbers', () => {
    it.each([6, 91, 0, -1, 30.5])('fails when softDeleteRetentionDays is %p', (days) => {
      expectOnlyProblem(
        withChange((c) => (c.managedHsm.softDeleteRetentionDays = days)),
        '$.managedHsm.softDeleteRetentionDays', String(days), 'a whole number from 7 to 90',
      );
    });

    it('fails when a key size is above 4096', () => {
      expectOnlyProblem(withChange((c) => (c.managedHsm.keys[0].keySize = 8192)), '$.managedHsm.keys[0].keySize', '8192', 'a whole number from 128 to 4096');
    });

    it('fails when the security domain asks for 11 certificates', () => {
      expectOnlyProblem(
        withChange((c) => (c.managedHsm.securityDomain.certificates = 11)),
        '$.managedHsm.securityDomain.certificates', '11', 'a whole number from 3 to 10',
      );
    });

    it('fails when the security domain quorum is 1', () => {
      expectOnlyProblem(withChange((c) => (c.managedHsm.securityDomain.quorum = 1)), '$.managedHsm.securityDomain.quorum', '1', 'a whole number from 2 to 10');
    });
  });

  describe('patterns shared with the constructs', () => {
    it.each(['', '1 hour', '90', 'm'])('fails when a timeout is %j, as the construct would', (value) => {
      expectOnlyProblem(withChange((c) => (c.dedicatedHsm.timeouts = { create: value })), '$.dedicatedHsm.timeouts.create', JSON.stringify(value), 'a duration such as 90m, 2h or 1h30m');
    });

    it('accepts a data action written with Microsoft\'s casing (managedHSM), as the construct does', () => {
      const config = parseEnvironmentConfig(withChange((c) => (c.managedHsm.roleDefinitions = [{ roleName: 'signer', dataActions: ['Microsoft.KeyVault/managedHSM/keys/sign/action'] }])), FILE);
      expect(config.managedHsm?.roleDefinitions?.[0].dataActions).toEqual(['Microsoft.KeyVault/managedHSM/keys/sign/action']);
    });

    it('fails on a role assignment scope the construct refuses', () => {
      expectOnlyProblem(withChange((c) => (c.managedHsm.roleAssignments[0].scope = '/secrets')), '$.managedHsm.roleAssignments[0].scope', '"/secrets"', '"/", "/keys" or "/keys/<key name>"');
    });
  });

  describe('unknown fields', () => {
    it('fails on a typo in a field name, listing the allowed fields', () => {
      // GIVEN softDeleteRetentionDays misspelt: without the check the setting would silently fall back to 90
      const error = configError(
        withChange((c) => {
          delete c.managedHsm.softDeleteRetentionDays;
          c.managedHsm.softDeleteRetentionDay = 7;
        }),
      );
      // THEN
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^\$\.managedHsm\.softDeleteRetentionDay: unknown field; allowed fields: name, adminObjectIds, skuName, softDeleteRetentionDays, /);
      expect(error.problems[0]).toMatch(/; did you mean "softDeleteRetentionDays"\?$/);
    });

    it('suggests the nearest known name for a misspelt field, whatever its case, and none for a name far from all', () => {
      expect(configError(withChange((c) => (c.network.adminCIDRs = []))).problems[0]).toMatch(/^\$\.network\.adminCIDRs: unknown field; .*; did you mean "adminCidrs"\?$/);
      expect(configError(withChange((c) => (c.dedicatedHsm.stampID = 'stamp1'))).problems).toContainEqual(expect.stringMatching(/^\$\.dedicatedHsm\.stampID: .*did you mean "stampId"\?$/));
      expect(configError(withChange((c) => (c.managedHsm.colour = 'blue'))).problems[0]).not.toContain('did you mean');
    });

    it('fails on an unknown field at the top level', () => {
      const error = configError(withChange((c) => (c.subscription = '00000000-0000-0000-0000-000000000000')));
      expect(error.problems).toEqual([expect.stringMatching(/^\$\.subscription: unknown field; allowed fields: name, subscriptionId, /)]);
    });

    it('fails on an unknown field deep in a list', () => {
      const error = configError(withChange((c) => (c.managedHsm.keys[2].rotation.expiresAfter = 'P2Y')));
      expect(error.problems).toEqual([
        '$.managedHsm.keys[2].rotation.expiresAfter: unknown field; allowed fields: expireAfter, timeAfterCreation, timeBeforeExpiry; did you mean "expireAfter"?',
      ]);
    });

    it('fails on a field named like an Object.prototype member', () => {
      const error = configError(withChange((c) => (c.network.constructor = 'oops')));
      expect(error.problems).toEqual([expect.stringMatching(/^\$\.network\.constructor: unknown field/)]);
    });
  });

  describe('missing required fields', () => {
    it.each([
      ['$.tenantId', (c: Json) => delete c.tenantId, 'a GUID such as 00000000-0000-0000-0000-000000000000'],
      ['$.network.adminCidrs', (c: Json) => delete c.network.adminCidrs, 'a list of 0 or more items'],
      ['$.managedHsm.adminObjectIds', (c: Json) => delete c.managedHsm.adminObjectIds, 'a list of 1 or more items'],
      ['$.cipherTrustManager.imageVersion', (c: Json) => delete c.cipherTrustManager.imageVersion, 'a pinned image version such as 2.6.6506'],
      ['$.disasterRecovery.managedHsmName', (c: Json) => delete c.disasterRecovery.managedHsmName, '3-24 letters, digits and hyphens, starting with a letter'],
    ])('fails when %s is missing', (path, change, allowed) => {
      const error = configError(withChange(change));
      expect(error.problems).toEqual([`${path}: missing; allowed: ${allowed}`]);
    });

    it('fails when a list that needs one item is empty', () => {
      expectOnlyProblem(withChange((c) => (c.managedHsm.adminObjectIds = [])), '$.managedHsm.adminObjectIds', '[]', 'a list of 1 or more items');
    });

    it('fails when a required field is null', () => {
      expectOnlyProblem(withChange((c) => (c.location = null)), '$.location', 'null', 'an Azure region name such as westeurope');
    });
  });

  describe('bad enum values', () => {
    it('fails on an unknown Dedicated HSM SKU, listing the SKUs', () => {
      const error = configError(withChange((c) => (c.dedicatedHsm.skuName = 'SafeNet Luna Network HSM A750')));
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(
        /^\$\.dedicatedHsm\.skuName: received "SafeNet Luna Network HSM A750"; allowed: one of "SafeNet Luna Network HSM A790", "payShield10K_LMK1_CPS60", /,
      );
    });

    it('fails on a stamp that does not exist', () => {
      expectOnlyProblem(withChange((c) => (c.dedicatedHsm.stampId = 'stamp3')), '$.dedicatedHsm.stampId', '"stamp3"', 'one of "stamp1", "stamp2"');
    });

    it('fails on a software key type', () => {
      expectOnlyProblem(withChange((c) => (c.managedHsm.keys[0].keyType = 'RSA')), '$.managedHsm.keys[0].keyType', '"RSA"', 'one of "RSA-HSM", "EC-HSM", "oct-HSM"');
    });

    it('fails on a role name in the wrong case', () => {
      const error = configError(withChange((c) => (c.managedHsm.roleAssignments[0].role = 'managed hsm crypto user')));
      expect(error.problems).toEqual([expect.stringMatching(/^\$\.managedHsm\.roleAssignments\[0\]\.role: received "managed hsm crypto user"; allowed: one of "Managed HSM /)]);
    });

    it('fails on an unknown gateway SKU', () => {
      expectOnlyProblem(
        withChange((c) => (c.network.gatewaySku = 'Basic')),
        '$.network.gatewaySku', '"Basic"', 'one of "Standard", "HighPerformance", "UltraPerformance", "ErGw1AZ", "ErGw2AZ", "ErGw3AZ"',
      );
    });
  });

  describe('bad backend', () => {
    const VARIANTS = 'an object whose "type" is one of "local", "azurerm", "cloud"';

    it('fails on an unknown backend type', () => {
      expectOnlyProblem(withChange((c) => (c.backend = { type: 's3', bucket: 'state' })), '$.backend', '{"type":"s3","bucket":"state"}', VARIANTS);
    });

    it('fails on a backend without a type', () => {
      expectOnlyProblem(withChange((c) => (c.backend = { path: 'x.tfstate' })), '$.backend', '{"path":"x.tfstate"}', VARIANTS);
    });

    it('fails on a backend that is a string', () => {
      expectOnlyProblem(withChange((c) => (c.backend = 'local')), '$.backend', '"local"', VARIANTS);
    });

    it('fails on an azurerm backend with an invalid storage account name', () => {
      expectOnlyProblem(
        withChange((c) => (c.backend = { type: 'azurerm', resourceGroupName: 'rg-tfstate', storageAccountName: 'TF_State', containerName: 'tfstate' })),
        '$.backend.storageAccountName', '"TF_State"', '3-24 lowercase letters and digits',
      );
    });

    it('fails on an azurerm backend without a container', () => {
      const error = configError(withChange((c) => (c.backend = { type: 'azurerm', resourceGroupName: 'rg-tfstate', storageAccountName: 'tfstate1234' })));
      expect(error.problems).toEqual(['$.backend.containerName: missing; allowed: 3-63 lowercase letters, digits and single hyphens']);
    });

    it('fails on a field of another variant (a local backend with a storage account)', () => {
      const error = configError(withChange((c) => (c.backend = { type: 'local', storageAccountName: 'tfstate1234' })));
      expect(error.problems).toEqual(['$.backend.storageAccountName: unknown field; allowed fields: type, path']);
    });

    it('fails on a cloud backend without a workspace', () => {
      const error = configError(withChange((c) => (c.backend = { type: 'cloud', organization: 'contoso' })));
      expect(error.problems).toEqual(['$.backend.workspace: missing; allowed: a workspace name: letters, digits, _ or -']);
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Cross-field rules
  // -------------------------------------------------------------------------------------------------------

  describe('cross-field rules', () => {
    it('fails when both privateIpAddress and haPairPrivateIpAddresses are given', () => {
      const error = configError(
        withChange((c) => {
          delete c.dedicatedHsm.stampId;
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.9', '10.2.1.10'];
        }),
      );
      expect(error.problems).toEqual([
        '$.dedicatedHsm: received privateIpAddress and haPairPrivateIpAddresses both or neither; allowed: exactly one of them (both only with haPairFromSingleHsm)',
      ]);
    });

    it('fails when neither privateIpAddress nor haPairPrivateIpAddresses is given', () => {
      const error = configError(withChange((c) => delete c.dedicatedHsm.privateIpAddress));
      expect(error.problems).toEqual([
        '$.dedicatedHsm: received privateIpAddress and haPairPrivateIpAddresses both or neither; allowed: exactly one of them (both only with haPairFromSingleHsm)',
      ]);
    });

    it('fails when stampId and zones are both given', () => {
      const error = configError(withChange((c) => (c.dedicatedHsm.zones = ['1'])));
      expect(error.problems).toEqual(['$.dedicatedHsm.stampId: received both stampId and zones; allowed: one of them']);
    });

    it('fails when an HA pair is given a stampId', () => {
      const error = configError(
        withChange((c) => {
          delete c.dedicatedHsm.privateIpAddress;
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.1.9'];
        }),
      );
      expect(error.problems).toEqual([
        '$.dedicatedHsm.stampId: an HA pair is always placed in stamp1 and stamp2; allowed: no stampId or zones with haPairPrivateIpAddresses (but with haPairFromSingleHsm)',
      ]);
    });

    it('fails when an HA pair grows from a single HSM without the stamp that HSM sits in', () => {
      const error = configError(
        withChange((c) => {
          delete c.dedicatedHsm.stampId;
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.1.9'];
          c.dedicatedHsm.haPairFromSingleHsm = true;
        }),
      );
      expect(error.problems).toEqual([
        '$.dedicatedHsm.stampId: received null; allowed: with haPairFromSingleHsm, the stamp the single HSM sits in ("stamp1" or "stamp2"; a zoned HSM cannot join a stamp pair without replacement)',
      ]);
    });

    it('accepts an HA pair grown from a single HSM that keeps its privateIpAddress as the first IP of the pair', () => {
      const config = parseEnvironmentConfig(
        withChange((c) => {
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.1.9'];
          c.dedicatedHsm.haPairFromSingleHsm = true;
        }),
        FILE,
      );
      expect(config.dedicatedHsm).toMatchObject({ privateIpAddress: '10.2.1.8', haPairPrivateIpAddresses: ['10.2.1.8', '10.2.1.9'], stampId: 'stamp1' });
    });

    it('fails when an HA pair grown from a single HSM puts another IP first (the member would be replaced)', () => {
      expectOnlyProblem(
        withChange((c) => {
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.9', '10.2.1.8'];
          c.dedicatedHsm.haPairFromSingleHsm = true;
        }),
        '$.dedicatedHsm.haPairPrivateIpAddresses[0]', '"10.2.1.9"', 'with haPairFromSingleHsm, the single HSM\'s privateIpAddress ("10.2.1.8"): the first member is that HSM, and a new IP would replace it',
      );
    });

    it('fails when an HA pair grown from a single HSM does not say which IP that HSM has', () => {
      expectOnlyProblem(
        withChange((c) => {
          delete c.dedicatedHsm.privateIpAddress;
          c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.1.9'];
          c.dedicatedHsm.haPairFromSingleHsm = true;
        }),
        '$.dedicatedHsm.privateIpAddress', 'nothing', 'with haPairFromSingleHsm, the single HSM\'s IP, kept from before (it must equal haPairPrivateIpAddresses[0])',
      );
    });

    it('fails when haPairFromSingleHsm is set on a single HSM', () => {
      const error = configError(withChange((c) => (c.dedicatedHsm.haPairFromSingleHsm = true)));
      expect(error.problems).toEqual(['$.dedicatedHsm.haPairFromSingleHsm: received true without haPairPrivateIpAddresses; allowed: only for an HA pair']);
    });

    it.each<[string, (c: Json) => void, string, string]>([
      ['a VM and an HA member', (c) => { delete c.dedicatedHsm.privateIpAddress; delete c.dedicatedHsm.stampId; c.network.hsmSubnetCidr = '10.2.0.0/24'; c.network.computeSubnetCidr = '10.2.1.0/24'; c.dedicatedHsm.haPairPrivateIpAddresses = ['10.2.1.8', '10.2.0.10']; }, '$.cipherTrustManager.privateIpAddress', '$.dedicatedHsm.haPairPrivateIpAddresses[1]'],
      ['two VMs', (c) => (c.lunaClientHost.privateIpAddress = '10.2.0.10'), '$.lunaClientHost.privateIpAddress', '$.cipherTrustManager.privateIpAddress'],
      ['the private endpoint and a VM', (c) => (c.managedHsm.privateEndpointIpAddress = '10.2.0.11'), '$.managedHsm.privateEndpointIpAddress', '$.lunaClientHost.privateIpAddress'],
      ['the Dedicated HSM and a firewall client', (c) => (c.firewallClients[0].ip = '10.2.1.8'), '$.firewallClients[0].ip', '$.dedicatedHsm.privateIpAddress'],
    ])('fails when %s share a private IP, naming both JSON paths', (_what, change, second, first) => {
      const error = configError(withChange(change));
      expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^${second.replace(/[$.[\]]/g, '\\$&')}: received "[\\d.]+", already used by ${first.replace(/[$.[\]]/g, '\\$&')}; allowed: a private IP no other VM, HSM or endpoint of the environment uses$`))]);
    });

    it('fails when the quorum is larger than the number of certificates', () => {
      expectOnlyProblem(
        withChange((c) => (c.managedHsm.securityDomain = { certificates: 3, quorum: 4 })),
        '$.managedHsm.securityDomain.quorum', '4', 'at most certificates (3)',
      );
    });

    it('accepts a quorum equal to the number of certificates', () => {
      expect(() => parseEnvironmentConfig(withChange((c) => (c.managedHsm.securityDomain = { certificates: 3, quorum: 3 })), FILE)).not.toThrow();
    });

    it('fails when disaster recovery is configured without a Managed HSM', () => {
      const error = configError(withChange((c) => delete c.managedHsm));
      expect(error.problems).toEqual(['$.disasterRecovery: needs $.managedHsm (the DR stack recovers its security domain)']);
    });

    it('fails when disaster recovery is in the primary region', () => {
      expectOnlyProblem(
        withChange((c) => (c.disasterRecovery.location = 'westeurope')),
        '$.disasterRecovery.location', '"westeurope"', "a region other than the primary's",
      );
    });
  });

  // -------------------------------------------------------------------------------------------------------
  // Several problems, files
  // -------------------------------------------------------------------------------------------------------

  describe('several problems', () => {
    it('reports every problem of the file together', () => {
      // GIVEN three unrelated mistakes
      const data = withChange((c) => {
        c.tenantId = 'not-a-guid';
        c.network.adminCidrs = ['203.0.113.0/24', '0.0.0.0/-1'];
        c.managedHsm.softDeleteRetentionDays = 365;
        c.lunaClientHost.adminPasword = 'x';
      });
      // WHEN
      const error = configError(data);
      // THEN each is reported, in one error, one line each
      expect(error.problems).toEqual([
        '$.tenantId: received "not-a-guid"; allowed: a GUID such as 00000000-0000-0000-0000-000000000000',
        '$.network.adminCidrs[1]: received "0.0.0.0/-1"; allowed: an IPv4 CIDR such as 10.2.0.0/24',
        '$.managedHsm.softDeleteRetentionDays: received 365; allowed: a whole number from 7 to 90',
        expect.stringMatching(/^\$\.lunaClientHost\.adminPasword: unknown field; allowed fields: /),
      ]);
      expect(error.message.split('\n')).toHaveLength(5);
    });

    it('never echoes the value of an unknown field (it may be a secret)', () => {
      const error = configError(withChange((c) => (c.lunaClientHost.adminPasword = 'Sup3r-Secret!')));
      expect(error.message).not.toContain('Sup3r-Secret!');
    });

    it('reports several cross-field problems together', () => {
      const error = configError(
        withChange((c) => {
          c.dedicatedHsm.zones = ['2'];
          c.managedHsm.securityDomain = { certificates: 3, quorum: 5 };
          c.disasterRecovery.location = c.location;
        }),
      );
      expect(error.problems.map((p) => p.split(':')[0])).toEqual(['$.dedicatedHsm.stampId', '$.managedHsm.securityDomain.quorum', '$.disasterRecovery.location']);
    });
  });

  describe('files', () => {
    it('names the file in every error', () => {
      const file = join(tmp, 'dev.json');
      writeFileSync(file, JSON.stringify(withChange((c) => (c.tenantId = 'x'))));
      expect(() => loadEnvironmentConfig(file)).toThrow(`${file}: invalid environment config:\n  $.tenantId: received "x"`);
    });

    it('fails with a clear error when the file does not exist', () => {
      const file = join(tmp, 'missing.json');
      const error = loadError(file);
      expect(error.problems).toEqual(['cannot read the file (ENOENT)']);
      expect(error.message).toBe(`${file}: invalid environment config:\n  cannot read the file (ENOENT)`);
    });

    it('fails with a clear error when the path is a directory', () => {
      const dir = join(tmp, 'dir.json');
      mkdirSync(dir);
      expect(loadError(dir).problems).toEqual(['cannot read the file (EISDIR)']);
    });

    // Unreadable files that stay unreadable for root too (CI runs as root, and root ignores mode 0000).
    it('fails with a clear error when the path cannot be opened: a symbolic link loop, a file used as a folder', () => {
      const loop = join(tmp, 'loop.json');
      symlinkSync(loop, loop);
      expect(loadError(loop).problems).toEqual(['cannot read the file (ELOOP)']);
      const file = join(tmp, 'plain.json');
      writeFileSync(file, EXAMPLE_TEXT);
      expect(loadError(join(file, 'example.json')).problems).toEqual(['cannot read the file (ENOTDIR)']);
    });

    it('fails with a clear error on invalid JSON', () => {
      const file = join(tmp, 'broken.json');
      writeFileSync(file, EXAMPLE_TEXT.replace('"westeurope",', '"westeurope"'));
      const error = loadError(file);
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^not valid JSON: .*(position|line|column)/);
      expect(error.message.startsWith(`${file}: invalid environment config:`)).toBe(true);
    });

    it('fails with a clear error on an empty file', () => {
      const file = join(tmp, 'empty.json');
      writeFileSync(file, '');
      expect(loadError(file).problems).toEqual([expect.stringMatching(/^not valid JSON: /)]);
    });

    function loadError(file: string): ConfigError {
      try {
        loadEnvironmentConfig(file);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return err as ConfigError;
      }
      throw new Error('expected a ConfigError');
    }
  });

  // -------------------------------------------------------------------------------------------------------
  // Policy acknowledgements (checked when the app is built)
  // -------------------------------------------------------------------------------------------------------

  describe('policyAcknowledgements', () => {
    const ack = (construct: string) => ({ construct, ruleId: 'HSM-MHSM-001', reason: 'test environment, torn down nightly' });

    it('fails in buildApp when the construct path names no construct', () => {
      // GIVEN a schema-valid config whose acknowledgement names a construct that does not exist
      const config = parseEnvironmentConfig(withChange((c) => (c.policyAcknowledgements = [ack('ManagedHsm'), ack('ManagedHSM')])), FILE);
      // WHEN / THEN
      let error: unknown;
      try {
        buildApp(config, join(tmp, 'out'));
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        '$.policyAcknowledgements[1].construct: received "ManagedHSM"; allowed: a construct path in the stacks, e.g. ManagedHsm',
      ]);
      // The file the config was parsed from, not config/<name>.json.
      expect((error as ConfigError).message.startsWith(`${FILE}: invalid environment config:`)).toBe(true);
      expect((error as ConfigError).message).not.toContain('config/example.json');
    });

    it('names the file actually loaded (HSM_CONFIG may point anywhere) in errors found after the schema step', () => {
      const file = join(tmp, 'elsewhere.json');
      writeFileSync(file, JSON.stringify(withChange((c) => (c.policyAcknowledgements = [ack('NoSuchConstruct')]))));
      expect(() => buildApp(loadEnvironmentConfig(file), join(tmp, 'out'))).toThrow(`${file}: invalid environment config:\n  $.policyAcknowledgements[0].construct`);
    });

    it('fails in buildApp when a nested path breaks off', () => {
      const config = parseEnvironmentConfig(withChange((c) => (c.policyAcknowledgements = [ack('Network/NoSuchThing')])), FILE);
      expect(() => buildApp(config, join(tmp, 'out'))).toThrow(
        '$.policyAcknowledgements[0].construct: received "Network/NoSuchThing"; allowed: a construct path in the stacks',
      );
    });

    it('fails in the schema when the construct path has characters a path cannot have', () => {
      expectOnlyProblem(
        withChange((c) => (c.policyAcknowledgements = [ack('Managed Hsm')])),
        '$.policyAcknowledgements[0].construct', '"Managed Hsm"', 'a construct path inside the stack, e.g. ManagedHsm',
      );
    });

    it('fails in the schema on a malformed rule id and a short reason', () => {
      const error = configError(withChange((c) => (c.policyAcknowledgements = [{ construct: 'ManagedHsm', ruleId: 'MHSM-001', reason: 'test' }])));
      expect(error.problems).toEqual([
        `$.policyAcknowledgements[0].ruleId: received "MHSM-001"; allowed: one of ${POLICY_RULES.map((r) => `"${r.id}"`).join(', ')}`,
        '$.policyAcknowledgements[0].reason: received "test"; allowed: a reason of at least 10 characters',
      ]);
    });

    it('acknowledges the rule on the named construct of every stack that has it', () => {
      // GIVEN purge protection off, acknowledged for ManagedHsm (present in the primary and the DR stack)
      const config: EnvironmentConfig = parseEnvironmentConfig(
        withChange((c) => {
          c.managedHsm.dangerouslyDisablePurgeProtection = true;
          c.policyAcknowledgements = [ack('ManagedHsm')];
        }),
        FILE,
      );
      // WHEN
      const { environment, disasterRecovery } = buildApp(config, join(tmp, 'out'));
      // THEN both HSMs carry the acknowledgement and the policy waives the rule there
      for (const stack of [environment, disasterRecovery!]) {
        expect(openViolations(evaluatePolicy(stack))).toEqual([]);
        const hsm = stack.node.findChild('ManagedHsm');
        expect(hsm.node.metadata.filter((m) => m.type === 'azure-hsm-cdktf:policy-acknowledgement').map((m) => m.data)).toEqual([
          { ruleId: 'HSM-MHSM-001', reason: 'test environment, torn down nightly' },
        ]);
      }
    });
  });
});
