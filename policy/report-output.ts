import { writeFileSync } from 'fs';
import { CheckReport, formatJson, formatText, openFindings } from './check-report';
import { toSarif } from './sarif';

export const REPORT_FORMATS = ['text', 'json', 'sarif'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/**
 * Prints (or writes to `output`) the report in the chosen format and returns the exit code: 0 when nothing
 * is open, 1 when a violation is. With `output`, the text verdict still goes to stdout.
 */
export function emitReport(report: CheckReport, format: ReportFormat, output?: string): number {
  const version = (require('../package.json') as { version: string }).version;
  const body = format === 'json' ? formatJson(report) : format === 'sarif' ? JSON.stringify(toSarif(report, { version }), null, 2) : formatText(report);
  if (output !== undefined) {
    writeFileSync(output, `${body}\n`, { mode: 0o644 });
    const lines = formatText(report).split('\n');
    console.log(`${lines[lines.length - 1]}; ${format} report written to ${output}`);
  } else {
    console.log(body);
  }
  return openFindings(report).length === 0 ? 0 : 1;
}
