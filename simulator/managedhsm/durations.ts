/**
 * ISO 8601 durations as rotation policies use them (P90D, P1Y, P2M, P1Y2M10D, P4W); time parts are refused as
 * the service refuses them. Returns days (a year is 365, a month 30) or undefined when malformed.
 */
export function durationDays(s: string): number | undefined {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$/.exec(s);
  if (!m || s === 'P') return undefined;
  const [, y, mo, w, d] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return y * 365 + mo * 30 + w * 7 + d;
}
