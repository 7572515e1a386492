import { AzurermProvider } from '@cdktf/provider-azurerm/lib/provider';
import { Aspects, TerraformStack, Testing } from 'cdktf';
import { HsmNetwork, HsmNetworkProps } from '../constructs/hsm-network';
import { hsmProviderFeatures } from '../constructs/provider-features';
import { HsmPolicy } from '../policy/hsm-policy';

export type Json = Record<string, any>;

/** A fresh stack with the azurerm provider configured as the toolkit's stacks configure it. */
export function testStack(): TerraformStack {
  const stack = new TerraformStack(Testing.app(), 'test');
  new AzurermProvider(stack, 'azurerm', { features: [hsmProviderFeatures()] });
  return stack;
}

/** Synthesizes what `build` adds to a fresh stack; the policy aspect is added unless `policy: false`. */
export function synthStack(build: (stack: TerraformStack) => void, options: { policy?: boolean } = {}): Json {
  const stack = testStack();
  build(stack);
  if (options.policy !== false) Aspects.of(stack).add(new HsmPolicy());
  return JSON.parse(Testing.synth(stack, true));
}

/** The resources of one type, in synthesis order. */
export function resourcesOf(tf: Json, type: string): Json[] {
  return Object.values(tf.resource?.[type] ?? {});
}

export function onlyResource(tf: Json, type: string): Json {
  const all = resourcesOf(tf, type);
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}

export const BASE_NETWORK: HsmNetworkProps = {
  location: 'westeurope',
  resourceGroupName: 'rg-test',
  namePrefix: 'test',
  adminCidrs: ['203.0.113.0/24'],
};

export function network(stack: TerraformStack, props: Partial<HsmNetworkProps> = {}): HsmNetwork {
  return new HsmNetwork(stack, 'Network', { ...BASE_NETWORK, ...props });
}

/** A throwaway OpenSSH RSA public key of the given size, made with Node's crypto (no private key kept). */
export function sshRsaPublicKey(bits: number): string {
  const { generateKeyPairSync } = require('crypto') as typeof import('crypto');
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const mpint = (b64url: string) => {
    let bytes = Buffer.from(b64url, 'base64url');
    if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return bytes;
  };
  const part = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([part(Buffer.from('ssh-rsa')), part(mpint(jwk.e)), part(mpint(jwk.n))]);
  return `ssh-rsa ${blob.toString('base64')} test@example`;
}
