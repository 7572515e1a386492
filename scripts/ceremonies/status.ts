import type { KeyClient } from '@azure/keyvault-keys';
import { ManagedHsmAdminClient } from '../clients/mhsm-admin';
import { classifyFailure } from '../failure';

/**
 * The status report in the spirit of `show security hsm status`, shared by `hsmctl status` and the dry-run's
 * last step: per HSM whether it answers, whether it is activated (the security domain's download, or upload
 * after a recovery, reports Success), its keys and those expiring soon, registered clients, last backup.
 * Everything is read through the service's own endpoints, so the same code reports on Azure and the simulator.
 */
export const EXPIRING_DAYS = 30;

export interface HsmStatus {
  readonly hsm: string;
  readonly kind: 'Managed HSM' | 'Dedicated HSM';
  /** It answered (HTTPS for a Managed HSM, SSH for a Dedicated HSM), whether or not the credential was let in. */
  readonly reachable: boolean;
  /** What the HSM answered but refused to this credential (401/403), with the role that would be needed. */
  readonly accessDenied?: string[];
  readonly activated?: boolean;
  readonly quorum?: string;
  readonly keys?: number;
  readonly keysExpiringSoon?: string[];
  readonly registeredClients?: string[];
  readonly lastBackup?: string;
  readonly problem?: string;
  /** Set when a part of the status was not checked, with the reason (e.g. no SSH credentials). */
  readonly notChecked?: string;
}

export interface ManagedHsmStatusInput {
  readonly name: string;
  readonly admin: ManagedHsmAdminClient;
  readonly keys: KeyClient;
  /** The security domain's quorum, when known (the service does not report it): text, or from activation. */
  readonly quorum?: string | ((activated: boolean) => string | undefined);
  readonly lastBackup?: string;
  readonly expiringDays?: number;
  readonly now?: number;
  /**
   * 'download-or-upload' (default): an HSM recovered by uploading a security domain counts as activated.
   * 'download': only a download counts (what the dry-run's step has always reported).
   */
  readonly activation?: 'download' | 'download-or-upload';
}

/** Whether the HSM is activated: its security-domain download (or, after a recovery, upload) reports Success. */
export async function activationOf(admin: ManagedHsmAdminClient, downloadOnly = false): Promise<{ activated: boolean; status?: string }> {
  const ok = (s?: { status: string }) => s?.status === 'Success' || s?.status === 'Succeeded';
  const download = await admin.downloadStatus();
  if (ok(download)) return { activated: true, status: download!.status };
  if (downloadOnly) return { activated: false, status: download?.status };
  const upload = await admin.uploadStatus();
  if (ok(upload)) return { activated: true, status: upload!.status };
  return { activated: false, status: download?.status ?? upload?.status };
}

export async function managedHsmStatus(i: ManagedHsmStatusInput): Promise<HsmStatus> {
  const days = i.expiringDays ?? EXPIRING_DAYS;
  const now = i.now ?? Date.now();
  const base = { hsm: i.name, kind: 'Managed HSM' as const };
  const denied: string[] = [];
  // Each read stands alone: a credential may see keys but not the security domain (Crypto User), or the reverse
  // (Administrator). Only no answer at all makes the HSM unreachable.
  let activated: boolean | undefined;
  try {
    activated = (await activationOf(i.admin, i.activation === 'download')).activated;
  } catch (err) {
    const f = classifyFailure(err);
    if (f.kind === 'credential') throw err; // no HSM can be checked without a token: the command says how to sign in
    if (f.kind === 'unreachable') return { ...base, reachable: false, problem: f.text };
    if (f.kind !== 'denied') return { ...base, reachable: true, problem: `activation status: ${f.text}` };
    denied.push(`activation status (${f.text}; needs Managed HSM Administrator)`);
  }
  let count: number | undefined;
  const expiring: string[] = [];
  if (activated !== false) {
    try {
      count = 0;
      for await (const k of i.keys.listPropertiesOfKeys()) {
        count++;
        if (k.expiresOn && k.expiresOn.getTime() - now < days * 86_400_000) expiring.push(`${k.name} (${k.expiresOn.toISOString().slice(0, 10)})`);
      }
      activated = true; // keys answer only on an activated HSM
    } catch (err) {
      count = undefined;
      const f = classifyFailure(err);
      if (f.kind === 'unreachable') return { ...base, reachable: false, problem: f.text };
      if (f.kind !== 'denied') return { ...base, reachable: true, activated, problem: `keys: ${f.text}` };
      denied.push(`keys (${f.text}; needs Managed HSM Crypto User or Crypto Auditor at /keys)`);
    }
  }
  const quorum = activated === undefined ? undefined : typeof i.quorum === 'function' ? i.quorum(activated) : i.quorum;
  return {
    ...base,
    reachable: true,
    accessDenied: denied.length ? denied : undefined,
    activated,
    quorum,
    keys: count,
    keysExpiringSoon: count === undefined ? undefined : expiring,
    lastBackup: i.lastBackup,
  };
}

/** Whether a status row is healthy: the HSM answered, let the credential read everything, and had no problem. */
export function statusOk(r: HsmStatus): boolean {
  return r.reachable && !r.problem && !r.accessDenied;
}

/** The names in LunaSH `client list` output ("registered client 1: name"). */
export function parseClientList(out: string): string[] {
  return out
    .split(/\r?\n/)
    .map((l) => /^\s*registered client \d+:\s*(\S.*?)\s*$/i.exec(l)?.[1])
    .filter((n): n is string => !!n);
}

export function formatStatus(r: HsmStatus, expiringDays = EXPIRING_DAYS): string {
  const parts = [`${r.kind} ${r.hsm}: ${r.reachable ? 'reachable' : 'UNREACHABLE'}`];
  if (r.accessDenied) parts.push(`access denied: ${r.accessDenied.join(', ')}`);
  if (r.activated !== undefined) parts.push(r.activated ? `activated${r.quorum ? ` (quorum ${r.quorum})` : ''}` : 'not activated');
  if (r.keys !== undefined) parts.push(`${r.keys} keys`, `expiring within ${expiringDays} days: ${r.keysExpiringSoon!.length ? r.keysExpiringSoon!.join(', ') : 'none'}`);
  if (r.registeredClients) parts.push(`clients: ${r.registeredClients.join(', ') || 'none'}`);
  if (r.lastBackup) parts.push(`last backup ${r.lastBackup}`);
  if (r.problem) parts.push(r.problem);
  if (r.notChecked) parts.push(`not checked: ${r.notChecked}`);
  return parts.join('; ');
}
