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
  /** Where the waiver came from, when a recorded acknowledgement waives it (not for --allow-destroy). */
  readonly waiver?: WaiverOrigin;
}

/**
 * Who made a recorded waiver and what it covers. A waiver naming no construct was not made by acknowledgePolicy
 * (hand-written JSON, another tool) and one for every address ('*') also waives resources added later: reports
 * list both apart, for a reviewer.
 */
export interface WaiverOrigin {
  /** The construct acknowledgePolicy was called on; absent when the waiver names none. */
  readonly construct?: string;
  /** The waiver covers every address of its configuration ('*'), not this one by name. */
  readonly everyAddress: boolean;
}

/** Acknowledged findings, split as reports show them: by a construct's waiver for this address, by a waiver naming no construct, by a '*' waiver. */
export function acknowledgedFindings(report: CheckReport): { byName: ReportFinding[]; withoutConstruct: ReportFinding[]; everyAddress: ReportFinding[] } {
  const waived = report.findings.filter((f) => f.acknowledged !== undefined);
  return {
    byName: waived.filter((f) => !f.waiver || (f.waiver.construct !== undefined && !f.waiver.everyAddress)),
    withoutConstruct: waived.filter((f) => f.waiver && f.waiver.construct === undefined),
    everyAddress: waived.filter((f) => f.waiver?.everyAddress),
  };
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
  const { byName, withoutConstruct, everyAddress } = acknowledgedFindings(report);
  const lines = open.map((f) => `${f.file ? `${f.file}: ` : ''}${f.message}`);
  const section = (title: string, findings: ReportFinding[], note: (f: ReportFinding) => string = () => '') => {
    if (findings.length > 0) lines.push(`${title} (${findings.length}):`, ...findings.map((f) => `  ${f.ruleId} ${f.address}: ${f.acknowledged}${note(f)}`));
  };
  section('acknowledged', byName);
  section('acknowledged by a waiver that names no construct (not made by acknowledgePolicy: review it)', withoutConstruct.filter((f) => !f.waiver!.everyAddress));
  section('acknowledged by a waiver for every address ("*": it also covers resources added later; review it)', everyAddress, (f) =>
    f.waiver!.construct === undefined ? ' (names no construct)' : ` (made on ${f.waiver!.construct})`,
  );
  const verdict = open.length === 0 ? 'passed' : `failed: ${open.length} violation${open.length === 1 ? '' : 's'}`;
  const review = [
    withoutConstruct.length > 0 ? `${withoutConstruct.length} by a waiver naming no construct` : '',
    everyAddress.length > 0 ? `${everyAddress.length} by a "*" waiver` : '',
  ].filter((r) => r !== '');
  lines.push(`hsmctl ${report.command} ${verdict} (${report.inputs.join(', ')}; ${waived.length} acknowledged${review.length > 0 ? `, of which ${review.join(', ')}` : ''})`);
  return lines.join('\n');
}

export function formatJson(report: CheckReport): string {
  const open = openFindings(report);
  const { withoutConstruct, everyAddress } = acknowledgedFindings(report);
  return JSON.stringify(
    {
      command: report.command,
      inputs: report.inputs,
      passed: open.length === 0,
      violations: open.map(({ acknowledged: _, waiver: __, ...f }) => f),
      acknowledged: report.findings.filter((f) => f.acknowledged !== undefined),
      acknowledgedWithoutConstruct: withoutConstruct,
      acknowledgedForEveryAddress: everyAddress,
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
