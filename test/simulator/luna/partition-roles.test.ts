import * as fs from 'fs';
import * as path from 'path';
import { LunaApplianceHandle, startLunaAppliance } from '../../../simulator/luna';
import { MAX_FAILED_ROLE_LOGINS } from '../../../simulator/luna/partition-roles';
import { makeClientCert, pkcs11Tool, run, tempDir, writeBundle } from './helpers';

const HSMCTL = path.resolve(__dirname, '..', '..', '..', 'scripts', 'hsmctl.js');

/**
 * Partition roles enforced at the appliance, driven by pkcs11-tool over NTLS as lunacm would drive them:
 * partition init (PO), role init co (C_InitPIN as PO), role init cu (C_InitPIN as CO), logins as each role.
 */
describe('Luna partition roles over NTLS', () => {
  const PO = 'po-Passw0rd';
  const CO = 'co-Passw0rd';
  const CU = 'cu-Passw0rd';
  let dir: string;
  let h: LunaApplianceHandle;
  let bundle: string;
  const tool = (...args: string[]) => pkcs11Tool(bundle, args);

  beforeAll(async () => {
    dir = tempDir('luna-roles-');
    h = await startLunaAppliance({ stateDir: path.join(dir, 'state'), ip: '10.0.2.4' });
    await h.appliance.initHsm('LunaHSM', 'mystrongpassword', 'domain1');
    await h.appliance.createPartition('p1');
    const cert = await makeClientCert(dir, '10.0.1.5');
    await h.appliance.writeFile('10.0.1.5.pem', Buffer.from(cert.certPem));
    await h.appliance.registerClient('cm1', { ip: '10.0.1.5' });
    await h.appliance.assignPartition('cm1', 'p1');
    bundle = writeBundle(path.join(dir, 'b1'), h, { name: 'cm1', ...cert }, 'p1');
  });

  afterAll(async () => {
    await h?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('refuses crypto before the Crypto Officer is initialised', async () => {
    const gen = await tool('--login', '--pin', CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'early');
    expect(gen.code).not.toBe(0);
    expect(gen.stderr).toContain('CKR_USER_PIN_NOT_INITIALIZED');
    expect((await tool('--init-token', '--label', 'ctm', '--so-pin', PO)).code).toBe(0);
    expect(h.appliance.partition('p1')!.roles).toMatchObject({ label: 'ctm' });
    // The PO is no Crypto Officer: its login cannot make keys either.
    const asPo = await tool('--login', '--login-type', 'so', '--so-pin', PO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'po-key');
    expect(asPo.code).not.toBe(0);
    expect(asPo.stderr).toContain('CKR_USER_PIN_NOT_INITIALIZED');
    // A second partition init is refused, the first PO password stays.
    expect((await tool('--init-token', '--label', 'other', '--so-pin', 'another-Passw0rd')).code).not.toBe(0);
    expect(h.appliance.partition('p1')!.roles!.label).toBe('ctm');
  });

  test('the CO creates and destroys objects; the CU only uses them', async () => {
    expect((await tool('--login', '--login-type', 'so', '--so-pin', PO, '--init-pin', '--new-pin', CO)).code).toBe(0);
    expect((await tool('--login', '--pin', CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'k1', '--id', '01')).code).toBe(0);
    // role init -name cu: by the CO (C_InitPIN in a CO session), as hsmctl luna partition-init does it
    // (pkcs11-tool would reuse --pin as the new PIN).
    const init = await run('node', [HSMCTL, 'luna', 'partition-init', '--bundle', bundle, '--label', 'ctm', '--po-password-env', 'PO', '--co-password-env', 'CO', '--cu-password-env', 'CU'], {
      env: { PO, CO, CU },
    });
    expect(init.stderr).toBe('');
    expect(init.stdout).toContain('initialised the Crypto User');
    expect(init.stdout + init.stderr).not.toContain(CO);

    const cuGen = await tool('--login', '--pin', CU, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'k2');
    expect(cuGen.code).not.toBe(0);
    expect(cuGen.stderr).toMatch(/CKR_ACTION_PROHIBITED|0x1b|0x0000001b/i);
    const cuDel = await tool('--login', '--pin', CU, '--delete-object', '--type', 'privkey', '--id', '01');
    expect(cuDel.code).not.toBe(0);
    const data = path.join(dir, 'd');
    fs.writeFileSync(data, Buffer.alloc(32, 7));
    const cuSign = await tool('--login', '--pin', CU, '--sign', '-m', 'ECDSA', '--id', '01', '-i', data, '-o', path.join(dir, 'sig'));
    expect(cuSign.code).toBe(0);
    const listed = await tool('--login', '--pin', CU, '--list-objects', '--type', 'privkey');
    expect(listed.stdout).toMatch(/label:\s+k1/);
    expect(listed.stdout).not.toMatch(/label:\s+k2/);

    expect((await tool('--login', '--pin', CO, '--delete-object', '--type', 'privkey', '--id', '01')).code).toBe(0);
    expect((await tool('--login', '--pin', CO, '--list-objects', '--type', 'privkey')).stdout).not.toMatch(/label:\s+k1/);
  });

  test('refuses object writes to a session without a login, public objects included', async () => {
    expect((await tool('--login', '--pin', CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'pub1', '--id', '02')).code).toBe(0);
    // SoftHSM2 alone lets a R/W public session destroy a public object: the gate refuses it without a login.
    const del = await tool('--delete-object', '--type', 'pubkey', '--id', '02');
    expect(del.code).not.toBe(0);
    expect(del.stderr).toContain('CKR_USER_NOT_LOGGED_IN');
    const file = path.join(dir, 'public-data');
    fs.writeFileSync(file, 'not the CO\'s');
    const write = await tool('--write-object', file, '--type', 'data', '--label', 'planted');
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('CKR_USER_NOT_LOGGED_IN');
    const listed = await tool('--login', '--pin', CO, '--list-objects');
    expect(listed.stdout).toMatch(/Public Key Object[^]*label:\s+pub1/);
    expect(listed.stdout).not.toContain('planted');
  });

  test('refuses a Crypto User password change that would make it the Crypto Officer\'s; both logins still work', async () => {
    const change = await tool('--login', '--pin', CU, '--change-pin', '--new-pin', CO);
    expect(change.code).not.toBe(0);
    expect(change.stderr).toContain('CKR_PIN_INVALID');
    // CO's password still logs in the CO (it would be taken for the CU's if both were equal) and the CU's the CU.
    expect((await tool('--login', '--pin', CO, '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'still-co')).code).toBe(0);
    expect((await tool('--login', '--pin', CU, '--delete-object', '--type', 'privkey', '--label', 'still-co')).stderr).toMatch(/CKR_ACTION_PROHIBITED|\(0x1b\)/);
    // A password different from the other role's is taken.
    expect((await tool('--login', '--pin', CU, '--change-pin', '--new-pin', 'cu-Passw0rd-2')).code).toBe(0);
    expect((await tool('--login', '--pin', 'cu-Passw0rd-2', '--list-objects')).code).toBe(0);
    expect((await tool('--login', '--pin', 'cu-Passw0rd-2', '--change-pin', '--new-pin', CU)).code).toBe(0);
  });

  test(`locks the Crypto Officer (and the CU) after ${MAX_FAILED_ROLE_LOGINS} wrong passwords; the PO's reset unlocks it`, async () => {
    for (let i = 0; i < MAX_FAILED_ROLE_LOGINS; i++) {
      const r = await tool('--login', '--pin', `wrong-Passw0rd-${i}`, '--list-objects');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(i === MAX_FAILED_ROLE_LOGINS - 1 ? /CKR_PIN_LOCKED/ : /CKR_PIN_INCORRECT/);
    }
    const right = await tool('--login', '--pin', CO, '--list-objects');
    expect(right.code).not.toBe(0);
    expect(right.stderr).toContain('CKR_PIN_LOCKED');
    expect((await tool('--login', '--pin', CU, '--list-objects')).stderr).toContain('CKR_PIN_LOCKED');
    expect((await tool('--login', '--login-type', 'so', '--so-pin', PO, '--init-pin', '--new-pin', 'co-Passw0rd-2')).code).toBe(0);
    expect((await tool('--login', '--pin', 'co-Passw0rd-2', '--list-objects')).code).toBe(0);
  });

  test('wrong PO passwords count too: the tenth zeroizes the partition', async () => {
    expect((await tool('--login', '--pin', 'co-Passw0rd-2', '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'doomed')).code).toBe(0);
    for (let i = 0; i < MAX_FAILED_ROLE_LOGINS; i++) await tool('--login', '--login-type', 'so', '--so-pin', `wrong-Passw0rd-${i}`, '-O');
    expect(h.appliance.partition('p1')!.roles).toBeUndefined();
    expect(await h.appliance.tokens.objects('p1')).toEqual([]);
  });
});
