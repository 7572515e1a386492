import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { hsmctl } from '../hsmctl-in-process';


describe('hsmctl dr-drill', () => {
  test('runs the whole drill against its own simulator and Azurite, reporting every step with its time', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dr-drill-'));
    try {
      const reportFile = path.join(dir, 'report.json');
      const r = await hsmctl(['dr-drill', '--state-dir', dir, '--key-size', '2048', '--report', reportFile]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/dr-drill passed/);
      const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
      expect(report.ok).toBe(true);
      expect(report.steps.map((s: { name: string }) => s.name.split(' ')[0])).toEqual(['start', 'activate', 'create', 'back', 'recover', 'restore', 'verify']);
      for (const s of report.steps) expect(s.ms).toBeGreaterThanOrEqual(0);
      expect(report.versionsChecked).toBe(5);
      const sdDir = path.join(dir, `dr-drill-${report.source}`);
      expect(fs.statSync(path.join(sdDir, 'cert_0.key')).mode & 0o777).toBe(0o600);
      expect(r.out).not.toMatch(/sig=/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('usage errors exit 2 and change nothing', async () => {
    expect((await hsmctl(['dr-drill'])).code).toBe(2);
    expect((await hsmctl(['dr-drill', '--state-dir', 'x', '--simulator', 'y'])).code).toBe(2);
    expect((await hsmctl(['dr-drill', '--state-dir', 'x', '--key-size', '1024'])).code).toBe(2);
    expect((await hsmctl(['sd', 'activate', '--hsm', 'https://x.managedhsm.azure.net', '--key-size', '1024', '--out', 'x'])).code).toBe(2);
    expect((await hsmctl(['sd', 'activate', '--hsm', 'https://x.managedhsm.azure.net', '--certs', '3', '--quorum', '4', '--out', 'x'])).code).toBe(2);
    expect((await hsmctl(['backup', 'start', '--hsm', 'https://x.managedhsm.azure.net', '--storage-url', 'https://a.blob.core.windows.net/c?sv=1'])).code).toBe(2);
    expect(fs.existsSync('x')).toBe(false);
  });
});
