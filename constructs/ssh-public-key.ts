/** Reads an OpenSSH public key line ("ssh-rsa AAAA... comment") far enough to know its type and size. */
export interface SshPublicKeyInfo {
  readonly type: string;
  /** Modulus length in bits for RSA keys. */
  readonly bits?: number;
}

function readString(buf: Buffer, offset: number): { value: Buffer; next: number } | undefined {
  if (offset + 4 > buf.length) return undefined;
  const len = buf.readUInt32BE(offset);
  if (offset + 4 + len > buf.length) return undefined;
  return { value: buf.subarray(offset + 4, offset + 4 + len), next: offset + 4 + len };
}

/** undefined when the text is not a well-formed OpenSSH public key line. */
export function parseSshPublicKey(text: string): SshPublicKeyInfo | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || !/^[A-Za-z0-9+/]+={0,2}$/.test(parts[1])) return undefined;
  const blob = Buffer.from(parts[1], 'base64');
  const type = readString(blob, 0);
  if (!type || type.value.toString('latin1') !== parts[0]) return undefined;
  if (parts[0] !== 'ssh-rsa') return { type: parts[0] };
  const exponent = readString(blob, type.next);
  const modulus = exponent && readString(blob, exponent.next);
  if (!modulus || modulus.next !== blob.length) return undefined;
  let n = modulus.value;
  while (n.length > 0 && n[0] === 0) n = n.subarray(1);
  const bits = n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0]));
  return { type: 'ssh-rsa', bits };
}
