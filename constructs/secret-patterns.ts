/**
 * Heuristics for text that looks like it carries a secret (custom data, config). Returns a short reason
 * naming what matched, never the matched value itself.
 */
const PATTERNS: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a PEM private key'],
  [/\b(password|passwd|pwd|secret|client_secret|api[_-]?key|access[_-]?key|token|sas|connection[_-]?string)\s*[:=]\s*["']?[^\s"'#]{4,}/i, 'an assignment to a secret-looking field'],
  [/\bAccountKey=[A-Za-z0-9+/=]{20,}/, 'a storage account key'],
  [/\bsig=[A-Za-z0-9%+/=]{20,}/, 'a SAS signature'],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'a JSON web token'],
];

export function findSecretLikeContent(text: string): string | undefined {
  for (const [pattern, reason] of PATTERNS) if (pattern.test(text)) return reason;
  return undefined;
}
