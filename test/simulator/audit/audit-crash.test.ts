import * as fs from 'fs';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { ContainerClient } from '@azure/storage-blob';
import { Harness, CRYPTO_USER, httpsRequest } from '../harness';
import { startSimulatorProcess } from '../simulator-process';
import { startSimulator } from '../../../simulator';
import { startAzurite } from '../../../simulator/storage/azurite';
import { AUDIT_CONTAINER } from '../../../formats/audit-event';
import { AuditLog } from '../../../simulator/audit/audit-log';
import { readAuditEvents } from '../../../scripts/audit/audit-reader';

describe('AuditEvent trail across crashes', () => {
  test('kill -9 under load loses no answered request\'s record, and delivery after the restart duplicates none', async () => {
    const dir = Harness.tempDir('audit-crash-');
    const adminId = randomUUID();
    const specFile = path.join(dir, 'hsms.json');
    fs.writeFileSync(specFile, JSON.stringify([{ name: 'hsm1', administrators: [adminId] }]));
    const stateDir = path.join(dir, 'state');
    const az = await startAzurite({ location: path.join(dir, 'azurite') });
    const storage = await az.containerSas(AUDIT_CONTAINER);
    const { child, endpoints: e } = await startSimulatorProcess(stateDir, specFile);
    try {
      const ca = fs.readFileSync(e.caCertificate, 'utf8');
      const mgmt = fs.readFileSync(e.managementTokenFile, 'utf8').trim();
      expect((await httpsRequest(e.authorityHost, ca, 'POST', '/_simulator/managedHsms/hsm1/activate', '', mgmt)).status).toBe(200);
      // Records are delivered to Azurite while the load runs, so the crash also interrupts delivery.
      const dest = await httpsRequest(e.authorityHost, ca, 'PUT', '/_simulator/audit/destination', JSON.stringify({ containerUrl: storage.containerUri, sas: storage.sas }), mgmt);
      expect(dest.status).toBe(200);
      expect(JSON.stringify(dest.body)).not.toContain(storage.sas);
      const secret = fs.readFileSync(e.principals[0].secretFile, 'utf8').trim();
      const form = `grant_type=client_credentials&client_id=${adminId}&client_secret=${encodeURIComponent(secret)}&scope=${encodeURIComponent('https://managedhsm.azure.net/.default')}`;
      const token = (await httpsRequest(e.authorityHost, ca, 'POST', `/${e.tenantId}/oauth2/v2.0/token`, form, undefined, { 'content-type': 'application/x-www-form-urlencoded' })).body.access_token as string;
      const hsm = e.managedHsms[0].hsmUri as string;
      const put = await httpsRequest(hsm, ca, 'PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?api-version=7.4`, JSON.stringify({ properties: { roleDefinitionId: CRYPTO_USER, principalId: adminId } }), token);
      expect(put.status).toBe(201);

      const acked = new Set<string>();
      const sent = new Set<string>();
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const id = randomUUID();
          sent.add(id);
          try {
            const r = await httpsRequest(hsm, ca, 'POST', '/rng?api-version=7.4', JSON.stringify({ count: 8 }), token, { 'x-ms-client-request-id': id });
            if (r.status === 200) acked.add(id);
          } catch {
            return; // the process is gone
          }
        }
      };
      const workers = Array.from({ length: 8 }, () => worker());
      while (acked.size < 150) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      await new Promise((r) => (child.exitCode !== null || child.signalCode ? r(null) : child.once('exit', r)));

      const sim = await startSimulator({ stateDir, logger: { info: () => undefined, error: () => undefined } });
      try {
        sim.audit.deliverTo({ containerUrl: storage.containerUri, sas: storage.sas });
        await sim.audit.flush();
      } finally {
        await sim.close();
      }
      const { events, unreadable } = await readAuditEvents(new ContainerClient(`${storage.containerUri}?${storage.sas}`), { operation: 'GetRandomBytes' });
      expect(unreadable).toBe(0);
      const ids = events.map((x) => x.correlationId);
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of acked) expect(ids).toContain(id);
      for (const id of ids) expect(sent.has(id)).toBe(true);
    } finally {
      if (child.exitCode === null && !child.signalCode) child.kill('SIGKILL');
      await az.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a line torn by a crash is cut when the log reopens, and the next record starts on its own line', async () => {
    const dir = Harness.tempDir('audit-log-');
    const name = 'resourceId=/SUBSCRIPTIONS/X/RESOURCEGROUPS/Y/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/Z/y=2030/m=01/d=02/h=03/m=00/PT1H.json';
    const log = new AuditLog(path.join(dir, 'audit'));
    await Promise.all([log.append(name, { n: 1 }), log.append(name, { n: 2 })]);
    await log.close();
    const file = log.pathOf(name);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.appendFileSync(file, '{"n":3,"unfinish');
    const again = new AuditLog(path.join(dir, 'audit'));
    await again.append(name, { n: 4 });
    await again.close();
    expect(fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).n)).toEqual([1, 2, 4]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
