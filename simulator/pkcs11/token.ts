import * as pkcs11js from 'pkcs11js';
import { SessionPool } from './session-pool';
import type { SignThreads } from './sign-threads';

type Handle = Buffer;
type Template = pkcs11js.Template;

/** The objects that make up one key version in the token, found by their shared CKA_ID. */
export interface KeyObjects {
  priv?: Handle;
  pub?: Handle;
  secret?: Handle;
}

/** What a new private or secret key may do: the token enforces these flags, not just our metadata. */
export interface KeyUsage {
  sign?: boolean;
  decrypt?: boolean;
  encrypt?: boolean;
  wrap?: boolean;
  unwrap?: boolean;
  /** ECDH: used only to recover the public point of an EC key imported by unwrapping. */
  derive?: boolean;
}

/** DER-encoded named-curve OIDs (CKA_EC_PARAMS). */
export const CURVE_PARAMS: Record<string, Buffer> = {
  'P-256': Buffer.from('06082a8648ce3d030107', 'hex'),
  'P-384': Buffer.from('06052b81040022', 'hex'),
  'P-521': Buffer.from('06052b81040023', 'hex'),
  'P-256K': Buffer.from('06052b8104000a', 'hex'),
};

/**
 * One SoftHSM2 token, opened by the one process that owns its folder. Every key version is a set of objects
 * sharing a CKA_ID; an in-memory index from that id to object handles (built once at open, kept up to date
 * by our own writes) avoids SoftHSM2's linear label scans on every request.
 */
export class Token {
  private readonly pool: SessionPool;
  private readonly index = new Map<string, KeyObjects>();

  constructor(
    private readonly lib: pkcs11js.PKCS11,
    readonly slot: Handle,
    readonly label: string,
    userPin: string,
    sessions: number,
    private readonly signer: () => SignThreads,
  ) {
    this.pool = new SessionPool(lib, slot, sessions);
    const s = this.pool.first();
    try {
      lib.C_Login(s, pkcs11js.CKU_USER, userPin);
    } catch (err) {
      // Already logged in through another session of this application: login state is per token.
      if (!(err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN)) throw err;
    }
    this.buildIndex(s);
  }

