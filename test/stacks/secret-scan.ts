/**
 * Scans synthesized Terraform JSON for anything that looks like a secret written in clear: private keys,
 * literal values under secret-named attributes, SAS signatures, account keys, tokens. VM custom_data and
 * user_data are base64 in the JSON (as synth writes them): they are decoded and scanned too.
 */
const SECRET_NAMED = /(password|secret|private_key|sas_token|access_key|client_certificate|security_domain)/i;
const BASE64_ATTRIBUTES = new Set(['custom_data', 'user_data']);
const CLEAR_SECRET_TEXT: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'PEM private key'],
  [/AccountKey=[A-Za-z0-9+/=]{20,}/, 'storage account key'],
  [/[?&]sig=[A-Za-z0-9%+/=]{20,}/, 'SAS signature'],
  [/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'JSON web token'],
];

function scanText(text: string, path: string, extraSecrets: string[], note = ''): string[] {
  const found = CLEAR_SECRET_TEXT.filter(([re]) => re.test(text)).map(([, what]) => `${path}: ${what}${note}`);
  return found.concat(extraSecrets.filter((s) => text.includes(s)).map(() => `${path}: a known secret value${note}`));
}

/** The base64 text decoded, when it is base64 (a reference or plain text is left alone). */
function decodedBase64(value: string): string | undefined {
  if (value.includes('${') || !/^[A-Za-z0-9+/]+={0,2}$/.test(value.replace(/\s/g, ''))) return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}

export function findClearSecrets(value: unknown, path = '$', extraSecrets: string[] = []): string[] {
  if (typeof value === 'string') return scanText(value, path, extraSecrets);
  if (Array.isArray(value)) return value.flatMap((v, i) => findClearSecrets(v, `${path}[${i}]`, extraSecrets));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => {
      const literal = typeof v === 'string' && !/^\$\{.*\}$/.test(v);
      const named = SECRET_NAMED.test(k) && literal && k !== 'sensitive' ? [`${path}.${k}: literal value under a secret-named attribute`] : [];
      const decoded = BASE64_ATTRIBUTES.has(k) && typeof v === 'string' ? decodedBase64(v) : undefined;
      const inDecoded = decoded === undefined ? [] : scanText(decoded, `${path}.${k}`, extraSecrets, ' (base64-decoded)');
      return named.concat(inDecoded, findClearSecrets(v, `${path}.${k}`, extraSecrets));
    });
  }
  return [];
}
