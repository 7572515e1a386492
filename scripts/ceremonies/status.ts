import type { KeyClient } from '@azure/keyvault-keys';
import { ManagedHsmAdminClient } from '../clients/mhsm-admin';

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
  readonly accessible: boolean;
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
  try {
    const { activated } = await activationOf(i.admin, i.activation === 'download');
    let count = 0;
    const expiring: string[] = [];
    if (activated) {
      for await (const k of i.keys.listPropertiesOfKeys()) {
        count++;
        if (k.expiresOn && k.expiresOn.getTime() - now < days * 86_400_000) expiring.push(`${k.name} (${k.expiresOn.toISOString().slice(0, 10)})`);
      }
    }
    const quorum = typeof i.quorum === 'function' ? i.quorum(activated) : i.quorum;
    return {
      hsm: i.name,
      kind: 'Managed HSM',
      accessible: true,
      activated,
      quorum,
      keys: activated ? count : undefined,
      keysExpiringSoon: activated ? expiring : undefined,
      lastBackup: i.lastBackup,
    };
  } catch (err) {
    return { hsm: i.name, kind: 'Managed HSM', accessible: false, problem: (err as Error).message };
  }
}

/** The names in LunaSH `client list` output ("registered client 1: name"). */
export function parseClientList(out: string): string[] {
  return out
    .split(/\r?\n/)
    .map((l) => /^\s*registered client \d+:\s*(\S.*?)\s*$/i.exec(l)?.[1])
    .filter((n): n is string => !!n);
}

export function formatStatus(r: HsmStatus, expiringDays = EXPIRING_DAYS): string {
  const parts = [`${r.kind} ${r.hsm}: ${r.accessible ? 'accessible' : 'NOT accessible'}`];
  if (r.activated !== undefined) parts.push(r.activated ? `activated${r.quorum ? ` (quorum ${r.quorum})` : ''}` : 'not activated');
  if (r.keys !== undefined) parts.push(`${r.keys} keys`, `expiring within ${expiringDays} days: ${r.keysExpiringSoon!.length ? r.keysExpiringSoon!.join(', ') : 'none'}`);
  if (r.registeredClients) parts.push(`clients: ${r.registeredClients.join(', ') || 'none'}`);
  if (r.lastBackup) parts.push(`last backup ${r.lastBackup}`);
  if (r.problem) parts.push(r.problem);
  if (r.notChecked) parts.push(`not checked: ${r.notChecked}`);
  return parts.join('; ');
}
