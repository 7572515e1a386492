import * as fs from 'fs';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { Harness } from '../simulator/harness';
import { kill9, startSimulatorProcess } from '../simulator/simulator-process';
import { hsmctl } from '../hsmctl-in-process';

/**
 * A --simulator folder whose simulator is not running is named as such, with the command that starts it,
 * before any request is tried: against a closed port a token request would wait and fail with an MSAL error.
 */
describe('hsmctl against a simulator folder with no simulator running', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  test('GIVEN a simulator killed with SIGKILL (endpoints.json left behind) THEN every target command says it is not running and how to start it (exit 1)', async () => {
    const dir = Harness.tempDir('sim-killed-');
    dirs.push(dir);
    const instances = path.join(dir, '..', `${path.basename(dir)}-instances.json`);
    fs.writeFileSync(instances, JSON.stringify([{ name: 'hsm1', administrators: [randomUUID()] }]));
    const { child, endpoints } = await startSimulatorProcess(dir, instances);
    const pid = endpoints.pid;
    expect(pid).toBe(child.pid);
    await kill9(child);
    fs.rmSync(instances, { force: true });

    for (const args of [['keys', 'list'], ['status'], ['roles', 'list'], ['sd', 'activate', '--out', path.join(dir, 'sd')]]) {
      const r = await hsmctl([...args, '--simulator', dir, ...(args[0] === 'status' ? [] : ['--hsm', 'hsm1'])]);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`hsmctl ${args.slice(0, args[0] === 'status' ? 1 : 2).join(' ')}: error: the simulator in ${dir} is not running (its process ${pid} is gone; endpoints.json is left from that run); start it with: npx hsmctl simulator start --state-dir ${dir}`);
    }
    expect(fs.existsSync(path.join(dir, 'sd'))).toBe(false);
  });

  test('GIVEN a simulator stopped cleanly THEN it is reported stopped, with the command that starts it (exit 1)', async () => {
    const h = await Harness.start();
    await h.sim.close();
    dirs.push(h.dir);
    expect(fs.existsSync(path.join(h.dir, 'endpoints.json'))).toBe(false);
    const r = await hsmctl(['keys', 'list', '--simulator', h.dir, '--hsm', 'hsm1']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the simulator in .* is not running \(it was stopped\); start it with: npx hsmctl simulator start --state-dir /);
  });

  test('GIVEN a folder that never held a simulator THEN it says so (exit 1)', async () => {
    const dir = Harness.tempDir('not-a-sim-');
    dirs.push(dir);
    const r = await hsmctl(['status', '--simulator', dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/holds no simulator \(no endpoints\.json\); start one with: npx hsmctl simulator start --state-dir /);
  });
});
