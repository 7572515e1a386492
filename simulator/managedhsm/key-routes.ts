import { Router } from '../http/router';
import { errors } from '../http/errors';
import { Json, b64url, isObject, jsonBody, kind, optBool, optInt, optObject, optString, optStringArray, optTime, reqString } from '../http/validate';
import { Reply } from '../http/server';
import { HsmContext } from './context';
import { DataActions as A } from './rbac';
import { keyName, keyVersion } from './names';
import { KeySpec } from './keys';
import { Kty } from './model';
import { importKey } from './import';
import { backupKey, restoreKey } from './backup';
import { deletedKeyBundle, deletedKeyItem, keyBundle, keyItem, rotationPolicy } from './bundle';
import { durationDays } from './durations';
import { CURVE_PARAMS } from '../pkcs11/token';
import { checkExportable, releasePolicyOf } from './release-policy';

const OPS_BY_KTY: Record<Kty, string[]> = {
  RSA: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import'],
  EC: ['sign', 'verify'],
  oct: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
};
const DEFAULT_OPS: Record<Kty, string[]> = { RSA: OPS_BY_KTY.RSA.slice(0, 6), EC: OPS_BY_KTY.EC, oct: OPS_BY_KTY.oct };

/** Key management routes: create, import, read, list, update, delete/recover/purge, backup/restore, rotation. */
export function addKeyRoutes(r: Router<HsmContext>): void {
  r.add('POST', '/keys/restore', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.keysRestore, '/keys', 'restore');
    const blob = b64url(jsonBody(ctx), 'value', true);
    const v = await restoreKey(ctx.instance.keys, blob);
    return ok(keyBundle(ctx.host, v, ctx.instance.record()));
  });

  r.add('POST', '/keys/:name/create', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysCreate, `/keys/${name}`, 'create');
    const spec = createSpec(jsonBody(ctx));
    const v = await ctx.instance.keys.create(name, spec);
    return ok(keyBundle(ctx.host, v, ctx.instance.record()));
  });

  r.add('PUT', '/keys/:name', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysImport, `/keys/${name}`, 'import');
    const body = jsonBody(ctx);
    const jwk = optObject(body, 'key');
    if (!jwk) throw errors.badParameter("Property 'key' (a JSON Web Key) is required.");
    const kty = parseKty(reqString(jwk, 'kty'), 'key.kty');
    if (optBool(body, 'hsm') === false) throw errors.badParameter('Managed HSM holds only HSM-protected keys: hsm must not be false.');
    const keyOps = parseOps(optStringArray(jwk, 'key_ops'), kty);
    const v = await importKey(ctx.instance.keys, name, jwk, kty, creationAttributes(body), parseTags(body), keyOps);
    return ok(keyBundle(ctx.host, v, ctx.instance.record()));
  });

  r.add('GET', '/keys', (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.keysRead, '/keys', 'list');
    const i = ctx.instance.record();
    return page(ctx, ctx.instance.keys.list().map((v) => keyItem(ctx.host, v, i, false)));
  });

  r.add('GET', '/keys/:name/versions', (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysRead, `/keys/${name}`, 'list versions');
    const i = ctx.instance.record();
    // As the service does (the SDKs' own tests expect it): a key that does not exist has no versions, not a 404.
    return page(ctx, ctx.instance.keys.versionsOrNone(name).map((v) => keyItem(ctx.host, v, i, true)));
  });

  r.add('GET', '/keys/:name/rotationpolicy', (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysRead, `/keys/${name}`, 'get rotation policy');
    return ok(rotationPolicy(ctx.host, name, ctx.instance.keys.getPolicy(name)));
  });

  r.add('PUT', '/keys/:name/rotationpolicy', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysWrite, `/keys/${name}`, 'set rotation policy');
    const policy = await ctx.instance.keys.putPolicy(name, parsePolicy(jsonBody(ctx)));
    return ok(rotationPolicy(ctx.host, name, policy));
  });

  r.add('POST', '/keys/:name/rotate', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysRotate, `/keys/${name}`, 'rotate');
    const v = await ctx.instance.keys.rotate(name);
    return ok(keyBundle(ctx.host, v, ctx.instance.record()));
  });

  r.add('POST', '/keys/:name/backup', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysBackup, `/keys/${name}`, 'backup');
    return ok({ value: (await backupKey(ctx.instance.keys, name)).toString('base64url') });
  });

  const get = (ctx: HsmContext, p: Record<string, string>): Reply => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysRead, `/keys/${name}`, 'get');
    return ok(keyBundle(ctx.host, ctx.instance.keys.get(name, keyVersion(p.version ?? '')), ctx.instance.record()));
  };
  r.add('GET', '/keys/:name', get);
  r.add('GET', '/keys/:name/:version', get);

  const update = async (ctx: HsmContext, p: Record<string, string>): Promise<Reply> => {
    const name = keyName(p.name);
    const version = keyVersion(p.version ?? '');
    ctx.instance.rbac.require(ctx.principal, A.keysWrite, `/keys/${name}`, 'update');
    const body = jsonBody(ctx);
    const cur = ctx.instance.keys.get(name, version);
    // Whether the policy may be replaced (exportable, not immutable) is decided in update(), under the key's lock.
    const releasePolicy = releasePolicyOf(body);
    const attrs = optObject(body, 'attributes');
    if (attrs && optBool(attrs, 'exportable') !== undefined && attrs.exportable !== cur.attributes.exportable) throw errors.badParameter('The exportable attribute cannot be changed after creation.');
    const v = await ctx.instance.keys.update(name, version, {
      keyOps: body.key_ops === undefined ? undefined : parseOps(optStringArray(body, 'key_ops'), cur.kty),
      attributes: attrs ? { enabled: optBool(attrs, 'enabled'), nbf: nullableTime(attrs, 'nbf'), exp: nullableTime(attrs, 'exp') } : undefined,
      tags: body.tags === undefined ? undefined : parseTags(body),
      releasePolicy,
    });
    return ok(keyBundle(ctx.host, v, ctx.instance.record()));
  };
  r.add('PATCH', '/keys/:name', update);
  r.add('PATCH', '/keys/:name/:version', update);

  r.add('DELETE', '/keys/:name', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysDelete, `/keys/${name}`, 'delete');
    const d = await ctx.instance.keys.delete(name);
    return ok(deletedKeyBundle(ctx.host, d.key, d.latest, ctx.instance.record()));
  });

  r.add('GET', '/deletedkeys', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.deletedRead, '/keys', 'list deleted');
    await ctx.instance.keys.sweepDeleted();
    const i = ctx.instance.record();
    return page(ctx, ctx.instance.keys.listDeleted().map((d) => deletedKeyItem(ctx.host, d.key, d.latest, i)));
  });

  r.add('GET', '/deletedkeys/:name', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.deletedRead, `/keys/${name}`, 'get deleted');
    await ctx.instance.keys.sweepDeleted();
    const d = ctx.instance.keys.getDeleted(name);
    return ok(deletedKeyBundle(ctx.host, d.key, d.latest, ctx.instance.record()));
  });

  r.add('POST', '/deletedkeys/:name/recover', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.deletedRecover, `/keys/${name}`, 'recover');
    const v = await ctx.instance.keys.recover(name);
    return ok(keyBundle(ctx.host, v, ctx.instance.record()));
  });

  // The export operation of the 7.3 previews (exportable keys): routed so that callers get RBAC and a clear refusal.
  r.add('POST', '/keys/:name/:version/export', (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.keysExport, `/keys/${name}`, 'export');
    throw errors.notSupported('The key export operation (exportable keys)');
  });

  r.add('DELETE', '/deletedkeys/:name', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.deletedPurge, `/keys/${name}`, 'purge');
    await ctx.instance.keys.purge(name);
    return { status: 204 };
  });
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

