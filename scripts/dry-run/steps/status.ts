import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf } from '../hsm-clients';
import { HsmStatus, formatStatus, managedHsmStatus } from '../../ceremonies/status';

export type { HsmStatus } from '../../ceremonies/status';

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
        const d = domains.find((x) => x.hsm === m.name);
        let row: HsmStatus;
        try {
          const { admin, keys } = hsmClients(ctx, hsmUriOf(ctx, m.name));
          row = await managedHsmStatus({
            name: m.name,
            admin,
            keys,
            quorum: (activated) => (d?.quorum ? `${d.quorum} of ${d.certificates}` : activated ? `${ctx.securityDomain.quorum} of ${ctx.securityDomain.certificates}` : undefined),
            lastBackup: lastBackup?.hsm === m.name ? `${lastBackup.at} (${lastBackup.folder})` : undefined,
          });
        } catch (err) {
          row = { hsm: m.name, kind: 'Managed HSM', reachable: false, problem: (err as Error).message };
        }
        rows.push(row);
      }
      const luna = (ctx.facts.luna ?? {}) as Record<string, { clients: string[] }>;
      for (const d of ctx.estate!.dedicatedHsms) {
        const appliance = ctx.endpoints?.dedicatedHsms.find((x) => x.name === d.name);
        rows.push({
          hsm: d.name,
          kind: 'Dedicated HSM',
          reachable: !!appliance?.sshPort,
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
