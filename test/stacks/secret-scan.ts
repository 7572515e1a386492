/**
 * Scans synthesized Terraform JSON for anything that looks like a secret written in clear: private keys,
 * literal values under secret-named attributes, SAS signatures, account keys, tokens.
 */
const SECRET_NAMED = /(password|secret|private_key|sas_token|access_key|client_certificate|security_domain)/i;
const CLEAR_SECRET_TEXT: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'PEM private key'],
  [/AccountKey=[A-Za-z0-9+/=]{20,}/, 'storage account key'],
  [/[?&]sig=[A-Za-z0-9%+/=]{20,}/, 'SAS signature'],
  [/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'JSON web token'],
];

export function findClearSecrets(value: unknown, path = '$', extraSecrets: string[] = []): string[] {
  if (typeof value === 'string') {
    const found = CLEAR_SECRET_TEXT.filter(([re]) => re.test(value)).map(([, what]) => `${path}: ${what}`);
    return found.concat(extraSecrets.filter((s) => value.includes(s)).map(() => `${path}: a known secret value`));
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => findClearSecrets(v, `${path}[${i}]`, extraSecrets));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => {
      const literal = typeof v === 'string' && !/^\$\{.*\}$/.test(v);
      const named = SECRET_NAMED.test(k) && literal && k !== 'sensitive' ? [`${path}.${k}: literal value under a secret-named attribute`] : [];
      return named.concat(findClearSecrets(v, `${path}.${k}`, extraSecrets));
    });
  }
  return [];
}