  private buildIndex(s: Handle): void {
    this.lib.C_FindObjectsInit(s, []);
    try {
      for (;;) {
        const batch = this.lib.C_FindObjects(s, 256);
        if (batch.length === 0) break;
        for (const h of batch) {
          let cls: pkcs11js.Attribute, id: pkcs11js.Attribute;
          try {
            [cls, id] = this.lib.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_CLASS }, { type: pkcs11js.CKA_ID }]);
          } catch {
            this.discardTorn(s, h);
            continue;
          }
          const key = (id.value as Buffer).toString('hex');
          if (!key) continue;
          this.remember(key, (cls.value as Buffer).readUInt32LE(0), h);
        }
      }
    } finally {
      this.lib.C_FindObjectsFinal(s);
    }
  }

  /**
   * kill -9 while SoftHSM2 writes an object file can leave an object whose attributes no longer read. It was
   * never acknowledged (metadata commits only after the token write), so it goes; reconcile reports the count.
   */
  private discardTorn(s: Handle, h: Handle): void {
    this.tornObjects++;
    try {
      this.lib.C_DestroyObject(s, h);
    } catch {
      // Unreadable and undeletable: it stays out of the index, so nothing can use it.
    }
  }

  /** Objects found unreadable (torn by a crash) and discarded when the token was opened. */
  tornObjects = 0;

  private remember(id: string, cls: number, h: Handle): void {
    const o = this.index.get(id) ?? {};
    if (cls === pkcs11js.CKO_PRIVATE_KEY) o.priv = h;
    else if (cls === pkcs11js.CKO_PUBLIC_KEY) o.pub = h;
    else if (cls === pkcs11js.CKO_SECRET_KEY) o.secret = h;
    this.index.set(id, o);
  }

  /** Ids of every key version held in the token. */
  ids(): string[] {
    return [...this.index.keys()];
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  private objects(id: string): KeyObjects {
    const o = this.index.get(id);
    if (!o) throw new Error(`no object with id ${id} in token ${this.label}`);
    return o;
  }

  private static base(id: string, label: string): Template {
    return [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
      { type: pkcs11js.CKA_LABEL, value: label },
    ];
  }

  /**
   * Private and secret keys are sensitive (their value is never readable) but extractable, so that the single-key
   * backup can wrap them under the instance's domain key: the only wrapping key this code ever uses on them.
   */
  private static privateTemplate(id: string, label: string, u: KeyUsage): Template {
    return [
      ...Token.base(id, label),
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_SIGN, value: !!u.sign },
      { type: pkcs11js.CKA_DECRYPT, value: !!u.decrypt },
      { type: pkcs11js.CKA_UNWRAP, value: !!u.unwrap },
      { type: pkcs11js.CKA_DERIVE, value: !!u.derive },
    ];
  }

  private static publicTemplate(id: string, label: string): Template {
    return [
      ...Token.base(id, label),
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: false },
    ];
  }

  async generateRsa(id: string, label: string, bits: number, exponent: Buffer, usage: KeyUsage): Promise<{ n: Buffer; e: Buffer }> {
    return this.pool.use(async (s) => {
      const keys = await this.lib.C_GenerateKeyPairAsync(
        s,
        { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
        [
          ...Token.publicTemplate(id, label),
          { type: pkcs11js.CKA_MODULUS_BITS, value: bits },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: exponent },
        ],
        Token.privateTemplate(id, label, usage),
      );
      this.remember(id, pkcs11js.CKO_PUBLIC_KEY, keys.publicKey);
      this.remember(id, pkcs11js.CKO_PRIVATE_KEY, keys.privateKey);
      const [n, e] = this.lib.C_GetAttributeValue(s, keys.publicKey, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
      return { n: n.value as Buffer, e: e.value as Buffer };
    });
  }

  /** Returns the public point, uncompressed (04 || x || y). */
  async generateEc(id: string, label: string, curve: string, usage: KeyUsage): Promise<Buffer> {
    return this.pool.use(async (s) => {
      const keys = await this.lib.C_GenerateKeyPairAsync(
        s,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [...Token.publicTemplate(id, label), { type: pkcs11js.CKA_EC_PARAMS, value: CURVE_PARAMS[curve] }],
        Token.privateTemplate(id, label, usage),
      );
      this.remember(id, pkcs11js.CKO_PUBLIC_KEY, keys.publicKey);
      this.remember(id, pkcs11js.CKO_PRIVATE_KEY, keys.privateKey);
      const [pt] = this.lib.C_GetAttributeValue(s, keys.publicKey, [{ type: pkcs11js.CKA_EC_POINT }]);
      return unwrapOctetString(pt.value as Buffer);
    });
  }

  private static secretTemplate(id: string, label: string, u: KeyUsage, token = true): Template {
    return [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: token },
      { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: !!u.encrypt },
      { type: pkcs11js.CKA_DECRYPT, value: !!u.decrypt },
      { type: pkcs11js.CKA_WRAP, value: !!u.wrap },
      { type: pkcs11js.CKA_UNWRAP, value: !!u.unwrap },
    ];
  }

  async generateAes(id: string, label: string, bits: number, usage: KeyUsage): Promise<void> {
    await this.pool.use(async (s) => {
      const tpl = Token.secretTemplate(id, label, usage).filter((a) => a.type !== pkcs11js.CKA_CLASS && a.type !== pkcs11js.CKA_KEY_TYPE);
      const h = await this.lib.C_GenerateKeyAsync(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        ...tpl,
        { type: pkcs11js.CKA_VALUE_LEN, value: bits / 8 },
      ]);
      this.remember(id, pkcs11js.CKO_SECRET_KEY, h);
    });
  }

  /** Imports plain key material (JWK import); the values are copied into the token and dropped by the caller. */
  async importRsa(
    id: string,
    label: string,
    k: { n: Buffer; e: Buffer; d: Buffer; p: Buffer; q: Buffer; dp: Buffer; dq: Buffer; qi: Buffer },
    usage: KeyUsage,
  ): Promise<void> {
    await this.pool.use(async (s) => {
      const pub = this.lib.C_CreateObject(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
        ...Token.publicTemplate(id, label),
        { type: pkcs11js.CKA_MODULUS, value: k.n },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: k.e },
      ]);
      this.remember(id, pkcs11js.CKO_PUBLIC_KEY, pub);
      const priv = this.lib.C_CreateObject(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
        ...Token.privateTemplate(id, label, usage),
        { type: pkcs11js.CKA_MODULUS, value: k.n },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: k.e },
        { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: k.d },
        { type: pkcs11js.CKA_PRIME_1, value: k.p },
        { type: pkcs11js.CKA_PRIME_2, value: k.q },
        { type: pkcs11js.CKA_EXPONENT_1, value: k.dp },
        { type: pkcs11js.CKA_EXPONENT_2, value: k.dq },
        { type: pkcs11js.CKA_COEFFICIENT, value: k.qi },
      ]);
      this.remember(id, pkcs11js.CKO_PRIVATE_KEY, priv);
    });
  }

  async importEc(id: string, label: string, curve: string, d: Buffer, point: Buffer, usage: KeyUsage): Promise<void> {
    await this.pool.use(async (s) => {
      const pub = this.lib.C_CreateObject(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        ...Token.publicTemplate(id, label),
        { type: pkcs11js.CKA_EC_PARAMS, value: CURVE_PARAMS[curve] },
        { type: pkcs11js.CKA_EC_POINT, value: octetString(point) },
      ]);
      this.remember(id, pkcs11js.CKO_PUBLIC_KEY, pub);
      const priv = this.lib.C_CreateObject(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        ...Token.privateTemplate(id, label, usage),
        { type: pkcs11js.CKA_EC_PARAMS, value: CURVE_PARAMS[curve] },
        { type: pkcs11js.CKA_VALUE, value: d },
      ]);
      this.remember(id, pkcs11js.CKO_PRIVATE_KEY, priv);
    });
  }

  async importAes(id: string, label: string, value: Buffer, usage: KeyUsage): Promise<void> {
    await this.pool.use(async (s) => {
      const h = this.lib.C_CreateObject(s, [...Token.secretTemplate(id, label, usage), { type: pkcs11js.CKA_VALUE, value }]);
      this.remember(id, pkcs11js.CKO_SECRET_KEY, h);
    });
  }

  /** C_SignInit + C_Sign on the private key, together on one of the module's signing threads. */
  async sign(id: string, mech: pkcs11js.Mechanism, data: Buffer, maxOut: number): Promise<Buffer> {
    const h = this.objects(id).priv;
    if (!h) throw new Error(`key ${id} has no private key`);
    return this.signer().sign(this.slot, h, mech, data, maxOut);
  }

  /** Verifies with the public key object; a wrong signature is false, not an error. */
  async verify(id: string, mech: pkcs11js.Mechanism, data: Buffer, signature: Buffer): Promise<boolean> {
    const h = this.objects(id).pub;
    if (!h) throw new Error(`key ${id} has no public key`);
    return this.pool.use(async (s) => {
      this.lib.C_VerifyInit(s, mech, h);
      try {
        return await this.lib.C_VerifyAsync(s, data, signature);
      } catch (err) {
        if (err instanceof pkcs11js.Pkcs11Error && (err.code === pkcs11js.CKR_SIGNATURE_INVALID || err.code === pkcs11js.CKR_SIGNATURE_LEN_RANGE)) return false;
        throw err;
      }
    });
  }

  /** Decrypts with the private key (RSA) or the secret key (AES). */
  async decrypt(id: string, mech: pkcs11js.Mechanism, data: Buffer): Promise<Buffer> {
    const o = this.objects(id);
    const h = o.priv ?? o.secret;
    if (!h) throw new Error(`key ${id} cannot decrypt`);
    return this.pool.use(async (s) => {
      this.lib.C_DecryptInit(s, mech, h);
      return this.lib.C_DecryptAsync(s, data, Buffer.alloc(data.length + 64));
    });
  }

  /** Encrypts with the secret key (AES); RSA public-key encryption needs no token. */
  async encrypt(id: string, mech: pkcs11js.Mechanism, data: Buffer): Promise<Buffer> {
    const h = this.objects(id).secret;
    if (!h) throw new Error(`key ${id} is not a secret key`);
    return this.pool.use(async (s) => {
      this.lib.C_EncryptInit(s, mech, h);
      return this.lib.C_EncryptAsync(s, data, Buffer.alloc(data.length + 64));
    });
  }

  /**
   * Wraps caller-supplied bytes with a secret key (AES key wrap): SoftHSM2 only offers key wrap through
   * C_WrapKey, so the bytes become a short-lived session object first.
   */
  async wrapBytes(id: string, mech: pkcs11js.Mechanism, bytes: Buffer): Promise<Buffer> {
    const h = this.objects(id).secret;
    if (!h) throw new Error(`key ${id} is not a secret key`);
    return this.pool.use(async (s) => {
      const tmp = this.lib.C_CreateObject(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        { type: pkcs11js.CKA_VALUE, value: bytes },
      ]);
      try {
        return await this.lib.C_WrapKeyAsync(s, mech, h, tmp, Buffer.alloc(bytes.length + 64));
      } finally {
        this.lib.C_DestroyObject(s, tmp);
      }
    });
  }

  /** The reverse of wrapBytes: unwraps into a session object, reads its value, destroys it. */
  async unwrapBytes(id: string, mech: pkcs11js.Mechanism, wrapped: Buffer): Promise<Buffer> {
    const h = this.objects(id).secret;
    if (!h) throw new Error(`key ${id} is not a secret key`);
    return this.pool.use(async (s) => {
      const tmp = await this.lib.C_UnwrapKeyAsync(s, mech, h, wrapped, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_SENSITIVE, value: false },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      ]);
      try {
        return this.lib.C_GetAttributeValue(s, tmp, [{ type: pkcs11js.CKA_VALUE }])[0].value as Buffer;
      } finally {
        this.lib.C_DestroyObject(s, tmp);
      }
    });
  }

  /** Wraps a token key (private or secret) under a wrapping key of this token: backups, never plaintext. */
  async wrapKey(wrappingId: string, mech: pkcs11js.Mechanism, targetId: string): Promise<Buffer> {
    const w = this.objects(wrappingId).secret;
    const t = this.objects(targetId);
    const target = t.priv ?? t.secret;
    if (!w || !target) throw new Error('wrapKey: missing key');
    return this.pool.use((s) => this.lib.C_WrapKeyAsync(s, mech, w, target, Buffer.alloc(16384)));
  }

  /**
   * Wraps a token key for a public key from outside the token (e.g. a BYOK key exchange key): the public key
   * lives only as a session object for the call, so nothing foreign stays in the token.
   */
  async wrapForPublicKey(pub: { n: Buffer; e: Buffer }, mech: pkcs11js.Mechanism, targetId: string): Promise<Buffer> {
    const t = this.objects(targetId);
    const target = t.priv ?? t.secret;
    if (!target) throw new Error(`wrapForPublicKey: no key ${targetId}`);
    return this.pool.use(async (s) => {
      const pubHandle = this.lib.C_CreateObject(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_WRAP, value: true },
        { type: pkcs11js.CKA_MODULUS, value: pub.n },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: pub.e },
      ]);
      try {
        return await this.lib.C_WrapKeyAsync(s, mech, pubHandle, target, Buffer.alloc(pub.n.length + 16));
      } finally {
        this.lib.C_DestroyObject(s, pubHandle);
      }
    });
  }

  /**
   * Secure key release (CKM_RSA_AES_KEY_WRAP): a fresh AES-256 session key wraps the token key with AES-KWP (PKCS#8
   * for a private key, the raw bytes of a secret key) and is itself encrypted to the transfer key with RSA-OAEP.
   * With an OAEP mechanism the token has (SHA-1), both steps run in the token; for the others (SHA-256/384, which
   * SoftHSM2 lacks) the AES key is made from token random bytes and `encrypt` does the OAEP step outside. The
   * released key itself never leaves the token unwrapped.
   */
  async wrapForTransfer(targetId: string, transfer: { n: Buffer; e: Buffer }, oaep: { mech: pkcs11js.Mechanism } | { encrypt: (aesKey: Buffer) => Buffer }): Promise<{ encryptedKey: Buffer; wrappedKey: Buffer }> {
    const t = this.objects(targetId);
    const target = t.priv ?? t.secret;
    if (!target) throw new Error(`wrapForTransfer: no key ${targetId}`);
    return this.pool.use(async (s) => {
      const made: Handle[] = [];
      try {
        let aes: Handle;
        let encryptedKey: Buffer;
        const base: Template = [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_WRAP, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        ];
        if ('mech' in oaep) {
          aes = this.lib.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [...base.slice(2), { type: pkcs11js.CKA_VALUE_LEN, value: 32 }]);
          made.push(aes);
          const pub = this.lib.C_CreateObject(s, [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
            { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
            { type: pkcs11js.CKA_TOKEN, value: false },
            { type: pkcs11js.CKA_WRAP, value: true },
            { type: pkcs11js.CKA_MODULUS, value: transfer.n },
            { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: transfer.e },
          ]);
          made.push(pub);
          encryptedKey = await this.lib.C_WrapKeyAsync(s, oaep.mech, pub, aes, Buffer.alloc(transfer.n.length + 16));
        } else {
          const bytes = this.lib.C_GenerateRandom(s, Buffer.alloc(32));
          try {
            aes = this.lib.C_CreateObject(s, [...base, { type: pkcs11js.CKA_VALUE, value: bytes }]);
            made.push(aes);
            encryptedKey = oaep.encrypt(bytes);
          } finally {
            bytes.fill(0);
          }
        }
        const wrappedKey = await this.lib.C_WrapKeyAsync(s, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, aes, target, Buffer.alloc(16384));
        return { encryptedKey, wrappedKey };
      } finally {
        for (const h of made) this.lib.C_DestroyObject(s, h);
      }
    });
  }

  /**
   * Unwraps key material into a new token object under id. unwrappingId's object may be a secret key
   * (AES key wrap) or a private key (RSA-OAEP), or a transient handle from unwrapTransient.
   */
  async unwrapKey(
    unwrapping: string | Handle,
    mech: pkcs11js.Mechanism,
    wrapped: Buffer,
    id: string,
    label: string,
    kind: { cls: 'private'; keyType: 'RSA' | 'EC' } | { cls: 'secret' },
    usage: KeyUsage,
  ): Promise<void> {
    const h = typeof unwrapping === 'string' ? (this.objects(unwrapping).secret ?? this.objects(unwrapping).priv) : unwrapping;
    if (!h) throw new Error('unwrapKey: missing unwrapping key');
    const tpl: Template =
      kind.cls === 'secret'
        ? Token.secretTemplate(id, label, usage)
        : [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
            { type: pkcs11js.CKA_KEY_TYPE, value: kind.keyType === 'RSA' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC },
            ...Token.privateTemplate(id, label, usage),
          ];
    await this.pool.use(async (s) => {
      const obj = await this.lib.C_UnwrapKeyAsync(s, mech, h, wrapped, tpl);
      this.remember(id, kind.cls === 'secret' ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY, obj);
    });
  }

  /**
   * Runs fn with a session-only AES key unwrapped by a token private key (BYOK: RSA-OAEP unwrap of the
   * ephemeral key). The transient key lives in one pooled session and is destroyed afterwards.
   */
  async withTransientAesKey<T>(privId: string, mech: pkcs11js.Mechanism, wrapped: Buffer, fn: (h: Handle) => Promise<T>): Promise<T> {
    const h = this.objects(privId).priv;
    if (!h) throw new Error(`key ${privId} has no private key`);
    const tmp = await this.pool.use((s) =>
      this.lib.C_UnwrapKeyAsync(s, mech, h, wrapped, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_UNWRAP, value: true },
      ]),
    );
    try {
      return await fn(tmp);
    } finally {
      await this.pool.use(async (s) => this.lib.C_DestroyObject(s, tmp));
    }
  }

  /** Public attributes of a private key object (the modulus and exponent of an RSA key). */
  async rsaPublicOf(id: string): Promise<{ n: Buffer; e: Buffer }> {
    const h = this.objects(id).priv;
    if (!h) throw new Error(`key ${id} has no private key`);
    return this.pool.use(async (s) => {
      const [n, e] = this.lib.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
      return { n: n.value as Buffer, e: e.value as Buffer };
    });
  }

  /** ECDH of the private key with a peer point, returning the shared x coordinate (recovers d*G from d). */
  async ecdhX(id: string, peerPoint: Buffer): Promise<Buffer> {
    const h = this.objects(id).priv;
    if (!h) throw new Error(`key ${id} has no private key`);
    return this.pool.use(async (s) => {
      const derived = await this.lib.C_DeriveKeyAsync(
        s,
        {
          mechanism: pkcs11js.CKM_ECDH1_DERIVE,
          parameter: { type: pkcs11js.CK_PARAMS_EC_DH, kdf: pkcs11js.CKD_NULL, publicData: peerPoint } as pkcs11js.ECDH1,
        },
        h,
        [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
          { type: pkcs11js.CKA_TOKEN, value: false },
          { type: pkcs11js.CKA_SENSITIVE, value: false },
          { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        ],
      );
      try {
        return this.lib.C_GetAttributeValue(s, derived, [{ type: pkcs11js.CKA_VALUE }])[0].value as Buffer;
      } finally {
        this.lib.C_DestroyObject(s, derived);
      }
    });
  }

  /** Adds a public key object for a key whose private half arrived by unwrapping. */
  async addPublic(id: string, label: string, pub: { n: Buffer; e: Buffer } | { curve: string; point: Buffer }): Promise<void> {
    await this.pool.use(async (s) => {
      const tpl: Template =
        'n' in pub
          ? [
              { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
              { type: pkcs11js.CKA_MODULUS, value: pub.n },
              { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: pub.e },
            ]
          : [
              { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
              { type: pkcs11js.CKA_EC_PARAMS, value: CURVE_PARAMS[pub.curve] },
              { type: pkcs11js.CKA_EC_POINT, value: octetString(pub.point) },
            ];
      const h = this.lib.C_CreateObject(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, ...Token.publicTemplate(id, label), ...tpl]);
      this.remember(id, pkcs11js.CKO_PUBLIC_KEY, h);
    });
  }

  /**
   * The token's own record of a key version's objects, as key attestation reports it: class, key type and the
   * protection flags of the private or secret object (sensitive, extractable, always sensitive, never extractable,
   * generated in the token), and whether a public object exists.
   */
  async attestedAttributes(id: string): Promise<{ key: Record<string, number | boolean>; hasPublic: boolean }> {
    const o = this.objects(id);
    const h = o.priv ?? o.secret;
    if (!h) throw new Error(`key ${id} has no private or secret object`);
    return this.pool.use(async (s) => {
      const types = [pkcs11js.CKA_CLASS, pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_SENSITIVE, pkcs11js.CKA_EXTRACTABLE, pkcs11js.CKA_ALWAYS_SENSITIVE, pkcs11js.CKA_NEVER_EXTRACTABLE, pkcs11js.CKA_LOCAL];
      const names = ['CKA_CLASS', 'CKA_KEY_TYPE', 'CKA_SENSITIVE', 'CKA_EXTRACTABLE', 'CKA_ALWAYS_SENSITIVE', 'CKA_NEVER_EXTRACTABLE', 'CKA_LOCAL'];
      const attrs = this.lib.C_GetAttributeValue(s, h, types.map((type) => ({ type })));
      const key: Record<string, number | boolean> = {};
      attrs.forEach((a, i) => {
        const b = a.value as Buffer;
        key[names[i]] = i < 2 ? Number(b.readUInt32LE(0)) : b[0] === 1;
      });
      return { key, hasPublic: !!o.pub };
    });
  }

  /** Destroys every object of a key version; a missing id is not an error (purge is idempotent). */
  async destroy(id: string): Promise<void> {
    const o = this.index.get(id);
    if (!o) return;
    await this.pool.use(async (s) => {
      for (const h of [o.priv, o.pub, o.secret]) if (h) this.lib.C_DestroyObject(s, h);
    });
    this.index.delete(id);
  }

  /**
   * Destroys every object in the token, indexed or not (a purged Managed HSM: its keys, domain key and exchange
   * key go for good). Found afresh rather than from the index, so nothing the index missed survives.
   */
  async destroyAll(): Promise<number> {
    const n = await this.pool.use(async (s) => {
      const found: Handle[] = [];
      this.lib.C_FindObjectsInit(s, []);
      try {
        for (;;) {
          const batch = this.lib.C_FindObjects(s, 256);
          if (batch.length === 0) break;
          found.push(...batch);
        }
      } finally {
        this.lib.C_FindObjectsFinal(s);
      }
      for (const h of found) this.lib.C_DestroyObject(s, h);
      return found.length;
    });
    this.index.clear();
    return n;
  }

  async random(n: number): Promise<Buffer> {
    return this.pool.use(async (s) => this.lib.C_GenerateRandom(s, Buffer.alloc(n)));
  }

  close(): void {
    this.pool.close();
  }
}

/** CKA_EC_POINT is a DER OCTET STRING around the point. */
export function unwrapOctetString(der: Buffer): Buffer {
  if (der[0] !== 0x04) return der;
  let len = der[1];
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | der[2 + i];
    off = 2 + n;
  }
  return off + len === der.length ? der.subarray(off) : der;
}

export function octetString(b: Buffer): Buffer {
  const len = b.length < 0x80 ? Buffer.from([b.length]) : b.length < 0x100 ? Buffer.from([0x81, b.length]) : Buffer.from([0x82, b.length >> 8, b.length & 0xff]);
  return Buffer.concat([Buffer.from([0x04]), len, b]);
}
