import * as fs from 'fs';
import * as path from 'path';
import { forkLunaAppliance } from '../../../simulator/luna/fork';
import { ssh, tempDir } from './helpers';

/** Two appliances side by side, each in its own process with its own token folder (as the ARM plane runs them). */
describe('forkLunaAppliance', () => {
  test('runs appliances in child processes, each reachable over SSH with its own identity', async () => {
    const dir = tempDir('luna-fork-');
    const [a, b] = await Promise.all([
      forkLunaAppliance({ stateDir: path.join(dir, 'a'), ip: '10.0.2.4' }),
      forkLunaAppliance({ stateDir: path.join(dir, 'b'), ip: '10.0.2.5' }),
    ]);
    try {
      expect(a.pid).not.toBe(b.pid);
      expect(a.serverCertPem).not.toBe(b.serverCertPem);
      const [ra, rb] = await Promise.all([ssh(a.sshPort, 'PASSWORD', 'hsm show'), ssh(b.sshPort, 'PASSWORD', 'hsm show')]);
      expect(ra.stdout).toContain('Password change required');
      expect(rb.stdout).toContain('Password change required');
    } finally {
      await Promise.all([a.close(), b.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(() => process.kill(a.pid, 0)).toThrow();
  });
});
