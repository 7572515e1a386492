import * as fs from 'fs';
import * as pkcs11js from 'pkcs11js';
import { generateKeyPairSync } from 'crypto';
import { CeremonyError } from '../failure';

/**
 * A token of any PKCS#11 module, as a client application uses it: the Luna client library against a real
 * partition, p11-kit-client.so against a simulated one (hsmctl luna connect), or SoftHSM2 directly. Only the
 * calls BYOK needs: find or generate an extractable key, read its public part, and wrap it for an RSA key
 * exchange key, all inside the token (the key never leaves it in the clear).
 */
export type SourceKeyType = 'RSA' | 'EC' | 'AES';

export interface SourceKey {
  readonly handle: pkcs11js.Handle;
  readonly label: string;
  readonly type: SourceKeyType;
  readonly bits?: number;
  readonly curve?: string;
}

export type PublicPart = { kty: 'RSA'; n: Buffer; e: Buffer } | { kty: 'EC'; crv: string; x: Buffer; y: Buffer };

/** DER of the named curves' OIDs, as CKA_EC_PARAMS carries them (fixed constants, nothing parsed). */
const CURVES: Record<string, { params: Buffer; bytes: number }> = {
  'P-256': { params: Buffer.from('06082a8648ce3d030107', 'hex'), bytes: 32 },
  'P-384': { params: Buffer.from('06052b81040022', 'hex'), bytes: 48 },
  'P-521': { params: Buffer.from('06052b81040023', 'hex'), bytes: 66 },
};

export const SOURCE_KEY_CHOICES = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384', 'EC-P521', 'AES-256'] as const;

const OAEP_SHA1: pkcs11js.Mechanism = {
  mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
  parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: 1 } as pkcs11js.RsaOAEP,
};

export class Pkcs11Token {
  private constructor(
    private readonly lib: pkcs11js.PKCS11,
    private readonly session: pkcs11js.Handle,
    readonly label: string,
    readonly serial: string,
  ) {}

