import * as pkcs11js from 'pkcs11js';
import { randomBytes } from 'crypto';
import { OpenPartition, openPartition } from '../commands/luna-connect';
import type { LunaClient } from './steps/luna';

/**
 * A client's partition as its PKCS#11 application sees it: p11-kit-client.so over NTLS with the client's
 * bundle (what `hsmctl luna connect` prints), logged in as the Crypto Officer. Only mechanisms p11-kit 0.24's
 * RPC carries are used: RSA key pairs and RSA-OAEP (no AES key wrap, CBC or GCM: see simulator/luna/README.md).
 */
export class PartitionSession {
  private constructor(private readonly p: OpenPartition) {}

  static async open(c: LunaClient, coPassword: string): Promise<PartitionSession> {
    return new PartitionSession(await openPartition(c.bundle, { userType: pkcs11js.CKU_USER, pin: coPassword }));
  }

  get token(): string {
    return this.p.token;
  }

  /** RSA-OAEP (SHA-1, the mechanism p11-kit 0.24 serialises) with the key pair of this id. */
  private static readonly OAEP: pkcs11js.Mechanism = {
    mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
    parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, source: 1 } as pkcs11js.RsaOAEP,
  };

  /** Finds the key of this label and class, if any. */
  find(label: string, cls: number): Buffer | undefined {
    const { lib, session } = this.p;
    lib.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    try {
      return lib.C_FindObjects(session, 1)[0];
    } finally {
      lib.C_FindObjectsFinal(session);
    }
  }

  /** An RSA-2048 key pair kept in the partition: the private half never leaves it. */
  ensureRsaKeyPair(label: string): { created: boolean } {
    if (this.find(label, pkcs11js.CKO_PRIVATE_KEY)) return { created: false };
    const id = randomBytes(8);
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: id },
    ];
    this.p.lib.C_GenerateKeyPair(
      this.p.session,
      { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [...common, { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }, { type: pkcs11js.CKA_ENCRYPT, value: true }],
      [...common, { type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: false }, { type: pkcs11js.CKA_DECRYPT, value: true }],
    );
    return { created: true };
  }

  /** Encrypts a small secret (a key) with the public half of the labelled key pair, inside the partition. */
  encrypt(label: string, data: Buffer): Buffer {
    const key = this.find(label, pkcs11js.CKO_PUBLIC_KEY);
    if (!key) throw new Error(`no key ${label} in partition ${this.token}`);
    this.p.lib.C_EncryptInit(this.p.session, PartitionSession.OAEP, key);
    return this.p.lib.C_Encrypt(this.p.session, data, Buffer.alloc(512));
  }

  /** Decrypts with the private half, inside the partition. */
  decrypt(label: string, data: Buffer): Buffer {
    const key = this.find(label, pkcs11js.CKO_PRIVATE_KEY);
    if (!key) throw new Error(`no key ${label} in partition ${this.token}`);
    this.p.lib.C_DecryptInit(this.p.session, PartitionSession.OAEP, key);
    return this.p.lib.C_Decrypt(this.p.session, data, Buffer.alloc(512));
  }

  close(): void {
    this.p.close();
  }
}
