import * as fs from 'fs';

/**
 * Test-only fault points for crash tests (kill -9 at a known step). With MHSM_SIM_FAULT="<point>=<marker file>"
 * in the simulator's environment, reaching <point> writes the marker file and parks that operation forever,
 * so the test can kill the process exactly there. Unset (always, outside crash tests) it does nothing.
 * Points: sd-upload-before-commit, restore-before-commit, backup-before-manifest, purge-before-records (a Managed HSM
 * purge, its token emptied, its records not yet dropped); for the Luna appliance (simulator/luna/appliance.ts):
 * luna-zeroize-before-erase (the PO lockout's zeroize recorded, the token not yet erased) and
 * luna-adopt-before-commit (an HA clone's token files taken, its roles not yet recorded).
 */
export async function faultPoint(point: string): Promise<void> {
  const spec = process.env.MHSM_SIM_FAULT;
  if (!spec) return;
  const eq = spec.indexOf('=');
  if (eq === -1 || spec.slice(0, eq) !== point) return;
  fs.writeFileSync(spec.slice(eq + 1), point);
  await new Promise<never>(() => undefined);
}
