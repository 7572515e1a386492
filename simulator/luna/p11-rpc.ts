/**
 * The little of p11-kit's PKCS#11 RPC (p11-kit 0.24, p11-kit/rpc-transport.c and rpc-message.c) that the
 * appliance must read to enforce partition roles between a client and `p11-kit remote`. p11-kit's framing has
 * no maintained JavaScript reader, and only this much is needed: the one-byte version exchange, the 12-byte
 * frame header (call code, options length, body length, all big-endian uint32), and in the body the call id
 * (uint32), the signature (a byte array) and the leading arguments of the few calls the appliance inspects.
 * Every other frame passes through untouched.
 *
 * Encodings (rpc-message.c): "u" (CK_ULONG) is a uint64; a byte array is a uint32 length then the bytes
 * (0xffffffff for NULL); a request's "ay" argument is a validity byte before that; "z" and "s" are byte arrays.
 */

/** Call ids, in p11-kit 0.24's order (rpc-message.h); only those the appliance looks at. */
export const CALL = {
  ERROR: 0,
  C_Initialize: 1,
  C_Finalize: 2,
  C_GetTokenInfo: 6,
  C_InitToken: 9,
  C_OpenSession: 10,
  C_CloseSession: 11,
  C_CloseAllSessions: 12,
  C_InitPIN: 14,
  C_SetPIN: 15,
  C_Login: 18,
  C_Logout: 19,
  C_CreateObject: 20,
  C_CopyObject: 21,
  C_DestroyObject: 22,
  C_SetAttributeValue: 25,
  C_EncryptInit: 29,
  C_DecryptInit: 33,
  C_SignInit: 42,
  C_SignRecoverInit: 46,
  C_VerifyInit: 48,
  C_VerifyRecoverInit: 52,
  C_WrapKey: 60,
  C_GenerateKey: 58,
  C_GenerateKeyPair: 59,
  C_UnwrapKey: 61,
  C_DeriveKey: 62,
} as const;

/** Call ids that create, change or destroy objects: what a Crypto User may not do. */
export const OBJECT_WRITES: ReadonlySet<number> = new Set([
  CALL.C_CreateObject,
  CALL.C_CopyObject,
  CALL.C_DestroyObject,
  CALL.C_SetAttributeValue,
  CALL.C_GenerateKey,
  CALL.C_GenerateKeyPair,
  CALL.C_UnwrapKey,
  CALL.C_DeriveKey,
]);

/** Calls that use keys: refused on a partition whose Crypto Officer is not initialised yet. */
export const KEY_USES: ReadonlySet<number> = new Set([
  CALL.C_EncryptInit,
  CALL.C_DecryptInit,
  CALL.C_SignInit,
  CALL.C_SignRecoverInit,
  CALL.C_VerifyInit,
  CALL.C_VerifyRecoverInit,
  CALL.C_WrapKey,
]);

/** PKCS#11 return values the appliance answers with itself. */
export const CKR = {
  OK: 0x0,
  GENERAL_ERROR: 0x5,
  ARGUMENTS_BAD: 0x7,
  ACTION_PROHIBITED: 0x1b,
  FUNCTION_NOT_SUPPORTED: 0x54,
  PIN_INCORRECT: 0xa0,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  PIN_LOCKED: 0xa4,
  SESSION_HANDLE_INVALID: 0xb3,
  SLOT_ID_INVALID: 0x3,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101,
  USER_PIN_NOT_INITIALIZED: 0x102,
  USER_TYPE_INVALID: 0x103,
  TOKEN_NOT_RECOGNIZED: 0xe1,
} as const;

/** User types of C_Login: PKCS#11's two, and Luna's vendor-defined Crypto User (CKU_VENDOR_DEFINED | 1). */
export const CKU = { SO: 0, USER: 1, CRYPTO_USER: 0x80000001 } as const;

/** A body larger than this is refused: no PKCS#11 call of a partition needs more. */
export const MAX_BODY = 16 * 1024 * 1024;

export interface Frame {
  code: number;
  options: Buffer;
  body: Buffer;
}

/**
 * Cuts a byte stream into the version byte, then frames; push() returns what became complete. Pieces are kept as
 * they come and joined once a whole frame is there, so a large frame arriving in many pieces is copied about once
 * (joining on every piece would copy it once per piece).
 */
export class FrameReader {
  private pieces: Buffer[] = [];
  private size = 0;
  private versionRead = false;

  constructor(private readonly expectVersion: boolean) {}

