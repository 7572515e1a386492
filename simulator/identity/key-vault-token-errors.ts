import { TokenRefusal } from './tokens';

/**
 * The 401 message Key Vault and Managed HSM give for each token refusal. Worded from the service's answers seen
 * in public reports: AKV10022 (audience), AKV10032 (issuer), AKV10046 (signing key), "Token not yet valid" and
 * "[TokenExpired] ..." ; the wording for a malformed token or a bad signature is the simulator's.
 */
export function keyVaultTokenMessage(r: TokenRefusal): string {
  switch (r.reason) {
    case 'audience':
      return `AKV10022: Invalid audience. Expected ${r.expected}, found: ${r.found?.slice(0, 100)}.`;
    case 'issuer':
      return `AKV10032: Invalid issuer. Expected one of ${r.expected}, found ${r.found?.slice(0, 100)}.`;
    case 'unknown-key':
      return 'AKV10046: Unable to resolve the key used for signature validation.';
    case 'expired':
      return `[TokenExpired] Error validating token: ${r.message}.`;
    case 'not-yet-valid':
      return `Token not yet valid: ${r.message}.`;
    default:
      return `Token validation failed: ${r.message}.`;
  }
}
