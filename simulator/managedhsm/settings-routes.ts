import { Router } from '../http/router';
import { jsonBody, reqString } from '../http/validate';
import { HsmContext } from './context';
import { DataActions as A } from './rbac';

/** GET /settings, GET and PATCH /settings/{name}: held by the Administrator role (settings/read, settings/write). */
export function addSettingsRoutes(r: Router<HsmContext>): void {
  r.add('GET', '/settings', (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.settingsRead, '/', 'get settings');
    return { status: 200, body: { settings: ctx.instance.settings.list() } };
  });

  r.add('GET', '/settings/:name', (ctx, p) => {
    ctx.instance.rbac.require(ctx.principal, A.settingsRead, '/', 'get setting');
    return { status: 200, body: ctx.instance.settings.get(p.name) };
  });

  r.add('PATCH', '/settings/:name', async (ctx, p) => {
    ctx.instance.rbac.require(ctx.principal, A.settingsWrite, '/', 'update setting');
    const value = reqString(jsonBody(ctx), 'value');
    return { status: 200, body: await ctx.instance.settings.update(p.name, value) };
  });
}
