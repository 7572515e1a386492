/** IPv4 address and CIDR arithmetic for validating network layouts before Azure does. */

export interface Cidr {
  readonly text: string;
  /** Network address as an unsigned 32-bit number. */
  readonly network: number;
  readonly prefix: number;
  /** Number of addresses in the block. */
  readonly size: number;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function parseIpv4(text: string): number | undefined {
  if (typeof text !== 'string' || !IPV4.test(text)) return undefined;
  return text.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Parses "a.b.c.d/n"; undefined when malformed or when host bits are set (Azure refuses those too). */
export function parseCidr(text: string): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const match = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!match) return undefined;
  const address = parseIpv4(match[1]);
  const prefix = Number(match[2]);
  if (address === undefined || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) return undefined;
  return { text, network: address, prefix, size };
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return inner.network >= outer.network && inner.network + inner.size <= outer.network + outer.size;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network < b.network + b.size && b.network < a.network + a.size;
}

/**
 * Whether an address can be assigned to a NIC in the subnet: Azure reserves the network address, the
 * next three (gateway and DNS) and the broadcast address of every subnet.
 */
export function isAssignableInSubnet(ip: string, subnet: Cidr): boolean {
  const address = parseIpv4(ip);
  if (address === undefined) return false;
  return address >= subnet.network + 4 && address <= subnet.network + subnet.size - 2;
}
