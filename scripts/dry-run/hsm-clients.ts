import { KeyClient } from '@azure/keyvault-keys';
import { ManagedHsmAdminClient } from '../clients/mhsm-admin';
import { DryRunContext } from './context';

/** The data-plane clients of one Managed HSM, acting as the operator and trusting the simulator's CA. */
export function hsmClients(ctx: DryRunContext, hsmUri: string) {
  const credential = ctx.operator!.credential;
  const admin = new ManagedHsmAdminClient(hsmUri, credential, { ca: ctx.ca, pollIntervalMs: 100 });
  ctx.cleanups.push(() => admin.close());
  const keyClientOptions = {
    // The simulator answers on 127.0.0.1, not on *.managedhsm.azure.net.
    disableChallengeResourceVerification: true,
    ...(ctx.ca ? { tlsOptions: { ca: ctx.ca } } : {}),
    retryOptions: { maxRetries: 2 },
  } as ConstructorParameters<typeof KeyClient>[2];
  return { admin, keys: new KeyClient(hsmUri, credential, keyClientOptions), keyClientOptions };
}

/** The simulator's hsmUri of a Managed HSM the ARM plane created. */
export function hsmUriOf(ctx: DryRunContext, name: string): string {
  const m = ctx.endpoints?.managedHsms.find((h) => h.name === name.toLowerCase());
  if (!m) throw new Error(`the simulator has no Managed HSM named ${name}`);
  return m.hsmUri;
}

/** The Managed HSMs to activate: the primary stack's (the DR stack's stays unactivated for the drill). */
export function primaryManagedHsms(ctx: DryRunContext) {
  return ctx.estate!.managedHsms.filter((m) => m.stack === `hsm-${ctx.env}`);
}

export function drManagedHsm(ctx: DryRunContext) {
  return ctx.estate!.managedHsms.find((m) => m.stack === `hsm-${ctx.env}-dr`);
}