  push(chunk: Buffer): { version?: number; frames: Frame[] } {
    if (chunk.length) {
      this.pieces.push(chunk);
      this.size += chunk.length;
    }
    const out: { version?: number; frames: Frame[] } = { frames: [] };
    if (this.expectVersion && !this.versionRead) {
      if (this.size < 1) return out;
      out.version = this.pieces[0][0];
      this.versionRead = true;
      this.drop(1);
    }
    while (this.size >= 12) {
      const header = this.head(12);
      const olen = header.readUInt32BE(4);
      const dlen = header.readUInt32BE(8);
      if (olen > MAX_BODY || dlen > MAX_BODY) throw new Error('p11-kit RPC frame larger than allowed');
      const total = 12 + olen + dlen;
      if (this.size < total) break;
      const f = this.head(total);
      out.frames.push({
        code: f.readUInt32BE(0),
        options: Buffer.from(f.subarray(12, 12 + olen)),
        body: Buffer.from(f.subarray(12 + olen, total)),
      });
      this.drop(total);
    }
    return out;
  }

  /** The first n bytes (n <= size) as one buffer: the pieces they span are joined into one, once. */
  private head(n: number): Buffer {
    if (this.pieces[0].length >= n) return this.pieces[0];
    let count = 0;
    for (let have = 0; have < n; count++) have += this.pieces[count].length;
    const joined = Buffer.concat(this.pieces.slice(0, count));
    this.pieces.splice(0, count, joined);
    return joined;
  }

  private drop(n: number): void {
    this.size -= n;
    while (n > 0) {
      const first = this.pieces[0];
      if (first.length <= n) {
        n -= first.length;
        this.pieces.shift();
      } else {
        this.pieces[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

export function encodeFrame(f: Frame): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(f.code, 0);
  h.writeUInt32BE(f.options.length, 4);
  h.writeUInt32BE(f.body.length, 8);
  return Buffer.concat([h, f.options, f.body]);
}

/** Reads a body's arguments in order; any overrun throws (a malformed frame). */
export class BodyReader {
  private off = 0;
  readonly callId: number;
  readonly signature: string;

  constructor(private readonly b: Buffer) {
    this.callId = this.u32();
    const sig = this.bytes();
    this.signature = sig ? sig.toString('latin1') : '';
  }

  private need(n: number): void {
    if (this.off + n > this.b.length) throw new Error('p11-kit RPC message shorter than its signature');
  }

  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  /** "u": CK_ULONG as uint64 (values past 2^53 are not used by PKCS#11 handles or user types here). */
  ulong(): number {
    this.need(8);
    const v = Number(this.b.readBigUInt64BE(this.off));
    this.off += 8;
    return v;
  }

  byte(): number {
    this.need(1);
    return this.b[this.off++];
  }

  /** A plain byte array ("s", "z", the signature); null for the NULL marker. */
  bytes(): Buffer | null {
    const len = this.u32();
    if (len === 0xffffffff) return null;
    this.need(len);
    const v = this.b.subarray(this.off, this.off + len);
    this.off += len;
    return Buffer.from(v);
  }

  /** A request's "ay": validity byte, then a byte array (or only a length when not valid). */
  inBytes(): Buffer | null {
    if (this.byte() === 0) {
      this.u32();
      return null;
    }
    return this.bytes();
  }
}

/** Builds a body: call id, signature, then arguments as the signature says. */
export class BodyWriter {
  private readonly parts: Buffer[] = [];

  constructor(callId: number, signature: string) {
    this.u32(callId);
    this.bytes(Buffer.from(signature, 'latin1'));
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }

  ulong(v: number): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    this.parts.push(b);
    return this;
  }

  bytes(v: Buffer): this {
    this.u32(v.length);
    this.parts.push(v);
    return this;
  }

  inBytes(v: Buffer): this {
    this.parts.push(Buffer.from([1]));
    return this.bytes(v);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The response p11-kit's server sends for a failed call: call id ERROR, signature "u", the CK_RV. */
export function errorBody(rv: number): Buffer {
  return new BodyWriter(CALL.ERROR, 'u').ulong(rv).done();
}

/** An empty successful response (calls whose response signature is ""). */
export function okBody(callId: number): Buffer {
  return new BodyWriter(callId, '').done();
}

/** The CK_RV of a response: 0 unless it is an ERROR response. */
export function responseRv(body: Buffer): number {
  const r = new BodyReader(body);
  return r.callId === CALL.ERROR ? r.ulong() : CKR.OK;
}
