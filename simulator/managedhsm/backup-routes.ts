import { Router } from '../http/router';
import { errors } from '../http/errors';
import { Reply } from '../http/server';
import { Json, jsonBody, optBool, optObject, optString, reqString } from '../http/validate';
import { HsmContext } from './context';
import { DataActions as A } from './rbac';
import { JobRecord } from './model';
import { StorageTarget, jobFamily } from './full-backup';
import { checkSasToken } from './backup-sas';
import { keyName } from './names';
import { DEV_ACCOUNT } from '../storage/azurite';

/**
 * Full backup (POST /backup), full restore (PUT /restore), selective key restore (PUT /keys/{name}/restore), the
 * 7.6 pre-checks (POST /prebackup, PUT /prerestore) and their job status. The storage credential is a container SAS
 * token (checked before anything starts) or the HSM's managed identity (useManagedIdentity).
 */
export function addFullBackupRoutes(r: Router<HsmContext>): void {
  r.add('POST', '/backup', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.backupStart, '/', 'backup');
    const job = await ctx.instance.backups.startBackup(storageTarget(jsonBody(ctx)));
    return jobReply(ctx, job, 202);
  });

  r.add('POST', '/prebackup', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.backupStart, '/', 'pre-backup check');
    const job = await ctx.instance.backups.startPreBackup(storageTarget(jsonBody(ctx)));
    return jobReply(ctx, job, 202);
  });

  r.add('GET', '/backup/:jobId/pending', (ctx, p) => {
    ctx.instance.rbac.require(ctx.principal, A.backupStatus, '/', 'backup status');
    return jobReply(ctx, ctx.instance.backups.job(p.jobId, 'backup'), 200);
  });

  r.add('PUT', '/restore', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.restoreStart, '/', 'restore');
    const body = jsonBody(ctx);
    const job = await ctx.instance.backups.startRestore(storageTarget(sasParameters(body)), folderName(body, 'folderToRestore'));
    return jobReply(ctx, job, 202);
  });

  r.add('PUT', '/prerestore', async (ctx) => {
    ctx.instance.rbac.require(ctx.principal, A.restoreStart, '/', 'pre-restore check');
    const body = jsonBody(ctx);
    const job = await ctx.instance.backups.startPreRestore(storageTarget(sasParameters(body)), folderName(body, 'folderToRestore'));
    return jobReply(ctx, job, 202);
  });

  r.add('GET', '/restore/:jobId/pending', (ctx, p) => {
    ctx.instance.rbac.require(ctx.principal, A.restoreStatus, '/', 'restore status');
    return jobReply(ctx, ctx.instance.backups.job(p.jobId, 'restore'), 200);
  });

  r.add('PUT', '/keys/:name/restore', async (ctx, p) => {
    const name = keyName(p.name);
    ctx.instance.rbac.require(ctx.principal, A.restoreStart, '/', 'selective key restore');
    const body = jsonBody(ctx);
    const job = await ctx.instance.backups.startSelectiveRestore(storageTarget(sasParameters(body)), folderName(body, 'folder'), name);
    return jobReply(ctx, job, 202);
  });
}

function sasParameters(body: Json): Json {
  const s = optObject(body, 'sasTokenParameters');
  if (!s) throw errors.badParameter("Property 'sasTokenParameters' ({storageResourceUri, token} or {storageResourceUri, useManagedIdentity: true}) is required.");
  return s;
}

function storageTarget(o: Json): StorageTarget {
  const uri = reqString(o, 'storageResourceUri');
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw errors.badParameter(`Property 'storageResourceUri' must be the URL of a blob container; got '${uri.slice(0, 80)}'.`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search || u.pathname.replace(/\/+$/, '') === '') {
    throw errors.badParameter("Property 'storageResourceUri' must be the URL of a blob container (https://<account>.blob.core.windows.net/<container>), without a query: the SAS goes in 'token'.");
  }
  const containerUri = `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  if (optBool(o, 'useManagedIdentity')) {
    if (!isLocalAzurite(u)) {
      throw errors.notSupported(`Storage access with a managed identity outside the local Azurite account (${DEV_ACCOUNT} on 127.0.0.1 or localhost)`);
    }
    return { containerUri, managedIdentity: true };
  }
  const token = optString(o, 'token');
  if (!token) throw errors.badParameter("Property 'token' (a SAS token for the container) is required unless useManagedIdentity is true.");
  checkSasToken(token);
  return { containerUri, sas: token };
}

/** The Azurite development account, whose access the simulator grants in the managed identity's stead. */
function isLocalAzurite(u: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && u.pathname.split('/')[1] === DEV_ACCOUNT && u.pathname.split('/').filter(Boolean).length >= 2;
}

function folderName(body: Json, prop: string): string {
  const f = reqString(body, prop);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(f)) throw errors.badParameter(`Property '${prop}' must be the name of a backup folder (letters, digits, '.', '_', '-'); got '${f.slice(0, 60)}'.`);
  return f;
}

function jobReply(ctx: HsmContext, j: JobRecord, status: number): Reply {
  const family = jobFamily(j);
  return {
    status,
    body: {
      status: j.status,
      statusDetails: j.statusDetails,
      error: j.error ? { code: j.error.code, message: j.error.message, innererror: null } : null,
      startTime: j.startTime,
      endTime: j.endTime ?? null,
      jobId: j.jobId,
      ...(family === 'backup' ? { azureStorageBlobContainerUri: j.azureStorageBlobContainerUri ?? null } : {}),
    },
    headers: status === 202 ? { 'azure-asyncoperation': `https://${ctx.host}/${family}/${j.jobId}/pending?api-version=${ctx.apiVersion}`, 'retry-after': '0' } : {},
  };
}
