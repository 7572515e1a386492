import { Router } from '../http/router';
import { errors } from '../http/errors';
import { b64url, jsonBody, optInt, reqString } from '../http/validate';
import { HsmContext } from './context';
import { DataActions as A } from './rbac';
import { keyName, keyVersion } from './names';
import { kid } from './bundle';

/** sign, verify, encrypt, decrypt, wrapkey, unwrapkey on /keys/{name}/{version?}/..., and /rng. */
export function addCryptoRoutes(r: Router<HsmContext>): void {
  const target = (ctx: HsmContext, p: Record<string, string>, action: string, op: string) => {
    const name = keyName(p.name);
    const version = keyVersion(p.version);
    ctx.instance.rbac.require(ctx.principal, action, `/keys/${name}`, op);
    return { name, version, body: jsonBody(ctx) };
  };

  r.add('POST', '/keys/:name/:version/sign', async (ctx, p) => {
    const t = target(ctx, p, A.keysSign, 'sign');
    const { v, value } = await ctx.instance.crypto.sign(t.name, t.version, reqString(t.body, 'alg'), b64url(t.body, 'value', true));
    return { status: 200, body: { kid: kid(ctx.host, v), value: value.toString('base64url') } };
  });

  r.add('POST', '/keys/:name/:version/verify', async (ctx, p) => {
    const t = target(ctx, p, A.keysVerify, 'verify');
    const { ok } = await ctx.instance.crypto.verify(t.name, t.version, reqString(t.body, 'alg'), b64url(t.body, 'digest', true), b64url(t.body, 'value', true));
    return { status: 200, body: { value: ok } };
  });

  for (const [op, action, path] of [
    ['encrypt', A.keysEncrypt, 'encrypt'],
    ['wrapKey', A.keysWrap, 'wrapkey'],
  ] as const) {
    r.add('POST', `/keys/:name/:version/${path}`, async (ctx, p) => {
      const t = target(ctx, p, action, op);
      const alg = reqString(t.body, 'alg');
      const { v, r: out } = await ctx.instance.crypto.encrypt(t.name, t.version, op, alg, b64url(t.body, 'value', true), b64url(t.body, 'iv'), b64url(t.body, 'aad'));
      return {
        status: 200,
        body: {
          kid: kid(ctx.host, v),
          value: out.value.toString('base64url'),
          ...(out.iv ? { iv: out.iv.toString('base64url') } : {}),
          ...(out.tag ? { tag: out.tag.toString('base64url') } : {}),
          ...(out.aad ? { aad: out.aad.toString('base64url') } : {}),
        },
      };
    });
  }

  for (const [op, action, path] of [
    ['decrypt', A.keysDecrypt, 'decrypt'],
    ['unwrapKey', A.keysUnwrap, 'unwrapkey'],
  ] as const) {
    r.add('POST', `/keys/:name/:version/${path}`, async (ctx, p) => {
      const t = target(ctx, p, action, op);
      const alg = reqString(t.body, 'alg');
      const { v, value } = await ctx.instance.crypto.decrypt(t.name, t.version, op, alg, b64url(t.body, 'value', true), b64url(t.body, 'iv'), b64url(t.body, 'aad'), b64url(t.body, 'tag'));
      return { status: 200, body: { kid: kid(ctx.host, v), value: value.toString('base64url') } };
    });
  }

  r.add('POST', '/rng', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.rng, '/', 'rng');
    const body = jsonBody(ctx);
    const count = optInt(body, 'count', 1, 128);
    if (count === undefined) throw errors.badParameter("Property 'count' (1-128) is required.");
    return { status: 200, body: { value: (await ctx.instance.keys.token.random(count)).toString('base64url') } };
  });
}
