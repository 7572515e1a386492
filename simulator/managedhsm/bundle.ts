import { InstanceRecord, KeyRecord, RotationPolicyRecord, VersionRecord } from './model';

/** Serialisation of key records into the service's JSON (KeyBundle, KeyItem, DeletedKeyBundle, ...). */

export function recoveryLevel(i: InstanceRecord): string {
  const base = i.softDeleteRetentionDays < 90 ? 'CustomizedRecoverable' : 'Recoverable';
  return i.purgeProtection ? base : `${base}+Purgeable`;
}

function attributes(v: VersionRecord, i: InstanceRecord) {
  const a = v.attributes;
  return {
    enabled: a.enabled,
    ...(a.nbf !== undefined ? { nbf: a.nbf } : {}),
    ...(a.exp !== undefined ? { exp: a.exp } : {}),
    created: a.created,
    updated: a.updated,
    recoveryLevel: recoveryLevel(i),
    recoverableDays: i.softDeleteRetentionDays,
    exportable: a.exportable,
  };
}

export function kid(host: string, v: VersionRecord): string {
  return `https://${host}/keys/${v.name}/${v.version}`;
}

export function keyBundle(host: string, v: VersionRecord, i: InstanceRecord) {
  return {
    key: { kid: kid(host, v), kty: `${v.kty}-HSM`, key_ops: v.keyOps, ...(v.pub ?? {}) },
    attributes: attributes(v, i),
    ...(Object.keys(v.tags).length ? { tags: v.tags } : {}),
    ...(v.releasePolicy ? { release_policy: v.releasePolicy } : {}),
  };
}

export function keyItem(host: string, v: VersionRecord, i: InstanceRecord, withVersion: boolean) {
  return {
    kid: withVersion ? kid(host, v) : `https://${host}/keys/${v.name}`,
    attributes: attributes(v, i),
    ...(Object.keys(v.tags).length ? { tags: v.tags } : {}),
  };
}

function deletedPart(host: string, k: KeyRecord) {
  return { recoveryId: `https://${host}/deletedkeys/${k.name}`, deletedDate: k.deleted!.deletedDate, scheduledPurgeDate: k.deleted!.scheduledPurgeDate };
}

export function deletedKeyBundle(host: string, k: KeyRecord, v: VersionRecord, i: InstanceRecord) {
  return { ...deletedPart(host, k), ...keyBundle(host, v, i) };
}

export function deletedKeyItem(host: string, k: KeyRecord, v: VersionRecord, i: InstanceRecord) {
  return { ...deletedPart(host, k), ...keyItem(host, v, i, false) };
}

export function rotationPolicy(host: string, name: string, p: RotationPolicyRecord | undefined) {
  const id = `https://${host}/keys/${name}/rotationpolicy`;
  if (!p) return { id, lifetimeActions: [], attributes: {} };
  return {
    id,
    lifetimeActions: p.lifetimeActions,
    attributes: { ...(p.expiryTime ? { expiryTime: p.expiryTime } : {}), created: p.created, updated: p.updated },
  };
}
