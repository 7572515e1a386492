import { createHash } from 'crypto';
import { CompactSign } from 'jose';
import { HsmPlatform } from '../attestation/hsm-platform';
import { KeyService } from './keys';
import { VersionRecord } from './model';

/**
 * Key attestation (api-version 7.6): attributes.attestation = {certificatePemFile, privateKeyAttestation,
 * publicKeyAttestation (asymmetric keys only), version}, each base64url, as the REST spec and SDKs carry them.
 * The real blobs are the HSM vendor's binary format (Marvell LiquidSecurity), which is not published; here each
 * blob is a compact JWS signed by the simulated vendor's device key (RS256) over a JSON statement of what the
 * token itself records for the key (class, type, sensitive, extractable, generated in the token, ...) and its
 * public key digest, and certificatePemFile is the PEM chain device -> vendor root that verifies it.
 */
export async function keyAttestation(keys: KeyService, platform: HsmPlatform, hsm: string, v: VersionRecord, kid: string) {
  const facts = await keys.token.attestedAttributes(v.version);
  const publicKeySha256 = v.pub ? createHash('sha256').update(JSON.stringify(v.pub)).digest('base64url') : undefined;
  const statement = (object: 'private' | 'public') => ({
    format: 'azure-hsm-cdktf-simulated-key-attestation/1',
    hsm,
    kid,
    object,
    kty: `${v.kty}-HSM`,
    ...(v.size ? { keySize: v.size } : {}),
    ...(v.crv ? { crv: v.crv } : {}),
    ...(object === 'private' ? { attributes: facts.key } : { attributes: { CKA_CLASS: 2, CKA_LOCAL: facts.key.CKA_LOCAL } }),
    ...(publicKeySha256 ? { publicKeySha256 } : {}),
    issuedAt: Math.floor(Date.now() / 1000),
  });
  const sign = async (o: object) =>
    Buffer.from(await new CompactSign(Buffer.from(JSON.stringify(o))).setProtectedHeader({ alg: 'RS256', 'x5t#S256': createHash('sha256').update(platform.device.chain[0].raw).digest('base64url') }).sign(platform.device.key)).toString('base64url');
  const pem = platform.device.chain.map((c) => c.toString()).join('');
  return {
    certificatePemFile: Buffer.from(pem).toString('base64url'),
    privateKeyAttestation: await sign(statement('private')),
    ...(v.kty !== 'oct' && facts.hasPublic ? { publicKeyAttestation: await sign(statement('public')) } : {}),
    version: '1.0.0',
  };
}
