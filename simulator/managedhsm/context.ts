import { RequestContext } from '../http/server';
import type { ManagedHsmInstance } from './instance';

/** A data-plane request after authentication: who calls, and which instance answers. */
export interface HsmContext extends RequestContext {
  readonly principal: string;
  readonly instance: ManagedHsmInstance;
  readonly apiVersion: string;
}
