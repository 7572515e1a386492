import * as fs from 'fs';
import * as path from 'path';
import { Harness, httpsRequest } from '../harness';

describe('management API of the audit trail', () => {
  let h: Harness;
  let mgmt: string;
  beforeAll(async () => {
    h = await Harness.start();
    mgmt = fs.readFileSync(h.sim.endpoints().managementTokenFile, 'utf8').trim();
  });
  afterAll(() => h.close());

  const destination = (token: string | undefined) => httpsRequest(h.sim.authorityHost, h.sim.caCert, 'GET', '/_simulator/audit/destination', undefined, token);

  test('GET /_simulator/audit/destination counts the records the disk refused; the request they record was answered', async () => {
    expect(await destination(mgmt)).toMatchObject({ status: 200, body: { lost: 0 } });
    // Where the HSM's hourly folders go, a file: every new record's folder fails (ENOTDIR), as on a failing disk.
    const top = path.join(h.dir, 'audit', 'resourceId=');
    expect(fs.existsSync(top)).toBe(false);
    fs.writeFileSync(top, '');
    const answered = await h.request('GET', '/keys?api-version=7.4');
    expect(answered.status).toBe(403);
    expect(await destination(mgmt)).toMatchObject({ status: 200, body: { lost: 1 } });
    expect((await destination(mgmt)).body.containerUrl).toBeUndefined();
  });

  test('refuses a caller without the management token', async () => {
    expect((await destination(undefined)).status).toBe(401);
    expect((await destination('not-the-token')).body.error.code).toBe('Unauthorized');
  });
});