/** Lists page with maxresults (1-25) and an opaque $skiptoken in nextLink, as the service pages. */
function page(ctx: HsmContext, items: unknown[]): Reply {
  const maxParam = ctx.query.get('maxresults');
  let max = 25;
  if (maxParam !== null) {
    max = Number(maxParam);
    if (!Number.isInteger(max) || max < 1 || max > 25) throw errors.badParameter(`maxresults must be an integer from 1 to 25; got '${maxParam.slice(0, 20)}'.`);
  }
  const skipParam = ctx.query.get('$skiptoken');
  let start = 0;
  if (skipParam !== null) {
    start = Number(Buffer.from(skipParam, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0) throw errors.badParameter('The $skiptoken is not valid.');
  }
  const value = items.slice(start, start + max);
  const next = start + max < items.length ? `https://${ctx.host}${ctx.path}?api-version=${encodeURIComponent(ctx.apiVersion)}&$skiptoken=${Buffer.from(String(start + max)).toString('base64url')}&maxresults=${max}` : null;
  return ok({ value, nextLink: next });
}

/**
 * Key types as Managed HSM takes them: the -HSM types, and RSA, EC, oct and AES, which it accepts on create and
 * import and stores (and returns) as RSA-HSM, EC-HSM and oct-HSM: every key in the HSM is HSM-protected.
 */
const KTY: Record<string, Kty> = { 'RSA-HSM': 'RSA', 'EC-HSM': 'EC', 'oct-HSM': 'oct', RSA: 'RSA', EC: 'EC', oct: 'oct', AES: 'oct' };

export function parseKty(v: string, prop: string): Kty {
  const kty = Object.prototype.hasOwnProperty.call(KTY, v) ? KTY[v] : undefined;
  if (!kty) throw errors.badParameter(`Property '${prop}' must be one of ${Object.keys(KTY).join(', ')}; got '${v.slice(0, 20)}'.`);
  return kty;
}

function parseOps(ops: string[] | undefined, kty: Kty): string[] {
  if (ops === undefined) return DEFAULT_OPS[kty];
  for (const o of ops) {
    if (o === 'export' || o === 'release') throw errors.notSupported(`The key operation '${o}' (exportable keys with a release policy)`);
    if (!OPS_BY_KTY[kty].includes(o)) throw errors.badParameter(`Invalid key operation '${o.slice(0, 20)}' for a ${kty}-HSM key: allowed ${OPS_BY_KTY[kty].join(', ')}.`);
  }
  if (ops.includes('import') && ops.length !== 1) throw errors.badParameter("A key exchange key's key_ops must be only [\"import\"].");
  return [...new Set(ops)];
}

function parseAttributes(body: Json): KeySpec['attributes'] {
  const a = optObject(body, 'attributes');
  if (!a) return {};
  const exportable = optBool(a, 'exportable');
  const nbf = optTime(a, 'nbf');
  const exp = optTime(a, 'exp');
  if (nbf !== undefined && exp !== undefined && exp <= nbf) throw errors.badParameter('attributes.exp must be later than attributes.nbf.');
  return { enabled: optBool(a, 'enabled'), nbf, exp, exportable };
}

/** Attributes of a new key with its release policy: exportable keys need one, and only they may have one. */
function creationAttributes(body: Json): KeySpec['attributes'] {
  const attributes = parseAttributes(body);
  const releasePolicy = releasePolicyOf(body);
  checkExportable(attributes.exportable, releasePolicy);
  return { ...attributes, releasePolicy };
}

function nullableTime(a: Json, prop: string): number | null | undefined {
  return a[prop] === null ? null : optTime(a, prop);
}

function parseTags(body: Json): Record<string, string> {
  const t = body.tags;
  if (t === undefined || t === null) return {};
  if (!isObject(t)) throw errors.badParameter(`Property 'tags' must be an object of strings, got ${kind(t)}.`);
  const entries = Object.entries(t);
  if (entries.length > 15) throw errors.badParameter(`At most 15 tags are allowed; got ${entries.length}.`);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw errors.badParameter(`Tag '${k.slice(0, 40)}' must have a string value.`);
    if (k.length === 0 || k.length > 512 || v.length > 256) throw errors.badParameter('Tag names are 1-512 characters and values at most 256.');
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function createSpec(body: Json): KeySpec {
  const kty = parseKty(reqString(body, 'kty'), 'kty');
  const keyOps = parseOps(optStringArray(body, 'key_ops'), kty);
  const spec: KeySpec = { kty, keyOps, attributes: creationAttributes(body), tags: parseTags(body) };
  if (kty === 'RSA') {
    spec.size = optInt(body, 'key_size', 0, 1 << 20) ?? 2048;
    if (![2048, 3072, 4096].includes(spec.size)) throw errors.badParameter(`RSA key_size must be 2048, 3072 or 4096; got ${spec.size}.`);
    spec.publicExponent = optInt(body, 'public_exponent', 0, 0xffffffff) ?? 65537;
    if (![3, 65537].includes(spec.publicExponent)) throw errors.badParameter(`public_exponent must be 3 or 65537; got ${spec.publicExponent}.`);
    if (body.crv !== undefined && body.crv !== null) throw errors.badParameter('crv is only for EC-HSM keys.');
  } else if (kty === 'EC') {
    const crv = optString(body, 'crv') ?? 'P-256';
    if (!CURVE_PARAMS[crv]) throw errors.badParameter(`crv must be one of ${Object.keys(CURVE_PARAMS).join(', ')}; got '${crv.slice(0, 20)}'.`);
    if (body.key_size !== undefined && body.key_size !== null) throw errors.badParameter('key_size is not used for EC-HSM keys; give crv.');
    spec.crv = crv;
  } else {
    spec.size = optInt(body, 'key_size', 0, 1 << 20) ?? 256;
    if (![128, 192, 256].includes(spec.size)) throw errors.badParameter(`oct-HSM key_size must be 128, 192 or 256; got ${spec.size}.`);
  }
  return spec;
}

function parsePolicy(body: Json): { lifetimeActions: Array<{ trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string }; action: { type: 'Rotate' | 'Notify' } }>; expiryTime?: string } {
  const attrs = optObject(body, 'attributes');
  const expiryTime = attrs ? optString(attrs, 'expiryTime') : undefined;
  const expiryDays = expiryTime === undefined ? undefined : durationDays(expiryTime);
  if (expiryTime !== undefined && (expiryDays === undefined || expiryDays < 28)) throw errors.badParameter(`attributes.expiryTime must be an ISO 8601 duration of at least 28 days (e.g. P90D); got '${expiryTime.slice(0, 30)}'.`);
  const raw = body.lifetimeActions ?? [];
  if (!Array.isArray(raw) || raw.length > 2) throw errors.badParameter('lifetimeActions must be an array of at most 2 actions (one Rotate, one Notify).');
  const actions = raw.map((a: unknown, i) => {
    if (!isObject(a)) throw errors.badParameter(`lifetimeActions[${i}] must be an object.`);
    const trigger = optObject(a, 'trigger') ?? {};
    const action = optObject(a, 'action') ?? {};
    const type = (optString(action, 'type') ?? '').toLowerCase();
    if (type !== 'rotate' && type !== 'notify') throw errors.badParameter(`lifetimeActions[${i}].action.type must be Rotate or Notify.`);
    const tac = optString(trigger, 'timeAfterCreate');
    const tbe = optString(trigger, 'timeBeforeExpiry');
    if ((tac === undefined) === (tbe === undefined)) throw errors.badParameter(`lifetimeActions[${i}].trigger needs exactly one of timeAfterCreate and timeBeforeExpiry.`);
    const days = durationDays((tac ?? tbe)!);
    if (days === undefined || days < 7) throw errors.badParameter(`lifetimeActions[${i}].trigger must be an ISO 8601 duration of at least 7 days; got '${(tac ?? tbe)!.slice(0, 30)}'.`);
    if (expiryDays !== undefined && tac !== undefined && days > expiryDays - 7) throw errors.badParameter(`lifetimeActions[${i}].trigger.timeAfterCreate must be at least 7 days before the expiry time.`);
    if (tbe !== undefined && expiryDays === undefined) throw errors.badParameter('timeBeforeExpiry needs attributes.expiryTime.');
    return { trigger: tac !== undefined ? { timeAfterCreate: tac } : { timeBeforeExpiry: tbe }, action: { type: type === 'rotate' ? ('Rotate' as const) : ('Notify' as const) } };
  });
  if (new Set(actions.map((a) => a.action.type)).size !== actions.length) throw errors.badParameter('lifetimeActions may hold one Rotate and one Notify action at most.');
  return { lifetimeActions: actions, expiryTime };
}
