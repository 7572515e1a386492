import { RequestContext } from '../http/server';
import type { ManagedHsmInstance } from './instance';
import type { HsmPlatform } from '../attestation/hsm-platform';

/** A data-plane request after authentication: who calls, and which instance answers. */
export interface HsmContext extends RequestContext {
  readonly principal: string;
  readonly instance: ManagedHsmInstance;
  readonly apiVersion: string;
  /** The simulated HSM hardware: vendor chain, release signer, outbound HTTPS. */
  readonly platform: HsmPlatform;
}
