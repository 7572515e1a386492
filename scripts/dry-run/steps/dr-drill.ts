import { runDrDrill } from '../../ceremonies/dr-drill';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { drManagedHsm, primaryManagedHsms } from '../hsm-clients';
import { securityDomainDir } from './activate';

/**
 * Step 9a: the disaster-recovery drill from the primary Managed HSM into the DR stack's: full backup to
 * Azurite, security-domain recovery with a quorum of the wrapping keys, restore, and proof that every key
 * version signs verifiably and decrypts what the primary encrypted.
 */
export function drDrillStep(ctx: DryRunContext): Step {
  return {
    name: 'disaster-recovery drill',
    async run({ say, skip }) {
      const source = primaryManagedHsms(ctx)[0];
      const target = drManagedHsm(ctx);
      if (!source || !target) return skip(!source ? 'no Managed HSM' : 'no disasterRecovery in the config (its Managed HSM is the drill target)');
      const storage = await ctx.azurite!.containerSas('mhsm-backups');
      const report = await runDrDrill({
        simulatorDir: ctx.simulatorDir,
        source: source.name,
        target: target.name,
        storage,
        sdDir: securityDomainDir(ctx, source.name),
        keySize: ctx.securityDomain.keyBits,
        certs: ctx.securityDomain.certificates,
        quorum: ctx.securityDomain.quorum,
        targetMayBeRecovered: true,
        log: (line) => say(line.trim()),
      });
      if (!report.ok) throw new Error(`the drill failed: ${report.error}`);
      ctx.facts.lastBackup = { hsm: source.name, folder: report.folder, at: new Date().toISOString() };
      say(`${report.versionsChecked} key versions of ${source.name} proven on ${target.name}`);
      return report;
    },
  };
}
