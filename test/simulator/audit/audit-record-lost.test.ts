import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AuditTrail } from '../../../simulator/audit/audit-trail';
import { AuditEvent } from '../../../formats/audit-event';

describe('an AuditEvent record that cannot be written', () => {
  test('does not fail the request it records: it is counted and logged with the operation and the answer given', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-lost-'));
    const errors: string[] = [];
    const trail = new AuditTrail(dir, { info: () => undefined, error: (m) => errors.push(m) });
    try {
      // The audit folder replaced by a file: every append fails (ENOTDIR), as on a failing disk.
      fs.rmSync(path.join(dir, 'audit'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'audit'), '');
      const record = { resourceId: '/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/H', time: new Date().toISOString(), operationName: 'KeyCreate', correlationId: 'c-1', httpStatusCode: 200 } as AuditEvent;
      expect(() => trail.record(record)).not.toThrow();
      expect(trail.lost).toBe(1);
      expect(errors).toEqual([expect.stringMatching(/^audit: the record of KeyCreate \(correlation c-1, answered 200\) could not be written: .*ENOTDIR/)]);
    } finally {
      await trail.close().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
