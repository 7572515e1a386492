import * as path from 'path';
import { execFile } from 'child_process';
import { createPublicKey, verify } from 'crypto';
import { Harness, CRYPTO_USER } from './harness';

/**
 * Debian's Python Azure SDK (python3-azure, the client of Debian's azure-cli) against the simulator: it sends
 * api-version 7.4-preview.1 and kty "RSA", and reads settings and starts backups with its own clients.
 */
describe("Debian's Python Azure SDK against the Managed HSM simulator", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
    await h.assignRole(h.admin.objectId, CRYPTO_USER);
  });
  afterAll(() => h.close());

  test('creates an RSA key, signs with it, lists no versions of a missing key, reads a setting; a bad SAS is refused at once', async () => {
    const script = path.join(__dirname, 'python', 'debian_sdk_client.py');
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: h.dir,
      HSM_URL: h.hsmUri,
      AUTHORITY: h.sim.authorityHost,
      TENANT_ID: h.sim.tenantId,
      CLIENT_ID: h.admin.objectId,
      CLIENT_SECRET: h.admin.secret,
      REQUESTS_CA_BUNDLE: h.sim.caCertPath,
      PYTHONDONTWRITEBYTECODE: '1',
    };
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile('/usr/bin/python3', [script], { env, timeout: 120_000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out))),
    );
    const r = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(r.api_version).toBe('7.4-preview.1');
    expect(r.kty).toBe('RSA-HSM');
    const pub = createPublicKey({ key: { kty: 'RSA', n: Buffer.from(r.n, 'hex').toString('base64url'), e: Buffer.from(r.e, 'hex').toString('base64url') }, format: 'jwk' });
    expect(verify('sha256', Buffer.from('from python'), pub, Buffer.from(r.signature, 'hex'))).toBe(true);
    expect(r.missing_versions).toBe(0);
    expect(r.setting).toBe('false');
    expect(r.bad_sas).toEqual({ status: 400, message: expect.stringContaining('The customer provided SAS token is malformed') });
    expect(h.sim.managedHsm('hsm1').backups.jobs()).toEqual([]);
  });
});
