import * as fs from 'fs';
import * as path from 'path';
import { randomUUID, createHash } from 'crypto';
import { ContainerClient } from '@azure/storage-blob';
import { Harness, CRYPTO_USER, CRYPTO_OFFICER, Principal, httpsRequest } from '../harness';
import { Azurite, startAzurite } from '../../../simulator/storage/azurite';
import { AUDIT_CONTAINER, AuditEvent, callerOf } from '../../../formats/audit-event';
import { readAuditEvents } from '../../../scripts/audit/audit-reader';

const V = 'api-version=7.5';

describe('AuditEvent trail of the Managed HSM data plane', () => {
  let h: Harness;
  let az: Azurite;
  let work: string;
  let user: Principal;
  let nobody: Principal;
  let container: ContainerClient;
  let storage: { containerUri: string; sas: string };
  const calls: Array<{ id: string; op: string; who: Principal; status: number; key?: string }> = [];

  /** One REST call with its own correlation id, remembered with the operation name the record must carry. */
  async function call(op: string, who: Principal, method: string, pathAndQuery: string, body?: unknown, key?: string) {
    const id = randomUUID();
    const token = await h.token(who);
    const res = await httpsRequest(h.hsmUri, h.sim.caCert, method, pathAndQuery, body === undefined ? undefined : JSON.stringify(body), token, { 'x-ms-client-request-id': id });
    calls.push({ id, op, who, status: res.status, key });
    return res;
  }

  beforeAll(async () => {
    work = Harness.tempDir('audit-work-');
    [h, az] = await Promise.all([Harness.start(), startAzurite({ location: path.join(work, 'azurite') })]);
    storage = await az.containerSas(AUDIT_CONTAINER);
    h.sim.audit.deliverTo({ containerUrl: storage.containerUri, sas: storage.sas });
    container = new ContainerClient(`${storage.containerUri}?${storage.sas}`);
    user = await h.newPrincipal();
    nobody = await h.newPrincipal();
  });
  afterAll(async () => {
    await h.close();
    await az.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('each data-plane operation, allowed or refused, leaves exactly one record with its outcome and caller', async () => {
    const a = h.admin;
    const backups = await az.containerSas('mhsm-backups');
    // Role management (Administrator), then keys as a Crypto User, crypto, lifecycle, and refusals.
    await call('RoleAssignmentCreate', a, 'PUT', `/keys/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}?${V}`, { properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_USER}`, principalId: user.objectId } });
    const officer = randomUUID();
    const made = await call('RoleAssignmentCreate', a, 'PUT', `/providers/Microsoft.Authorization/roleAssignments/${officer}?${V}`, { properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_OFFICER}`, principalId: a.objectId } });
    expect(made.status).toBe(201);
    await call('RoleAssignmentList', a, 'GET', `/providers/Microsoft.Authorization/roleAssignments?${V}`);
    await call('RoleAssignmentGet', a, 'GET', `/providers/Microsoft.Authorization/roleAssignments/${officer}?${V}`);
    await call('RoleDefinitionList', a, 'GET', `/providers/Microsoft.Authorization/roleDefinitions?${V}`);
    await call('RoleDefinitionGet', a, 'GET', `/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_USER}?${V}`);

    const created = await call('KeyCreate', user, 'POST', `/keys/rsa1/create?${V}`, { kty: 'RSA-HSM', key_size: 2048 }, 'rsa1');
    expect(created.status).toBe(200);
    const version = String(created.body.key.kid).split('/').pop()!;
    await call('KeyCreate', user, 'POST', `/keys/aes1/create?${V}`, { kty: 'oct-HSM', key_size: 256 }, 'aes1');
    await call('KeyGet', user, 'GET', `/keys/rsa1?${V}`, undefined, 'rsa1');
    await call('KeyGet', user, 'GET', `/keys/rsa1/${version}?${V}`, undefined, 'rsa1');
    await call('KeyList', user, 'GET', `/keys?${V}`);
    await call('KeyListVersions', user, 'GET', `/keys/rsa1/versions?${V}`, undefined, 'rsa1');
    await call('KeyUpdate', user, 'PATCH', `/keys/rsa1/${version}?${V}`, { tags: { t: '1' } }, 'rsa1');
    const digest = createHash('sha256').update('audit').digest('base64url');
    const sig = await call('KeySign', user, 'POST', `/keys/rsa1/${version}/sign?${V}`, { alg: 'RS256', value: digest }, 'rsa1');
    await call('KeyVerify', user, 'POST', `/keys/rsa1/${version}/verify?${V}`, { alg: 'RS256', digest, value: sig.body.value }, 'rsa1');
    const secretText = Buffer.from('plaintext that must never be logged').toString('base64url');
    const enc = await call('KeyEncrypt', user, 'POST', `/keys/rsa1/${version}/encrypt?${V}`, { alg: 'RSA-OAEP-256', value: secretText }, 'rsa1');
    await call('KeyDecrypt', user, 'POST', `/keys/rsa1/${version}/decrypt?${V}`, { alg: 'RSA-OAEP-256', value: enc.body.value }, 'rsa1');
    const cek = Buffer.alloc(32, 7).toString('base64url');
    const wrapped = await call('KeyWrap', user, 'POST', `/keys/rsa1/${version}/wrapkey?${V}`, { alg: 'RSA-OAEP', value: cek }, 'rsa1');
    await call('KeyUnwrap', user, 'POST', `/keys/rsa1/${version}/unwrapkey?${V}`, { alg: 'RSA-OAEP', value: wrapped.body.value }, 'rsa1');
    await call('KeyRotationPolicySet', user, 'PUT', `/keys/rsa1/rotationpolicy?${V}`, { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P90D' } }, 'rsa1');
    await call('KeyRotationPolicyGet', user, 'GET', `/keys/rsa1/rotationpolicy?${V}`, undefined, 'rsa1');
    await call('KeyRotate', user, 'POST', `/keys/rsa1/rotate?${V}`, undefined, 'rsa1');
    const backup = await call('KeyBackup', user, 'POST', `/keys/aes1/backup?${V}`, undefined, 'aes1');
    await call('KeyRelease', user, 'POST', `/keys/rsa1/${version}/release?${V}`, { target: 'not-a-token' }, 'rsa1');
    await call('KeyGetAttestation', user, 'GET', `/keys/rsa1/${version}/attestation?api-version=7.6`, undefined, 'rsa1');
    await call('KeyImport', user, 'PUT', `/keys/imp1?${V}`, { key: { kty: 'oct-HSM', k: Buffer.alloc(32, 1).toString('base64url') } }, 'imp1');
    await call('KeyDelete', user, 'DELETE', `/keys/aes1?${V}`, undefined, 'aes1');
    await call('KeyListDeleted', user, 'GET', `/deletedkeys?${V}`);
    await call('KeyGetDeleted', user, 'GET', `/deletedkeys/aes1?${V}`, undefined, 'aes1');
    await call('KeyRecover', a, 'POST', `/deletedkeys/aes1/recover?${V}`, undefined, 'aes1');
    await call('KeyDelete', user, 'DELETE', `/keys/imp1?${V}`, undefined, 'imp1');
    await call('KeyPurge', a, 'DELETE', `/deletedkeys/imp1?${V}`, undefined, 'imp1');
    await call('KeyPurge', user, 'DELETE', `/deletedkeys/imp1?${V}`, undefined, 'imp1');
    await call('KeyRestore', user, 'POST', `/keys/restore?${V}`, { value: backup.body.value });
    await call('GetRandomBytes', user, 'POST', `/rng?${V}`, { count: 16 });

    // Full backup, restore and their status, the security domain's read calls, as the administrator.
    const job = await call('BackupCreate', a, 'POST', `/backup?${V}`, { storageResourceUri: backups.containerUri, token: backups.sas });
    await call('BackupStatus', a, 'GET', `/backup/${job.body.jobId}/pending?${V}`);
    const restore = await call('RestoreCreate', a, 'PUT', `/restore?${V}`, { sasTokenParameters: { storageResourceUri: backups.containerUri, token: backups.sas }, folderToRestore: 'mhsm-hsm1-0000000000000000' });
    await call('RestoreStatus', a, 'GET', `/restore/${restore.body.jobId}/pending?${V}`);
    await call('SelectiveKeyRestore', a, 'PUT', `/keys/rsa1/restore?${V}`, { sasTokenParameters: { storageResourceUri: backups.containerUri, token: backups.sas }, folder: 'mhsm-hsm1-0000000000000000' }, 'rsa1');
    await call('SecurityDomainDownloadStatus', a, 'GET', `/securitydomain/download/pending?${V}`);
    await call('SecurityDomainTransferKeyGet', a, 'GET', `/securitydomain/upload?${V}`);
    await call('SecurityDomainUploadStatus', a, 'GET', `/securitydomain/upload/pending?${V}`);
    await call('SecurityDomainDownload', a, 'POST', `/securitydomain/download?${V}`, { certificates: [], required: 2 });
    await call('SecurityDomainUpload', a, 'POST', `/securitydomain/upload?${V}`, { value: 'x' });
    await call('RoleAssignmentDelete', a, 'DELETE', `/providers/Microsoft.Authorization/roleAssignments/${officer}?${V}`);

    // Refusals: no role, an unknown path, a missing api-version.
    const denied = await call('KeySign', nobody, 'POST', `/keys/rsa1/${version}/sign?${V}`, { alg: 'RS256', value: digest }, 'rsa1');
    expect(denied.status).toBe(403);
    await call('KeyCreate', nobody, 'POST', `/keys/nope/create?${V}`, { kty: 'EC-HSM' }, 'nope');
    await call('UnknownOperation', user, 'GET', `/no/such/route?${V}`);
    await call('KeyList', user, 'GET', `/keys`);

    // A request without a token is challenged and not logged (the service logs authenticated requests).
    const anon = await httpsRequest(h.hsmUri, h.sim.caCert, 'GET', `/keys?${V}`, undefined, undefined, { 'x-ms-client-request-id': 'anonymous-call' });
    expect(anon.status).toBe(401);

    await h.sim.audit.flush();
    const { events } = await readAuditEvents(container);
    const byId = new Map<string, AuditEvent[]>();
    for (const e of events) byId.set(e.correlationId, [...(byId.get(e.correlationId) ?? []), e]);
    for (const c of calls) {
      const mine = byId.get(c.id) ?? [];
      expect({ call: c.op, records: mine.length }).toEqual({ call: c.op, records: 1 });
      const e = mine[0];
      expect({ op: e.operationName, status: e.httpStatusCode, result: e.resultType, caller: callerOf(e) }).toEqual({
        op: c.op,
        status: c.status,
        result: c.status < 400 ? 'Success' : 'Failure',
        caller: c.who.objectId,
      });
      if (c.key) expect(e.properties.id).toMatch(new RegExp(`/keys/${c.key}(/|$)`));
    }
    expect(byId.has('anonymous-call')).toBe(false);
    expect(events).toHaveLength(calls.length);
    expect(calls.filter((c) => c.status >= 400).length).toBeGreaterThan(5);
    const sample = events.find((e) => e.operationName === 'KeySign' && e.resultType === 'Success')!;
    expect(sample).toMatchObject({
      TenantId: h.sim.tenantId,
      category: 'AuditEvent',
      operationVersion: '7.5',
      resultSignature: 'OK',
      resourceId: '/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/SIMULATOR/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/HSM1',
      resourceType: 'managedHSMs',
      resource: 'hsm1',
      callerIpAddress: '127.0.0.1',
    });
    expect(sample.blob).toMatch(/^resourceId=\/SUBSCRIPTIONS\/.*\/MANAGEDHSMS\/HSM1\/y=\d{4}\/m=\d{2}\/d=\d{2}\/h=\d{2}\/m=00\/PT1H\.json$/);
    expect(events.find((e) => e.httpStatusCode === 403)!.resultSignature).toBe('Forbidden');
  });

  test('records never carry a token, a body or key material', async () => {
    await h.sim.audit.flush();
    const all = (await readAuditEvents(container)).events.map((e) => JSON.stringify(e)).join('\n');
    const token = await h.token(user);
    expect(all).not.toContain(token.split('.')[2]);
    expect(all).not.toContain(Buffer.from('plaintext that must never be logged').toString('base64url'));
    expect(all).not.toContain(Buffer.alloc(32, 7).toString('base64url'));
    expect(all).not.toContain(Buffer.alloc(32, 1).toString('base64url'));
    expect(all).not.toContain(h.admin.secret);
  });
});
