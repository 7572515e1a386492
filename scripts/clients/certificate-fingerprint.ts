import { X509Certificate } from 'crypto';

/**
 * A certificate's SHA-256 fingerprint as LunaSH prints it (`client fingerprint`, `hsm show`): uppercase hex pairs
 * joined by colons, which is Node's own X509Certificate.fingerprint256.
 */
export function certificateFingerprint(certificate: string | Buffer): string {
  return new X509Certificate(certificate).fingerprint256;
}
