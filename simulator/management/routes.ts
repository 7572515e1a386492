import { Router } from '../http/router';
import { errors } from '../http/errors';
import { managementGuard } from './token-guard';
import { jsonBody, optBool, optInt, optString, optStringArray, reqString } from '../http/validate';
import { InstanceRegistry } from '../managedhsm/registry';
import { Principals } from '../identity/principals';
import { MAX_ADVANCE_SECONDS, SimulatorClock } from '../clock';

/**
 * The test-only management API (as Lowkey Vault keeps one), apart from every data plane and never used by
 * hsmctl's ceremony commands: add principals and instances, mark an instance activated without the
 * security-domain ceremony, and move the simulator's clock forward. Callers present the management token from
 * secrets/management.token (0600).
 */
export function addManagementRoutes(r: Router, deps: { registry: InstanceRegistry; principals: Principals; managementToken: string; clock: SimulatorClock }): void {
  const guard = managementGuard(deps.managementToken);

  r.add('GET', '/_simulator/managedHsms', (ctx) => {
    guard(ctx.headers.authorization);
    return { status: 200, body: { value: deps.registry.list().map((i) => ({ ...i.record(), hsmUri: i.hsmUri })) } };
  });

  r.add('POST', '/_simulator/managedHsms', async (ctx) => {
    guard(ctx.headers.authorization);
    const b = jsonBody(ctx);
    const i = await deps.registry.create({
      name: reqString(b, 'name'),
      administrators: optStringArray(b, 'administrators') ?? [],
      softDeleteRetentionDays: optInt(b, 'softDeleteRetentionDays', 7, 90),
      purgeProtection: optBool(b, 'purgeProtection'),
    });
    return { status: 201, body: { ...i.record(), hsmUri: i.hsmUri } };
  });

  r.add('POST', '/_simulator/managedHsms/:name/activate', async (ctx, p) => {
    guard(ctx.headers.authorization);
    const i = deps.registry.get(p.name);
    if (!i) throw errors.notFound(`No Managed HSM named ${p.name.slice(0, 40)}.`);
    await i.setActivated(true);
    return { status: 200, body: { name: i.name, activated: true } };
  });

  const clockView = () => ({ now: deps.clock.nowIso(), offsetSeconds: Math.floor(deps.clock.offset / 1000) });

  r.add('GET', '/_simulator/clock', (ctx) => {
    guard(ctx.headers.authorization);
    return { status: 200, body: clockView() };
  });

  // Moves simulator time forward by {"seconds": n}; answers once whatever fell due (provisioning steps, purges of
  // soft-deleted keys and HSMs past their retention) has run.
  r.add('POST', '/_simulator/clock/advance', async (ctx) => {
    guard(ctx.headers.authorization);
    const b = jsonBody(ctx);
    const extra = Object.keys(b).filter((k) => k !== 'seconds');
    if (extra.length) throw errors.badParameter(`Unknown propert${extra.length > 1 ? 'ies' : 'y'} ${extra.map((k) => `'${k.slice(0, 40)}'`).join(', ')}: the body is {"seconds": n}.`);
    const seconds = optInt(b, 'seconds', 1, MAX_ADVANCE_SECONDS);
    if (seconds === undefined) throw errors.badParameter(`Property 'seconds' is required: a whole number of seconds from 1 to ${MAX_ADVANCE_SECONDS}; the clock only moves forward.`);
    await deps.clock.advance(seconds);
    return { status: 200, body: clockView() };
  });

  r.add('POST', '/_simulator/principals', async (ctx) => {
    guard(ctx.headers.authorization);
    const b = jsonBody(ctx);
    const objectId = reqString(b, 'objectId');
    const given = optString(b, 'secret');
    try {
      // A generated secret goes to its 0600 file, not into the response.
      await deps.principals.register(objectId, given);
    } catch (err) {
      throw errors.badParameter((err as Error).message);
    }
    return { status: 201, body: { objectId: objectId.toLowerCase(), ...(given ? {} : { secretFile: deps.principals.secretFile(objectId) }) } };
  });
}
