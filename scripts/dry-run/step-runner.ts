/**
 * Runs the dry-run's steps in order, shows progress with timings, and keeps a machine-readable record of
 * each: what it did (its summary lines and details), how long it took, and, for the step that failed,
 * why. A failed step stops the run; everything it made stays in the state folder for inspection.
 */
export interface StepResult {
  readonly name: string;
  readonly status: 'ok' | 'failed' | 'skipped';
  /** Wall time, rounded to the millisecond. */
  readonly seconds: number;
  readonly summary: string[];
  readonly details?: unknown;
  readonly error?: string;
  /** Why a step was skipped: what the environment lacks for it, or the step that failed before it. */
  readonly reason?: string;
}

/** What a step returns when the environment gives it nothing to do (see StepContext.skip). */
export class Skipped {
  constructor(readonly reason: string) {}
}

export interface StepContext {
  /** A line for the human-readable progress (and the report): say what is being done as it starts. */
  say(line: string): void;
  /** The step does not apply to this environment: `return skip('no Managed HSM')`. */
  skip(reason: string): Skipped;
}

export interface Step {
  readonly name: string;
  run(ctx: StepContext): Promise<unknown>;
}

export class StepFailed extends Error {
  constructor(readonly step: string, readonly cause: Error) {
    super(`step "${step}" failed: ${cause.message}`);
  }
}

export async function runSteps(steps: readonly Step[], progress: (line: string) => void): Promise<StepResult[]> {
  const results: StepResult[] = [];
  for (const [i, step] of steps.entries()) {
    const summary: string[] = [];
    progress(`[${i + 1}/${steps.length}] ${step.name}`);
    const started = process.hrtime.bigint();
    const seconds = () => Math.round(Number(process.hrtime.bigint() - started) / 1e6) / 1000;
    try {
      const details = await step.run({
        say: (line) => {
          summary.push(line);
          progress(`      ${line}`);
        },
        skip: (reason) => new Skipped(reason),
      });
      if (details instanceof Skipped) {
        results.push({ name: step.name, status: 'skipped', seconds: seconds(), summary, reason: details.reason });
        progress(`      skipped: ${details.reason}`);
        continue;
      }
      results.push({ name: step.name, status: 'ok', seconds: seconds(), summary, details });
      progress(`      done in ${seconds().toFixed(2)} s`);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      results.push({ name: step.name, status: 'failed', seconds: seconds(), summary, error: error.message });
      for (const rest of steps.slice(i + 1)) results.push({ name: rest.name, status: 'skipped', seconds: 0, summary: [], reason: `not run: "${step.name}" failed` });
      progress(`      FAILED after ${seconds().toFixed(2)} s: ${error.message}`);
      return results;
    }
  }
  return results;
}

/** "9 passed, 1 skipped" */
export function countSteps(results: readonly StepResult[]): string {
  const n = (s: StepResult['status']) => results.filter((r) => r.status === s).length;
  return [`${n('ok')} passed`, n('skipped') ? `${n('skipped')} skipped` : '', n('failed') ? `${n('failed')} failed` : ''].filter(Boolean).join(', ');
}
