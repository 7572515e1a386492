import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { OutputsError, dedicatedHsmsOf, managedHsmsOf, readOutputs, selectManagedHsm, subscriptionOf } from '../../scripts/clients/outputs';
import { main } from '../../scripts/cli';

const SUB = '11111111-2222-3333-4444-555555555555';
const RG = `/subscriptions/${SUB}/resourceGroups/rg-hsm-prod`;
const MHSM_ID = `${RG}/providers/Microsoft.KeyVault/managedHSMs/prod-mhsm`;
const DHSM = (n: string) => `${RG}/providers/Microsoft.HardwareSecurityModules/dedicatedHSMs/${n}`;
const tf = (value: unknown, sensitive = false) => ({ sensitive, type: typeof value === 'string' ? 'string' : ['tuple', ['string']], value });

describe('Terraform outputs (--from-outputs)', () => {
  let dir: string;
  const write = (name: string, v: unknown) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, typeof v === 'string' ? v : JSON.stringify(v));
    return f;
  };
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outputs-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('reads `terraform output -json` of one stack (named after the file)', () => {
    const f = write('hsm-prod.json', {
      hsm_uri: tf('https://prod-mhsm.managedhsm.azure.net/'),
      managed_hsm_id: tf(MHSM_ID),
      managed_hsm_name: tf('prod-mhsm'),
      resource_group_name: tf('rg-hsm-prod'),
      vnet_id: tf(`${RG}/providers/Microsoft.Network/virtualNetworks/vnet`),
      dedicated_hsm_ids: tf([DHSM('luna-1'), DHSM('luna-2')]),
      dedicated_hsm_private_ips: tf(['10.2.1.8', '10.2.1.9']),
    });
    const o = readOutputs(f);
    expect(managedHsmsOf(o)).toEqual([{ stack: 'hsm-prod', name: 'prod-mhsm', hsmUri: 'https://prod-mhsm.managedhsm.azure.net/', id: MHSM_ID, resourceGroup: 'rg-hsm-prod' }]);
    expect(dedicatedHsmsOf(o).map((d) => [d.name, d.privateIp, d.resourceGroup])).toEqual([['luna-1', '10.2.1.8', 'rg-hsm-prod'], ['luna-2', '10.2.1.9', 'rg-hsm-prod']]);
    expect(subscriptionOf(o)).toBe(SUB);
  });

  test('reads the cdktf outputs file (every stack) and chooses a Managed HSM by name, URL or stack', () => {
    const f = write('outputs.json', {
      'hsm-prod': { hsm_uri: 'https://prod-mhsm.managedhsm.azure.net', managed_hsm_name: 'prod-mhsm' },
      'hsm-prod-dr': { hsm_uri: 'https://prod-mhsm-dr.managedhsm.azure.net/', managed_hsm_name: 'prod-mhsm-dr' },
    });
    const o = readOutputs(f);
    expect(managedHsmsOf(o).map((m) => [m.stack, m.name, m.hsmUri])).toEqual([
      ['hsm-prod', 'prod-mhsm', 'https://prod-mhsm.managedhsm.azure.net/'],
      ['hsm-prod-dr', 'prod-mhsm-dr', 'https://prod-mhsm-dr.managedhsm.azure.net/'],
    ]);
    expect(() => selectManagedHsm(o)).toThrow(/holds 2 Managed HSMs: choose one with --hsm NAME \(prod-mhsm \(stack hsm-prod\), prod-mhsm-dr/);
    expect(selectManagedHsm(o, 'prod-mhsm-dr').stack).toBe('hsm-prod-dr');
    expect(selectManagedHsm(o, 'https://prod-mhsm.managedhsm.azure.net').name).toBe('prod-mhsm');
    expect(selectManagedHsm(o, 'stack:hsm-prod-dr').name).toBe('prod-mhsm-dr');
    expect(() => selectManagedHsm(o, 'other')).toThrow(/--hsm other: not among the Managed HSMs/);
  });

  test('reads a folder of outputs files, one per stack, and a flat map', () => {
    write('hsm-prod.json', { hsm_uri: tf('https://a.managedhsm.azure.net/'), managed_hsm_name: tf('a') });
    write('hsm-prod-dr.json', { hsm_uri: 'https://b.managedhsm.azure.net/', managed_hsm_name: 'b' });
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    expect(managedHsmsOf(readOutputs(dir)).map((m) => `${m.stack}:${m.name}`)).toEqual(['hsm-prod-dr:b', 'hsm-prod:a']);
  });

  test.each([
    ['a missing file', () => path.join(os.tmpdir(), 'no-such-outputs.json'), /no such file or folder.*terraform output -json/],
    ['not JSON', (w: typeof Function) => w('o.json', '{oops'), /is not JSON/],
    ['an array', (w: any) => w('o.json', [1]), /holds an array, not an object of outputs/],
    ['no outputs', (w: any) => w('o.json', {}), /holds no outputs/],
    ['synthesized JSON', (w: any) => w('o.json', { terraform: {}, resource: {} }), /synthesized Terraform \(cdk.tf.json\)/],
    ['mixed shapes', (w: any) => w('o.json', { hsm_uri: tf('https://a.managedhsm.azure.net/'), other: 'x' }), /mixes `terraform output -json` entries/],
  ])('fails clearly on %s', (_what, make, message) => {
    const f = (make as any)((n: string, v: unknown) => write(n, v));
    expect(() => managedHsmsOf(readOutputs(f))).toThrow(message as RegExp);
    expect(() => readOutputs(f)).toThrow(OutputsError);
  });

  test('fails clearly on an empty folder, a duplicated stack, missing and malformed outputs; never echoes values', () => {
    expect(() => readOutputs(dir)).toThrow(/holds no \*\.json outputs file/);
    write('a.json', { 'hsm-prod': { hsm_uri: 'https://a.managedhsm.azure.net/' } });
    write('b.json', { 'hsm-prod': { hsm_uri: 'https://b.managedhsm.azure.net/' } });
    expect(() => readOutputs(dir)).toThrow(/the stack hsm-prod appears twice/);
    const noUri = write('c.json', { resource_group_name: tf('rg') });
    expect(() => selectManagedHsm(readOutputs(noUri))).toThrow(/no stack has an hsm_uri output/);
    const nameOnly = write('d.json', { managed_hsm_name: tf('x') });
    expect(() => managedHsmsOf(readOutputs(nameOnly))).toThrow(/names a Managed HSM but has no hsm_uri output/);
    const http = write('e.json', { hsm_uri: tf('http://secret-looking-value.example') });
    expect(() => managedHsmsOf(readOutputs(http))).toThrow(/hsm_uri of stack e .* is not an https URL; got a string of \d+ characters/);
    try {
      managedHsmsOf(readOutputs(http));
    } catch (err) {
      expect((err as Error).message).not.toMatch(/secret-looking-value/);
    }
    const unresolved = write('f.json', { hsm_uri: tf('${azurerm_key_vault_managed_hardware_security_module.x.hsm_uri}') });
    expect(() => managedHsmsOf(readOutputs(unresolved))).toThrow(/unresolved Terraform expression/);
    const mismatch = write('g.json', { dedicated_hsm_ids: tf([DHSM('a')]), dedicated_hsm_private_ips: tf(['10.0.0.1', '10.0.0.2']) });
    expect(() => dedicatedHsmsOf(readOutputs(mismatch))).toThrow(/one address per HSM \(got 1 ids, 2 addresses\)/);
    const badIp = write('h.json', { dedicated_hsm_ids: tf([DHSM('a')]), dedicated_hsm_private_ips: tf(['10.0.0.300']) });
    expect(() => dedicatedHsmsOf(readOutputs(badIp))).toThrow(/must be a list of IPv4 addresses/);
  });

  test('sensitive or redacted outputs are never read: asking for one is a clear error', () => {
    const f = write('s.json', { hsm_uri: tf('https://a.managedhsm.azure.net/', true), admin_password: tf('p@ss', true) });
    const o = readOutputs(f);
    expect(JSON.stringify(o)).not.toMatch(/p@ss/);
    expect(() => managedHsmsOf(o)).toThrow(/output hsm_uri of stack s .* is marked sensitive or redacted; hsmctl reads only non-sensitive outputs/);
    const redacted = write('r.json', { 'hsm-prod': { hsm_uri: '<sensitive>' } });
    expect(() => managedHsmsOf(readOutputs(redacted))).toThrow(/marked sensitive or redacted/);
  });

  test('commands take --from-outputs: bad files are usage errors (exit 2) naming the problem', async () => {
    const err: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
    try {
      const f = write('two.json', { a: { hsm_uri: 'https://a.managedhsm.azure.net/' }, b: { hsm_uri: 'https://b.managedhsm.azure.net/' } });
      expect(await main(['backup', 'status', '--from-outputs', f, '--job', 'j1'])).toBe(2);
      expect(err.join('\n')).toMatch(/choose one with --hsm NAME/);
      expect(await main(['keys', 'list', '--from-outputs', path.join(dir, 'missing.json')])).toBe(2);
      expect(await main(['status', '--from-outputs', write('bad.json', '[]')])).toBe(2);
      expect(await main(['sd', 'activate', '--from-outputs', f, '--hsm', 'a', '--principal', 'x', '--out', path.join(dir, 'sd')])).toBe(2);
      expect(fs.existsSync(path.join(dir, 'sd'))).toBe(false);
    } finally {
      spy.mockRestore();
    }
  });
});
