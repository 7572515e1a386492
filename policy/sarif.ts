import { relative, sep } from 'path';
import { CheckReport, WaiverOrigin } from './check-report';

/** The schema a SARIF 2.1.0 log names in its $schema. */
export const SARIF_SCHEMA_URI = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

function uriOf(file: string, base: string): string {
  const path = relative(base, file).split(sep).join('/');
  return path.split('/').map(encodeURIComponent).join('/');
}

/**
 * A check report as SARIF 2.1.0, the format CI code scanning reads: one run, its rules under
 * tool.driver.rules, one result per finding located at the file (and line) of the resource, the address as
 * a logical location. Acknowledged findings are results with an external suppression and its reason.
 */
/**
 * An acknowledgement as a SARIF suppression. Waivers a reviewer should look at (naming no construct, or for
 * every address) say so in the justification and in properties (namesNoConstruct, everyAddress).
 */
function suppression(reason: string, waiver: WaiverOrigin | undefined): object {
  if (!waiver) return { kind: 'external', justification: reason };
  const notes = [waiver.construct === undefined ? 'the waiver names no construct' : '', waiver.everyAddress ? 'the waiver covers every address ("*")' : ''].filter((n) => n !== '');
  return {
    kind: 'external',
    justification: notes.length > 0 ? `${reason} (${notes.join('; ')})` : reason,
    properties: { ...(waiver.construct !== undefined ? { construct: waiver.construct } : {}), namesNoConstruct: waiver.construct === undefined, everyAddress: waiver.everyAddress },
  };
}

export function toSarif(report: CheckReport, options: { version: string; base?: string }): object {
  const base = options.base ?? process.cwd();
  const ruleIndex = new Map(report.rules.map((r, i) => [r.id, i]));
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'hsmctl',
            fullName: `hsmctl ${report.command} (azure-hsm-cdktf)`,
            version: options.version,
            rules: report.rules.map((r) => ({
              id: r.id,
              name: r.id.replace(/-/g, ''),
              shortDescription: { text: r.title },
              help: { text: `Fix: ${r.fix}` },
              defaultConfiguration: { level: 'error' },
            })),
          },
        },
        results: report.findings.map((f) => ({
          ruleId: f.ruleId,
          ruleIndex: ruleIndex.get(f.ruleId) ?? -1,
          level: 'error',
          message: { text: f.message },
          locations: [
            {
              ...(f.file
                ? { physicalLocation: { artifactLocation: { uri: uriOf(f.file, base) }, ...(f.line ? { region: { startLine: f.line } } : {}) } }
                : {}),
              logicalLocations: [{ fullyQualifiedName: f.address, kind: f.address.startsWith('module.') ? 'module' : 'resource' }],
            },
          ],
          ...(f.acknowledged !== undefined ? { suppressions: [suppression(f.acknowledged, f.waiver)] } : {}),
        })),
      },
    ],
  };
}
