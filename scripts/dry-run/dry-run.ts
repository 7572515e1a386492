import * as path from 'path';
import { ensurePrivateDir } from '../../files/private-files';
import { EnvironmentConfig } from '../../stacks/environment-config';
import { DryRunContext } from './context';
import { StepResult, runSteps } from './step-runner';
import { activateStep } from './steps/activate';
import { byokStep } from './steps/byok';
import { clientScenariosStep } from './steps/client-scenarios';
import { drDrillStep } from './steps/dr-drill';
import { keysAndRolesStep } from './steps/keys-and-roles';
import { lunaStep } from './steps/luna';
import { provisionStep } from './steps/provision';
import { softDeleteStep } from './steps/soft-delete';
import { startSimulatorStep } from './steps/start-simulator';
import { statusStep } from './steps/status';
import { synthesizeStep } from './steps/synthesize';
import { auditTrailStep } from './steps/audit-trail';

export interface DryRunOptions {
  readonly env: string;
  readonly config: EnvironmentConfig;
  readonly stateDir: string;
  /** A running simulator's state folder; default: start one in stateDir/simulator. */
  readonly simulatorDir?: string;
  /** Bits of the security-domain wrapping keys (4096 as the seeds do; tests may use 2048). */
  readonly keyBits?: number;
  readonly progress: (line: string) => void;
}

export interface DryRunReport {
  readonly ok: boolean;
  readonly env: string;
  readonly stateDir: string;
  readonly seconds: number;
  readonly failedStep?: string;
  readonly steps: StepResult[];
  readonly status?: unknown;
}

/** The main job: config -> synthesized stacks -> provisioned and rehearsed HSM estate in the simulator. */
export async function runDryRun(o: DryRunOptions): Promise<DryRunReport> {
  const stateDir = path.resolve(o.stateDir);
  ensurePrivateDir(stateDir);
  const sd = o.config.managedHsm?.securityDomain ?? { certificates: 3, quorum: 2 };
  const ctx: DryRunContext = {
    env: o.env,
    config: o.config,
    stateDir,
    outdir: path.join(stateDir, 'cdktf.out'),
    simulatorDir: o.simulatorDir ? path.resolve(o.simulatorDir) : path.join(stateDir, 'simulator'),
    ownSimulator: !o.simulatorDir,
    subscriptionId: (o.config.subscriptionId ?? '00000000-0000-0000-0000-000000000000').toLowerCase(),
    securityDomain: { ...sd, keyBits: o.keyBits ?? 4096 },
    facts: {},
    cleanups: [],
  };
  const started = Date.now();
  let steps: StepResult[] = [];
  try {
    steps = await runSteps(
      [
        synthesizeStep(ctx),
        startSimulatorStep(ctx),
        provisionStep(ctx),
        activateStep(ctx),
        keysAndRolesStep(ctx),
        lunaStep(ctx),
        byokStep(ctx),
        clientScenariosStep(ctx),
        drDrillStep(ctx),
        softDeleteStep(ctx),
        statusStep(ctx),
        auditTrailStep(ctx),
      ],
      o.progress,
    );
  } finally {
    for (const c of ctx.cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  }
  const failed = steps.find((s) => s.status === 'failed');
  return { ok: !failed, env: o.env, stateDir, seconds: Math.round(Date.now() - started) / 1000, failedStep: failed?.name, steps, status: ctx.facts.status };
}
