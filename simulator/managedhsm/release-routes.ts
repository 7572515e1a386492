import { Router } from '../http/router';
import { errors } from '../http/errors';
import { jsonBody, optString, reqString } from '../http/validate';
import { HsmContext } from './context';
import { DataActions as A } from './rbac';
import { keyName, keyVersion } from './names';
import { keyBundle, kid } from './bundle';
import { RELEASE_ENC, ReleaseEnc, releaseKey } from './release';
import { keyAttestation } from './key-attestation';

/** api-versions that have key attestation (it came with 7.6). */
const ATTESTATION_VERSIONS = /^(7\.6(-preview\.\d+)?|20\d\d-\d\d-\d\d(-preview)?)$/;

/**
 * Secure key release and key attestation, on /keys/{name}[/{version}]/release and /attestation (the SDKs leave the
 * version out for the latest). Registered before the key routes, whose GET /keys/{name}/{version} would otherwise
 * take "attestation" for a version.
 */
export function addReleaseRoutes(r: Router<HsmContext>): void {
  const release = async (ctx: HsmContext, p: Record<string, string>) => {
    const name = keyName(p.name);
    const version = keyVersion(p.version ?? '');
    ctx.instance.rbac.require(ctx.principal, A.keysRelease, `/keys/${name}`, 'release');
    const body = jsonBody(ctx);
    const target = reqString(body, 'target');
    if (target.length > 64 * 1024) throw errors.badParameter('The target attestation token is longer than 64 KiB.');
    const enc = optString(body, 'enc') ?? 'CKM_RSA_AES_KEY_WRAP';
    if (!(RELEASE_ENC as readonly string[]).includes(enc)) throw errors.badParameter(`Property 'enc' must be one of ${RELEASE_ENC.join(', ')}; got '${enc.slice(0, 40)}'.`);
    const nonce = optString(body, 'nonce');
    const v = ctx.instance.keys.get(name, version);
    return { status: 200, body: await releaseKey(ctx.instance.keys, ctx.platform, ctx.host, ctx.instance.record(), v, { target, nonce, enc: enc as ReleaseEnc }, ctx.apiVersion) };
  };
  r.add('POST', '/keys/:name/release', release);
  r.add('POST', '/keys/:name/:version/release', release);

  const attestation = async (ctx: HsmContext, p: Record<string, string>) => {
    const name = keyName(p.name);
    if (!ATTESTATION_VERSIONS.test(ctx.apiVersion)) throw errors.badParameter(`Key attestation needs api-version 7.6 or later; got ${ctx.apiVersion}.`);
    ctx.instance.rbac.require(ctx.principal, A.keysRead, `/keys/${name}`, 'get attestation');
    const v = ctx.instance.keys.get(name, keyVersion(p.version ?? ''));
    const bundle = keyBundle(ctx.host, v, ctx.instance.record());
    const att = await keyAttestation(ctx.instance.keys, ctx.platform, ctx.instance.name, v, kid(ctx.host, v));
    return { status: 200, body: { ...bundle, attributes: { ...bundle.attributes, attestation: att } } };
  };
  r.add('GET', '/keys/:name/attestation', attestation);
  r.add('GET', '/keys/:name/:version/attestation', attestation);
}