  /** Loads the module, finds the token by label and logs in as its user (a Luna partition's Crypto Officer). */
  static open(modulePath: string, tokenLabel: string, pin: string): Pkcs11Token {
    if (!fs.existsSync(modulePath)) throw new CeremonyError(`PKCS#11 module ${modulePath} does not exist (the Luna client library, or the module \`hsmctl luna connect\` printed)`);
    const lib = new pkcs11js.PKCS11();
    try {
      lib.load(modulePath);
      lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (err) {
      throw new CeremonyError(`PKCS#11 module ${modulePath} could not be loaded or initialised: ${(err as Error).message}`);
    }
    try {
      const slots = lib.C_GetSlotList(true);
      const infos = slots.map((slot) => ({ slot, info: lib.C_GetTokenInfo(slot) }));
      const found = infos.find((t) => t.info.label.trim() === tokenLabel);
      if (!found) throw new CeremonyError(`no token labelled "${tokenLabel}" in ${modulePath}; tokens there: ${infos.map((t) => `"${t.info.label.trim()}"`).join(', ') || 'none'}`);
      const session = lib.C_OpenSession(found.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, pin);
      } catch (err) {
        if (!(err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) {
          throw new CeremonyError(`token "${tokenLabel}" refused the login: ${pkcs11Reason(err)}`);
        }
      }
      return new Pkcs11Token(lib, session, tokenLabel, found.info.serialNumber.trim());
    } catch (err) {
      finalize(lib);
      throw err;
    }
  }

  close(): void {
    try {
      this.lib.C_CloseSession(this.session);
    } catch {
      // The session may already be gone with the connection; finalizing below still releases the module.
    }
    finalize(this.lib);
  }

  /** The private or secret key labelled so; exactly one must exist. */
  findKey(label: string): SourceKey | undefined {
    const found = [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_SECRET_KEY].flatMap((cls) => this.find([{ type: pkcs11js.CKA_CLASS, value: cls }, { type: pkcs11js.CKA_LABEL, value: label }]));
    if (found.length > 1) throw new CeremonyError(`token "${this.label}" holds ${found.length} keys labelled "${label}"; give a label that names one`);
    if (!found.length) return undefined;
    const handle = found[0];
    const [type, extractable] = this.lib.C_GetAttributeValue(this.session, handle, [{ type: pkcs11js.CKA_KEY_TYPE }, { type: pkcs11js.CKA_EXTRACTABLE }]);
    const keyType = ulong(type.value as Buffer);
    if (!(extractable.value as Buffer)[0]) throw new CeremonyError(`key "${label}" in token "${this.label}" is not extractable (CKA_EXTRACTABLE false): BYOK must wrap it out of the token, so it must be created extractable`);
    if (keyType === pkcs11js.CKK_RSA) {
      const [n] = this.lib.C_GetAttributeValue(this.session, handle, [{ type: pkcs11js.CKA_MODULUS }]);
      return { handle, label, type: 'RSA', bits: stripZeros(n.value as Buffer).length * 8 };
    }
    if (keyType === pkcs11js.CKK_EC) {
      const [params] = this.lib.C_GetAttributeValue(this.session, handle, [{ type: pkcs11js.CKA_EC_PARAMS }]);
      const curve = Object.keys(CURVES).find((c) => CURVES[c].params.equals(params.value as Buffer));
      if (!curve) throw new CeremonyError(`key "${label}" is on a curve the Managed HSM does not take; allowed: ${Object.keys(CURVES).join(', ')}`);
      return { handle, label, type: 'EC', curve };
    }
    if (keyType === pkcs11js.CKK_AES) {
      const [len] = this.lib.C_GetAttributeValue(this.session, handle, [{ type: pkcs11js.CKA_VALUE_LEN }]);
      return { handle, label, type: 'AES', bits: ulong(len.value as Buffer) * 8 };
    }
    throw new CeremonyError(`key "${label}" is of a type BYOK into Managed HSM does not take (PKCS#11 key type ${keyType}); allowed: RSA, EC, AES`);
  }

  /** A new extractable, sensitive key in the token (CKA_TOKEN: it stays in the partition, as the seeds' runbooks keep it). */
  generate(label: string, choice: (typeof SOURCE_KEY_CHOICES)[number]): SourceKey {
    const base = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ];
    const secretAttrs = [...base, { type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: true }];
    const [family, size] = choice.split('-');
    if (family === 'AES') {
      const handle = this.lib.C_GenerateKey(this.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [...secretAttrs, { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_VALUE_LEN, value: Number(size) / 8 }, { type: pkcs11js.CKA_ENCRYPT, value: true }, { type: pkcs11js.CKA_DECRYPT, value: true }]);
      return { handle, label, type: 'AES', bits: Number(size) };
    }
    if (family === 'RSA') {
      const kp = this.lib.C_GenerateKeyPair(
        this.session,
        { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
        [...base, { type: pkcs11js.CKA_MODULUS_BITS, value: Number(size) }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }, { type: pkcs11js.CKA_VERIFY, value: true }],
        [...secretAttrs, { type: pkcs11js.CKA_SIGN, value: true }, { type: pkcs11js.CKA_DECRYPT, value: true }],
      );
      return { handle: kp.privateKey, label, type: 'RSA', bits: Number(size) };
    }
    const curve = `P-${size.slice(1)}`;
    const kp = this.lib.C_GenerateKeyPair(
      this.session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [...base, { type: pkcs11js.CKA_EC_PARAMS, value: CURVES[curve].params }, { type: pkcs11js.CKA_VERIFY, value: true }],
      [...secretAttrs, { type: pkcs11js.CKA_SIGN, value: true }],
    );
    return { handle: kp.privateKey, label, type: 'EC', curve };
  }

  /** The public part of an RSA or EC key, read from its public key object (same label) or the private key. */
  publicOf(key: SourceKey): PublicPart | undefined {
    if (key.type === 'AES') return undefined;
    const cls = [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_LABEL, value: key.label }];
    const pub = this.find(cls)[0];
    if (key.type === 'RSA') {
      const [n, e] = this.lib.C_GetAttributeValue(this.session, pub ?? key.handle, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
      return { kty: 'RSA', n: stripZeros(n.value as Buffer), e: stripZeros(e.value as Buffer) };
    }
    if (!pub) throw new CeremonyError(`EC key "${key.label}" has no public key object of the same label in token "${this.label}": its public point cannot be read to check the import`);
    const [point] = this.lib.C_GetAttributeValue(this.session, pub, [{ type: pkcs11js.CKA_EC_POINT }]);
    const bytes = CURVES[key.curve!].bytes;
    const raw = uncompressedPoint(point.value as Buffer, bytes);
    return { kty: 'EC', crv: key.curve!, x: raw.subarray(1, 1 + bytes), y: raw.subarray(1 + bytes) };
  }

