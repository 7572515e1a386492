import * as fs from 'fs';
import type { KeyClient, KeyVaultKey } from '@azure/keyvault-keys';
import { CeremonyError } from '../failure';
import { PublicPart, stripZeros } from '../clients/pkcs11-token';

/**
 * Bring Your Own Key into a Managed HSM (seed 003; learn.microsoft.com .../keys/byok-specification): a key exchange
 * key (KEK) in the HSM, RSA-HSM with key_ops ["import"] only; the target key wrapped for it in the source HSM
 * (CKM_RSA_AES_KEY_WRAP); the transfer blob (.byok) that carries it; its import as an HSM key. The same calls
 * against Azure and the simulator.
 */
export const KEK_SIZES = [2048, 3072, 4096];

export interface ByokFile {
  readonly schema_version: '1.0.0';
  readonly header: { readonly kid: string; readonly alg: 'dir'; readonly enc: 'CKM_RSA_AES_KEY_WRAP' };
  readonly ciphertext: string;
  readonly generator: string;
}

/** Why a key cannot serve as a KEK, or undefined when it can. */
export function kekProblem(k: KeyVaultKey): string | undefined {
  const kty = String(k.keyType);
  if (kty !== 'RSA-HSM' && kty !== 'RSA') return `it is ${kty}; a KEK is RSA-HSM`;
  const ops = (k.keyOperations ?? []).map(String);
  if (ops.length !== 1 || ops[0] !== 'import') return `its key_ops are [${ops.join(', ')}]; a KEK has key_ops ["import"] only`;
  const bits = k.key?.n ? stripZeros(Buffer.from(k.key.n)).length * 8 : 0;
  if (!KEK_SIZES.includes(bits)) return `it is RSA-${bits}; a KEK is RSA 2048, 3072 or 4096`;
  if (k.properties.enabled === false) return 'it is disabled';
  if (k.properties.expiresOn && k.properties.expiresOn.getTime() <= Date.now()) return `it expired on ${k.properties.expiresOn.toISOString()}`;
  return undefined;
}

/** The KEK by name: reused when it exists and qualifies, created (RSA-HSM, import only) when it does not. */
export async function ensureKek(keys: KeyClient, name: string, bits: number): Promise<{ kek: KeyVaultKey; created: boolean }> {
  const existing = await keys.getKey(name).catch((err) => {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  });
  if (existing) {
    const why = kekProblem(existing);
    if (why) throw new CeremonyError(`key ${name} cannot be the key exchange key: ${why}. Give another --kek name; nothing was imported`);
    return { kek: existing, created: false };
  }
  if (!KEK_SIZES.includes(bits)) throw new CeremonyError(`a KEK is RSA ${KEK_SIZES.join(', ')} bits; got ${bits}`);
  return { kek: await keys.createRsaKey(name, { hsm: true, keySize: bits, keyOps: ['import'] }), created: true };
}

export function byokFileOf(kek: KeyVaultKey, ciphertext: Buffer, generator: string): ByokFile {
  return { schema_version: '1.0.0', header: { kid: kek.id!, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' }, ciphertext: ciphertext.toString('base64url'), generator };
}

/** A .byok file as the service's format has it; anything else is refused before the HSM is asked. */
export function readByokFile(file: string): ByokFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CeremonyError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new CeremonyError(`${file}: not JSON; a .byok file is {"schema_version":"1.0.0","header":{"kid","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext","generator"}`);
  }
  const d = data as Partial<ByokFile> & { header?: Partial<ByokFile['header']> };
  const problems: string[] = [];
  if (d?.schema_version !== '1.0.0') problems.push('schema_version must be "1.0.0"');
  if (typeof d?.header?.kid !== 'string' || !/^https:\/\/[^/]+\/keys\/[0-9A-Za-z-]{1,127}\/[0-9a-fA-F]{32}$/.test(d.header.kid)) problems.push('header.kid must be the KEK\'s versioned key id (https://<hsm>/keys/<name>/<version>)');
  if (d?.header?.alg !== 'dir') problems.push('header.alg must be "dir"');
  if (d?.header?.enc !== 'CKM_RSA_AES_KEY_WRAP') problems.push('header.enc must be "CKM_RSA_AES_KEY_WRAP"');
  if (typeof d?.ciphertext !== 'string' || !/^[A-Za-z0-9_-]+={0,2}$/.test(d.ciphertext) || d.ciphertext.length < 300) problems.push('ciphertext must be the base64url wrapped key (an RSA-OAEP block then the AES-KWP wrapped key)');
  if (problems.length) throw new CeremonyError(`${file}: not a valid .byok file: ${problems.join('; ')}; nothing was imported`);
  return d as ByokFile;
}

/** The KEK a .byok file names must be a KEK of THIS HSM: checked before the import, so a mistake costs nothing. */
export async function kekOfFile(keys: KeyClient, hsmUri: string, byok: ByokFile): Promise<KeyVaultKey> {
  const kid = new URL(byok.header.kid);
  if (kid.host.toLowerCase() !== new URL(hsmUri).host.toLowerCase()) {
    throw new CeremonyError(`the .byok file was made for a KEK of ${kid.host}, not of ${new URL(hsmUri).host}; nothing was imported`);
  }
  const [, , name, version] = kid.pathname.split('/');
  const kek = await keys.getKey(name, { version }).catch((err) => {
    if ((err as { statusCode?: number }).statusCode === 404) throw new CeremonyError(`the .byok file's KEK ${name}/${version} does not exist in ${hsmUri}; nothing was imported`);
    throw err;
  });
  const why = kekProblem(kek);
  if (why) throw new CeremonyError(`the .byok file's KEK ${name} cannot be a key exchange key: ${why}; nothing was imported`);
  return kek;
}

/** What the imported key is: its type as the HSM holds it, and the attributes it gets. */
export interface ImportSpec {
  readonly kty: 'RSA-HSM' | 'EC-HSM' | 'oct-HSM';
  readonly curve?: string;
  readonly keyOps?: string[];
  readonly expiresOn?: Date;
  readonly notBefore?: Date;
  readonly tags?: Record<string, string>;
}

/** Imports the transfer blob as key NAME (key_hsm carries the .byok file's JSON, as the service takes it). */
export async function importByok(keys: KeyClient, name: string, byok: ByokFile, spec: ImportSpec): Promise<KeyVaultKey> {
  return keys.importKey(
    name,
    { kty: spec.kty, crv: spec.curve as never, t: Buffer.from(JSON.stringify(byok)), keyOps: spec.keyOps as never },
    { hardwareProtected: true, expiresOn: spec.expiresOn, notBefore: spec.notBefore, tags: spec.tags },
  );
}

/** The imported key's public part is the source key's: the key that arrived is the key that was sent. */
export function samePublicKey(imported: KeyVaultKey, source: PublicPart): boolean {
  const k = imported.key;
  if (!k) return false;
  if (source.kty === 'RSA') return !!k.n && !!k.e && stripZeros(Buffer.from(k.n)).equals(source.n) && stripZeros(Buffer.from(k.e)).equals(source.e);
  return k.crv === source.crv && !!k.x && !!k.y && Buffer.from(k.x).equals(source.x) && Buffer.from(k.y).equals(source.y);
}
