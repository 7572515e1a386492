import type { CheckReport } from '../../policy/check-report';
import { FlagSpecs, ParsedFlags, UsageError } from '../flags';

/** The report flags `policy check` and `plan check` share. */
export const REPORT_FLAGS: FlagSpecs = {
  format: { type: 'string', value: 'text|json|sarif', description: 'report format; default text' },
  output: { type: 'string', value: 'FILE', description: 'write the report to FILE (the verdict still goes to stdout)' },
};

/**
 * Checks --format, makes the report and prints or writes it; returns the exit code (0 nothing open, 1 violations).
 * An unreadable or malformed input is a usage error (exit 2). The policy modules load only here, so help stays fast.
 */
export function emitPolicyReport(flags: ParsedFlags, makeReport: () => CheckReport): number {
  const { REPORT_FORMATS, emitReport } = require('../../policy/report-output') as typeof import('../../policy/report-output');
  const format = (flags.format as string | undefined) ?? 'text';
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: allowed: ${REPORT_FORMATS.join(', ')}`);
  const { CheckInputError } = require('../../policy/terraform-json-files') as typeof import('../../policy/terraform-json-files');
  let report: CheckReport;
  try {
    report = makeReport();
  } catch (err) {
    if (err instanceof CheckInputError) throw new UsageError(err.message);
    throw err;
  }
  return emitReport(report, format as 'text', flags.output as string | undefined);
}
