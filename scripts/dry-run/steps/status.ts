import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf } from '../hsm-clients';
import { isActivated } from '../../ceremonies/security-domain';

const EXPIRING_DAYS = 30;

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
}

/**
 * Step 9b: a status report in the spirit of `show security hsm status`: per HSM whether it answers, whether it
 * is activated and with what quorum, its keys and those expiring within 30 days, registered clients, last backup.
 */
export function statusStep(ctx: DryRunContext): Step {
  return {
    name: 'status report',
    async run({ say }) {
      const rows: HsmStatus[] = [];
      const domains = (ctx.facts.securityDomains ?? []) as Array<{ hsm: string; certificates?: number; quorum?: number }>;
      const lastBackup = ctx.facts.lastBackup as { hsm: string; folder: string; at: string } | undefined;
      for (const m of ctx.estate!.managedHsms) {
        try {
          const { admin, keys } = hsmClients(ctx, hsmUriOf(ctx, m.name));
          const activated = await isActivated(admin);
          let count = 0;
          const expiring: string[] = [];
          if (activated) {
            for await (const k of keys.listPropertiesOfKeys()) {
              count++;
              if (k.expiresOn && k.expiresOn.getTime() - Date.now() < EXPIRING_DAYS * 86_400_000) expiring.push(`${k.name} (${k.expiresOn.toISOString().slice(0, 10)})`);
            }
          }
          const d = domains.find((x) => x.hsm === m.name);
          rows.push({
            hsm: m.name,
            kind: 'Managed HSM',
            accessible: true,
            activated,
            quorum: d?.quorum ? `${d.quorum} of ${d.certificates}` : activated ? `${ctx.securityDomain.quorum} of ${ctx.securityDomain.certificates}` : undefined,
            keys: activated ? count : undefined,
            keysExpiringSoon: activated ? expiring : undefined,
            lastBackup: lastBackup?.hsm === m.name ? `${lastBackup.at} (${lastBackup.folder})` : undefined,
          });
        } catch (err) {
          rows.push({ hsm: m.name, kind: 'Managed HSM', accessible: false, problem: (err as Error).message });
        }
      }
      const luna = (ctx.facts.luna ?? {}) as Record<string, { clients: string[] }>;
      for (const d of ctx.estate!.dedicatedHsms) {
        const appliance = ctx.endpoints?.dedicatedHsms.find((x) => x.name === d.name);
        rows.push({
          hsm: d.name,
          kind: 'Dedicated HSM',
          accessible: !!appliance?.sshPort,
          registeredClients: luna[d.name]?.clients,
          problem: appliance?.sshPort ? undefined : 'no Luna appliance answers for it',
        });
      }
      for (const r of rows) say(formatStatus(r));
      ctx.facts.status = rows;
      return rows;
    },
  };
}

function formatStatus(r: HsmStatus): string {
  const parts = [`${r.kind} ${r.hsm}: ${r.accessible ? 'accessible' : 'NOT accessible'}`];
  if (r.activated !== undefined) parts.push(r.activated ? `activated (quorum ${r.quorum})` : 'not activated');
  if (r.keys !== undefined) parts.push(`${r.keys} keys`, `expiring within ${EXPIRING_DAYS} days: ${r.keysExpiringSoon!.length ? r.keysExpiringSoon!.join(', ') : 'none'}`);
  if (r.registeredClients) parts.push(`clients: ${r.registeredClients.join(', ') || 'none'}`);
  if (r.lastBackup) parts.push(`last backup ${r.lastBackup}`);
  if (r.problem) parts.push(r.problem);
  return parts.join('; ');
}
