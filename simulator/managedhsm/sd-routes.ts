import { X509Certificate } from 'crypto';
import { errors } from '../http/errors';
import { Handler } from '../http/router';
import { Reply } from '../http/server';
import { isObject, jsonBody, kind } from '../http/validate';
import { HsmContext } from './context';
import { DataActions as A } from './rbac';
import { SdOperationRecord } from './model';
import { rsaPublicJwk } from './x509';
import { x5tS256 } from '../../formats/security-domain-file';

type Add = (method: string, pattern: string, handler: Handler<HsmContext>) => void;

/**
 * The security-domain API (api-version 7.2+), answered before activation: download (activates, or exports the
 * domain again under new certificates), the exchange key (recovery mode), upload of a restore blob, and the
 * status of each. Only the Administrator role holds these data actions.
 */
export function addSecurityDomainRoutes(add: Add): void {
  add('POST', '/securitydomain/download', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.sdDownload, '/', 'security domain download');
    const { certificates, required } = parseDownload(jsonBody(ctx));
    const file = await ctx.instance.securityDomain.download(certificates, required);
    return { status: 202, body: { value: JSON.stringify(file) }, headers: asyncHeader(ctx, '/securitydomain/download/pending') };
  });

  add('GET', '/securitydomain/download/pending', (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.sdDownloadRead, '/', 'security domain download status');
    return statusReply(ctx.instance.securityDomain.downloadStatus(), 'No security domain download has been made on this HSM.');
  });

  add('GET', '/securitydomain/upload', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.sdTransferKeyRead, '/', 'security domain exchange key');
    return { status: 200, body: await ctx.instance.securityDomain.transferKey() };
  });

  add('POST', '/securitydomain/upload', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.sdUpload, '/', 'security domain upload');
    const body = jsonBody(ctx);
    const v = body.value;
    if (typeof v !== 'string' && !isObject(v)) throw errors.badParameter(`Property 'value' (the restore blob) must be a JSON string, got ${kind(v)}.`);
    await ctx.instance.securityDomain.upload(typeof v === 'string' ? v : JSON.stringify(v));
    const s = ctx.instance.securityDomain.uploadStatus()!;
    return { status: 202, body: { status: s.status, status_details: s.statusDetails }, headers: asyncHeader(ctx, '/securitydomain/upload/pending') };
  });

  add('GET', '/securitydomain/upload/pending', (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.sdUploadRead, '/', 'security domain upload status');
    return statusReply(ctx.instance.securityDomain.uploadStatus(), 'No security domain upload has been made on this HSM.');
  });
}

function asyncHeader(ctx: HsmContext, path: string): Record<string, string> {
  return { 'azure-asyncoperation': `https://${ctx.host}${path}?api-version=${ctx.apiVersion}`, 'retry-after': '0' };
}

function statusReply(s: SdOperationRecord | undefined, none: string): Reply {
  if (!s) throw errors.notFound(none);
  return { status: 200, body: { status: s.status, status_details: s.statusDetails } };
}

/** {certificates: [JWK with x5c] x 3..10, required: 2..10}: every certificate an RSA key of 2048 bits or more. */
function parseDownload(body: Record<string, unknown>): { certificates: X509Certificate[]; required: number } {
  const list = body.certificates;
  if (!Array.isArray(list) || list.length < 3 || list.length > 10) {
    throw errors.badParameter(`Property 'certificates' must list 3 to 10 certificates (JWKs with x5c); got ${Array.isArray(list) ? list.length : kind(list)}.`);
  }
  const required = body.required;
  if (typeof required !== 'number' || !Number.isInteger(required) || required < 2 || required > 10) {
    throw errors.badParameter(`Property 'required' (the quorum) must be an integer from 2 to 10; got ${typeof required === 'number' ? required : kind(required)}.`);
  }
  if (required > list.length) throw errors.badParameter(`The quorum (required = ${required}) cannot exceed the number of certificates (${list.length}).`);
  const seen = new Set<string>();
  const certificates = list.map((jwk: unknown, i: number) => {
    const where = `certificates[${i}]`;
    if (!isObject(jwk)) throw errors.badParameter(`${where} must be a JWK object, got ${kind(jwk)}.`);
    if (jwk.kty !== 'RSA') throw errors.badParameter(`${where}: kty must be RSA; got ${String(jwk.kty).slice(0, 20)}.`);
    const x5c = jwk.x5c;
    if (!Array.isArray(x5c) || x5c.length < 1 || typeof x5c[0] !== 'string' || !/^[A-Za-z0-9+/]+=*$/.test(x5c[0])) {
      throw errors.badParameter(`${where}: x5c must hold the certificate (DER, standard base64).`);
    }
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(x5c[0], 'base64'));
    } catch {
      throw errors.badParameter(`${where}: x5c[0] is not an X.509 certificate.`);
    }
    const pub = rsaPublicJwk(cert);
    if (!pub || pub.bits < 2048) throw errors.badParameter(`${where}: the certificate must hold an RSA key of at least 2048 bits; got ${pub ? `${pub.bits} bits` : 'another key type'}.`);
    if (typeof jwk.n === 'string' && jwk.n.replace(/=+$/, '') !== pub.n) throw errors.badParameter(`${where}: n does not match the certificate's public key.`);
    const t = x5tS256(cert);
    if (typeof jwk['x5t#S256'] === 'string' && jwk['x5t#S256'] !== t) throw errors.badParameter(`${where}: x5t#S256 does not match the certificate.`);
    if (seen.has(t)) throw errors.badParameter(`${where}: the same certificate is given twice.`);
    seen.add(t);
    return cert;
  });
  return { certificates, required };
}
