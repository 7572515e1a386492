import { createHash } from 'crypto';

/**
 * A GUID derived from its inputs: role assignment names must be GUIDs and must not change between synths,
 * or Terraform would replace the assignment on every plan.
 */
export function deterministicGuid(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  // Version 5 style: set the version nibble and the RFC 4122 variant bits.
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
