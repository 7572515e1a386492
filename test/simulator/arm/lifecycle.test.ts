import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { RestError } from '@azure/core-rest-pipeline';
import { ArmCodes } from '../../../simulator/arm/errors';
import { UnavailableLauncher } from '../../../simulator/arm/launcher';
import { ArmHarness, RG, dedicatedHsm, dedicatedPath, managedBody, managedPath } from './arm-harness';
import { initialiseHsm, sshBanner } from './lunash';

const FAST = { updateIntervalInMs: 10 };

function wire(ip: string): Record<string, unknown> {
  const { networkProfile, stampId, ...rest } = dedicatedHsm(ip);
  return { ...rest, properties: { networkProfile, stampId } };
}

describe('ARM plane: provisioning states, failures and restarts', () => {
  test('a PUT moves through CheckingQuota, Allocating, Connecting, Provisioning to Succeeded, one state per step of the clock; a second PUT meanwhile is refused', async () => {
    // An hour per state: nothing moves unless the test advances the simulator's clock.
    const h = await ArmHarness.start({ arm: { provisioningStepMs: 3_600_000 } });
    try {
      const put = await h.request('PUT', dedicatedPath('hsm-states'), wire('10.0.5.4'));
      expect(put.status).toBe(201);
      expect(put.body.properties.provisioningState).toBe('CheckingQuota');
      expect(put.headers['azure-asyncoperation']).toBeDefined();
      const busy = await h.request('PUT', dedicatedPath('hsm-states'), wire('10.0.5.4'));
      expect([busy.status, busy.body.error.code]).toEqual([409, ArmCodes.AnotherOperationInProgress]);
      const busyDelete = await h.request('DELETE', dedicatedPath('hsm-states'));
      expect([busyDelete.status, busyDelete.body.error.code]).toEqual([409, ArmCodes.AnotherOperationInProgress]);

      const state = async () => (await h.request('GET', dedicatedPath('hsm-states'))).body.properties.provisioningState as string;
      // Just short of a step, nothing changes; each full step moves exactly one state (the advance returns once it has).
      await h.advanceClock(3599);
      const seen = [await state()];
      for (let i = 0; i < 4; i++) {
        await h.advanceClock(i === 0 ? 1 : 3600);
        seen.push(await state());
      }
      expect(seen).toEqual(['CheckingQuota', 'Allocating', 'Connecting', 'Provisioning', 'Succeeded']);
      expect((await h.waitOperation(String(put.headers['azure-asyncoperation']))).status).toBe('Succeeded');
    } finally {
      await h.close();
    }
  });

  test('when no appliance can start, provisioning ends Failed with the reason, the poller throws it, and the resource can be deleted', async () => {
    const h = await ArmHarness.start({ arm: { launcher: new UnavailableLauncher('the test started the simulator without one') } });
    try {
      const ops = h.client.dedicatedHsmOperations;
      let err: unknown;
      try {
        await ops.beginCreateOrUpdateAndWait(RG, 'hsm-nolaunch', dedicatedHsm('10.0.6.4'), FAST);
      } catch (e) {
        err = e;
      }
      expect(String((err as Error)?.message)).toContain('Luna appliance not available');
      const got = await ops.get(RG, 'hsm-nolaunch');
      expect(got.provisioningState).toBe('Failed');
      expect(got.statusMessage).toContain('Luna appliance not available');
      expect(h.sim.endpoints().dedicatedHsms[0]).toMatchObject({ name: 'hsm-nolaunch', provisioningState: 'Failed', sshPort: null });
      await ops.beginDeleteAndWait(RG, 'hsm-nolaunch', FAST);
      const gone = await ops.get(RG, 'hsm-nolaunch').catch((e: RestError) => e);
      expect((gone as RestError).code).toBe(ArmCodes.ResourceNotFound);
    } finally {
      await h.close();
    }
  });

  test('a restart keeps resources, tags, hsmUri and the appliance state, and finishes an operation it interrupted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arm-restart-'));
    const objectId = randomUUID();
    const secret = `s-${randomUUID()}`;
    let h = await ArmHarness.start({ dir, objectId, secret });
    try {
      const ops = h.client.dedicatedHsmOperations;
      await ops.beginCreateOrUpdateAndWait(RG, 'hsm-keep', dedicatedHsm('10.0.7.4'), FAST);
      await ops.beginUpdateAndWait(RG, 'hsm-keep', { tags: { kept: 'yes' }, ...FAST });
      const put = await h.request('PUT', managedPath('mhsm-keep'), managedBody(h.sim.tenantId, [objectId]));
      await h.waitOperation(String(put.headers['azure-asyncoperation']));
      const hsmUri = (await h.request('GET', managedPath('mhsm-keep'))).body.properties.hsmUri;
      const before = h.sim.endpoints().dedicatedHsms[0];
      await initialiseHsm(before.sshPort!, 'Admin#Pass2024', 'SoPass#2024');
      await h.close({ keepDir: true });

      // Interrupted: an operation still in its first state when the simulator stops.
      h = await ArmHarness.start({ dir, objectId, secret, arm: { provisioningStepMs: 3_600_000 } });
      const slow = await h.request('PUT', dedicatedPath('hsm-late'), wire('10.0.7.5'));
      expect(slow.status).toBe(201);
      await h.close({ keepDir: true });

      h = await ArmHarness.start({ dir, objectId, secret });
      const ops2 = h.client.dedicatedHsmOperations;
      const kept = await ops2.get(RG, 'hsm-keep');
      expect(kept.provisioningState).toBe('Succeeded');
      expect(kept.tags).toEqual({ kept: 'yes' });
      const mh = await h.request('GET', managedPath('mhsm-keep'));
      expect(mh.body.properties).toMatchObject({ provisioningState: 'Succeeded', hsmUri });

      // The appliance came back with its state: still initialised, so deleting is refused.
      const after = h.sim.endpoints().dedicatedHsms.find((d) => d.name === 'hsm-keep')!;
      expect(await sshBanner(after.sshPort!)).toMatch(/^SSH-2\.0-/);
      const refused = await h.request('DELETE', dedicatedPath('hsm-keep'));
      expect([refused.status, refused.body.error.code]).toEqual([409, ArmCodes.HsmNotZeroized]);

      // The interrupted operation resumes; its status URL (same path, new port) ends Succeeded.
      const u = new URL(String(slow.headers['azure-asyncoperation']));
      const done = await h.waitOperation(`${h.arm}${u.pathname}${u.search}`);
      expect(done.status).toBe('Succeeded');
      expect((await ops2.get(RG, 'hsm-late')).provisioningState).toBe('Succeeded');
    } finally {
      await h.close();
    }
  });
});
