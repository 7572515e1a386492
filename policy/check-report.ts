/**
 * The outcome of `hsmctl policy check` or `hsmctl plan check`: the findings (rules and the plan guard),
 * open or acknowledged, and how to print them as text or JSON (SARIF is in sarif.ts).
 */
export interface ReportFinding {
  readonly ruleId: string;
  readonly address: string;
  readonly problem: string;
  /** One line with the rule, the address, the problem, the fix and how to waive it. */
  readonly message: string;
  /** The file the resource was read from (for SARIF locations). */
  readonly file?: string;
  /** 1-based line of the resource in that file, when found. */
  readonly line?: number;
  /** The recorded reason when an acknowledgement waives it. */
  readonly acknowledged?: string;
}

export interface RuleDescription {
  readonly id: string;
  readonly title: string;
  readonly fix: string;
}

export interface CheckReport {
  readonly command: 'policy check' | 'plan check';
  readonly inputs: readonly string[];
  readonly rules: readonly RuleDescription[];
  readonly findings: readonly ReportFinding[];
}

export function openFindings(report: CheckReport): ReportFinding[] {
  return report.findings.filter((f) => f.acknowledged === undefined);
}

export function formatText(report: CheckReport): string {
  const open = openFindings(report);
  const waived = report.findings.filter((f) => f.acknowledged !== undefined);
  const lines = open.map((f) => `${f.file ? `${f.file}: ` : ''}${f.message}`);
  if (waived.length > 0) {
    lines.push(`acknowledged (${waived.length}):`, ...waived.map((f) => `  ${f.ruleId} ${f.address}: ${f.acknowledged}`));
  }
  const verdict = open.length === 0 ? 'passed' : `failed: ${open.length} violation${open.length === 1 ? '' : 's'}`;
  lines.push(`hsmctl ${report.command} ${verdict} (${report.inputs.join(', ')}; ${waived.length} acknowledged)`);
  return lines.join('\n');
}

export function formatJson(report: CheckReport): string {
  const open = openFindings(report);
  return JSON.stringify(
    {
      command: report.command,
      inputs: report.inputs,
      passed: open.length === 0,
      violations: open.map(({ acknowledged: _, ...f }) => f),
      acknowledged: report.findings.filter((f) => f.acknowledged !== undefined),
    },
    null,
    2,
  );
}

/** The 1-based line of a JSON text where a sequence of fragments first appears in order; undefined when it does not. */
export function lineOf(text: string, fragments: readonly string[]): number | undefined {
  let at = 0;
  for (const fragment of fragments) {
    const found = text.indexOf(fragment, at);
    if (found < 0) return undefined;
    at = found;
  }
  return text.slice(0, at).split('\n').length;
}