  /**
   * Checks, before anything is generated or imported, that this module can do both wraps BYOK needs: it wraps a
   * throwaway session key for a throwaway KEK. A module or transport that lacks a mechanism (p11-kit 0.24's RPC,
   * which carries no AES key wrap, between hsmctl and a simulated partition) is refused here with what to do.
   */
  checkCanWrap(): void {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = publicKey.export({ format: 'jwk' });
    const probe = this.lib.C_GenerateKey(this.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_LABEL, value: 'byok-probe' },
    ]);
    try {
      this.wrapForKek({ n: Buffer.from(jwk.n!, 'base64url'), e: Buffer.from(jwk.e!, 'base64url') }, { handle: probe, label: 'byok-probe', type: 'AES', bits: 256 });
    } catch (err) {
      const invalid = err instanceof CeremonyError && /CKR_MECHANISM_INVALID/.test(err.message);
      throw new CeremonyError(
        invalid
          ? `token "${this.label}" cannot wrap for BYOK here: CKM_RSA_PKCS_OAEP or CKM_AES_KEY_WRAP_PAD is refused (CKR_MECHANISM_INVALID). p11-kit 0.24's RPC (a simulated partition reached through hsmctl luna connect) carries no AES key wrap; with a Luna partition use the Luna client library as --pkcs11-module, or wrap where the mechanism runs (CipherTrust) and import the .byok with --byok-file. Nothing was generated or imported`
          : `token "${this.label}" failed the BYOK wrap check: ${(err as Error).message}. Nothing was generated or imported`,
      );
    } finally {
      this.destroyQuietly(probe);
    }
  }

  /**
   * CKM_RSA_AES_KEY_WRAP as PKCS#11 defines it, composed from two standard mechanisms because the JavaScript
   * binding cannot pass its parameters: a temporary AES-256 session key wraps the target with CKM_AES_KEY_WRAP_PAD
   * (RFC 5649 in SoftHSM2), RSA-OAEP with SHA-1 wraps that AES key to the KEK, and the two are concatenated.
   * The temporary key and the KEK's public key exist only as session objects and are destroyed here.
   */
  wrapForKek(kek: { n: Buffer; e: Buffer }, target: SourceKey): Buffer {
    const kekHandle = this.lib.C_CreateObject(this.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_TOKEN, value: false },
      { type: pkcs11js.CKA_MODULUS, value: kek.n },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: kek.e },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_LABEL, value: 'byok-kek-session' },
    ]);
    let aes: pkcs11js.Handle | undefined;
    try {
      aes = this.lib.C_GenerateKey(this.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_WRAP, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        { type: pkcs11js.CKA_LABEL, value: 'byok-ephemeral' },
      ]);
      const wrappedAes = this.lib.C_WrapKey(this.session, OAEP_SHA1, kekHandle, aes, Buffer.alloc(kek.n.length + 16));
      const wrappedTarget = this.lib.C_WrapKey(this.session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, aes, target.handle, Buffer.alloc(16384));
      return Buffer.concat([wrappedAes, wrappedTarget]);
    } catch (err) {
      throw new CeremonyError(`token "${this.label}" could not wrap "${target.label}" for the KEK: ${pkcs11Reason(err)}`);
    } finally {
      if (aes !== undefined) this.destroyQuietly(aes);
      this.destroyQuietly(kekHandle);
    }
  }

  private find(template: pkcs11js.Template): pkcs11js.Handle[] {
    this.lib.C_FindObjectsInit(this.session, template);
    try {
      return this.lib.C_FindObjects(this.session, 16);
    } finally {
      this.lib.C_FindObjectsFinal(this.session);
    }
  }

  private destroyQuietly(handle: pkcs11js.Handle): void {
    try {
      this.lib.C_DestroyObject(this.session, handle);
    } catch {
      // A session object goes with the session anyway.
    }
  }
}

function finalize(lib: pkcs11js.PKCS11): void {
  try {
    lib.C_Finalize();
  } catch {
    // Already finalized.
  }
  try {
    lib.close();
  } catch {
    // Unloaded.
  }
}

export function pkcs11Reason(err: unknown): string {
  if (err instanceof pkcs11js.Pkcs11Error) return err.message;
  return (err as Error)?.message ?? String(err);
}

/** A CK_ULONG attribute: 8 bytes on 64-bit Linux, 4 elsewhere; little-endian on x86 and arm. */
function ulong(b: Buffer): number {
  return b.length === 8 ? Number(b.readBigUInt64LE()) : b.readUInt32LE();
}

/** A big-endian integer without its leading zero bytes (PKCS#11 and JWK write RSA numbers with or without them). */
export function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/**
 * CKA_EC_POINT is the uncompressed point (0x04 || X || Y) inside a DER OCTET STRING (some tokens give it bare).
 * The length is known from the curve, so this only checks the expected framing, it parses nothing open-ended.
 */
function uncompressedPoint(v: Buffer, bytes: number): Buffer {
  const len = 1 + 2 * bytes;
  const tail = v.subarray(v.length - len);
  if (v.length < len || tail[0] !== 4 || (v.length !== len && v.length > len + 3)) throw new CeremonyError('the token returned an EC point this tool cannot read (expected an uncompressed point)');
  return tail;
}
