import * as path from 'path';
import { downloadSecurityDomain, isActivated, makeWrappingKeys } from '../../ceremonies/security-domain';
import { readEndpoints } from '../../clients/target';
import { Step } from '../step-runner';
import { DryRunContext } from '../context';
import { hsmClients, hsmUriOf, primaryManagedHsms } from '../hsm-clients';

/** Where a Managed HSM's security-domain file and wrapping keys are kept (0600 files in a 0700 folder). */
export function securityDomainDir(ctx: DryRunContext, hsm: string): string {
  return path.join(ctx.stateDir, 'ceremonies', hsm, 'security-domain');
}

/**
 * Step 4: activates each primary Managed HSM by downloading its security domain under N new certificates
 * with quorum M (from the config; 3 and 2 by default), as `hsmctl sd activate` does. An HSM already active
 * from an earlier run is left as it is.
 */
export function activateStep(ctx: DryRunContext): Step {
  return {
    name: 'activate the security domains',
    async run({ say }) {
      ctx.endpoints = readEndpoints(ctx.simulatorDir);
      const { certificates, quorum, keyBits } = ctx.securityDomain;
      const done: Array<Record<string, unknown>> = [];
      for (const m of primaryManagedHsms(ctx)) {
        const { admin } = hsmClients(ctx, hsmUriOf(ctx, m.name));
        const out = securityDomainDir(ctx, m.name);
        if (await isActivated(admin)) {
          say(`${m.name}: already active (security domain in ${out})`);
          done.push({ hsm: m.name, activated: 'earlier run' });
          continue;
        }
        say(`${m.name}: making ${certificates} RSA-${keyBits} wrapping keys and certificates with openssl`);
        const made = await makeWrappingKeys(certificates, keyBits, 365, `${m.name} security domain`);
        say(`${m.name}: downloading the security domain (quorum ${quorum} of ${certificates}) and waiting for Success`);
        const r = await downloadSecurityDomain(admin, { out, required: quorum, made });
        say(`${m.name}: ${r.certificates} x RSA-${keyBits} certificates, quorum ${r.required}: ${r.status.status}; file and keys in ${out}`);
        done.push({ hsm: m.name, activated: 'now', certificates: r.certificates, quorum: r.required });
      }
      ctx.facts.securityDomains = done;
      return done;
    },
  };
}
