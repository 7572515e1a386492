import { TokenCredential } from '@azure/identity';
import type { Endpoints, SimulatorHandle } from '../../simulator';
import type { Azurite } from '../../simulator/storage/azurite';
import type { EnvironmentConfig } from '../../stacks/environment-config';
import type { SynthesizedEstate } from './synthesized-estate';

/** What the dry-run's steps share; each step fills in what later ones need. */
export interface DryRunContext {
  readonly env: string;
  readonly config: EnvironmentConfig;
  /** Everything the run makes lives here: cdktf.out/, simulator/, azurite/, ceremonies/. */
  readonly stateDir: string;
  /** The synthesized JSON (stateDir/cdktf.out). */
  readonly outdir: string;
  /** The simulator's state folder: ours (stateDir/simulator) or the one given with --simulator. */
  readonly simulatorDir: string;
  /** Whether this run starts the simulator (false with --simulator DIR). */
  readonly ownSimulator: boolean;
  readonly subscriptionId: string;
  /** Certificates and quorum of each security domain. */
  readonly securityDomain: { readonly certificates: number; readonly quorum: number; readonly keyBits: number };
  estate?: SynthesizedEstate;
  sim?: SimulatorHandle;
  endpoints?: Endpoints;
  /** PEM of the simulator's CA. */
  ca?: string;
  /** The operator: an administrator of the Managed HSMs, and the caller of ARM. */
  operator?: { readonly objectId: string; readonly credential: TokenCredential };
  azurite?: Azurite;
  /** Facts steps leave for the status report. */
  readonly facts: Record<string, unknown>;
  readonly cleanups: Array<() => Promise<void> | void>;
}
