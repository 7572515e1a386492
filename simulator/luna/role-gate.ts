import { Appliance } from './appliance';
import { Role } from './partition-roles';
import { BodyReader, BodyWriter, CALL, CKR, CKU, KEY_USES, OBJECT_WRITES, errorBody, okBody, responseRv } from './p11-rpc';

/** A partition's token PINs, which only the appliance knows. */
export type TokenPins = (partition: string) => { user: string; so: string };

/** Sends one request of the gate's own to `p11-kit remote` and returns its response (see NtlsServer). */
export type AskServer = (body: Buffer) => Promise<Buffer>;

/** What the gate does with one request: answer it itself, or send it on (maybe rewritten). */
export type GateDecision = { reply: Buffer } | { forward: Buffer; after?: (response: Buffer) => unknown };

/**
 * The appliance's enforcement of partition roles on one NTLS link (partition-roles.ts has the mapping). It
 * sees every PKCS#11 call the client makes, in order, before `p11-kit remote` does: logins are checked against
 * the role passwords and rewritten with the token's own PINs; `partition init` and `role init` are done here
 * and never reach the token; object writes by a Crypto User, and key use before the Crypto Officer exists,
 * are refused. One gate per link, as one link is one PKCS#11 application (one `p11-kit remote`).
 */
export class RoleGate {
  /** Session handle -> slot, from C_OpenSession. */
  private readonly sessions = new Map<number, number>();
  /** Slot -> partition, from the token label (SoftHSM2 tokens carry the partition name). */
  private readonly slots = new Map<number, string>();
  /** Slot -> the role logged in there (PKCS#11 logins hold for every session of the slot). */
  private readonly roles = new Map<number, Role>();

  constructor(
    private readonly appliance: Appliance,
    private readonly exported: readonly string[],
    private readonly pins: TokenPins,
    private readonly ask: AskServer,
    private readonly onZeroized: (partition: string) => void,
  ) {}

  async request(body: Buffer): Promise<GateDecision> {
    const r = new BodyReader(body);
    switch (r.callId) {
      case CALL.C_Initialize:
      case CALL.C_Finalize:
        this.sessions.clear();
        this.roles.clear();
        this.slots.clear();
        return { forward: body };
      case CALL.C_OpenSession: {
        const slot = r.ulong();
        return { forward: body, after: (resp) => this.opened(slot, resp) };
      }
      case CALL.C_CloseSession: {
        const session = r.ulong();
        return { forward: body, after: (resp) => responseRv(resp) === CKR.OK && this.closed(session) };
      }
      case CALL.C_CloseAllSessions: {
        const slot = r.ulong();
        return {
          forward: body,
          after: () => {
            for (const [h, s] of this.sessions) if (s === slot) this.sessions.delete(h);
            this.roles.delete(slot);
          },
        };
      }
      case CALL.C_Login:
        return this.login(r);
      case CALL.C_Logout: {
        const slot = this.sessions.get(r.ulong());
        return { forward: body, after: (resp) => responseRv(resp) === CKR.OK && slot !== undefined && this.roles.delete(slot) };
      }
      case CALL.C_InitToken:
        return this.initToken(r);
      case CALL.C_InitPIN:
        return this.initPin(r);
      case CALL.C_SetPIN:
        return this.setPin(r);
      default:
        if (OBJECT_WRITES.has(r.callId) || KEY_USES.has(r.callId)) return this.keyCall(r, body);
        return { forward: body };
    }
  }

  private opened(slot: number, resp: Buffer): void {
    const r = new BodyReader(resp);
    if (r.callId === CALL.C_OpenSession) this.sessions.set(r.ulong(), slot);
  }

  private closed(session: number): void {
    const slot = this.sessions.get(session);
    this.sessions.delete(session);
    // The last session of a slot closed: PKCS#11 logs the application out of that token.
    if (slot !== undefined && ![...this.sessions.values()].includes(slot)) this.roles.delete(slot);
  }

  /** The partition behind a slot: asked of the token once (C_GetTokenInfo's label), then remembered. */
  private async partitionOf(slot: number): Promise<string | undefined> {
    const known = this.slots.get(slot);
    if (known) return known;
    const resp = await this.ask(new BodyWriter(CALL.C_GetTokenInfo, 'u').ulong(slot).done());
    const r = new BodyReader(resp);
    if (r.callId !== CALL.C_GetTokenInfo) return undefined;
    const label = r.bytes()?.toString('utf8').trim();
    if (!label || !this.exported.includes(label)) return undefined;
    this.slots.set(slot, label);
    return label;
  }

  private async sessionPartition(session: number): Promise<{ slot: number; partition: string } | undefined> {
    const slot = this.sessions.get(session);
    if (slot === undefined) return undefined;
    const partition = await this.partitionOf(slot);
    return partition ? { slot, partition } : undefined;
  }

  private async login(r: BodyReader): Promise<GateDecision> {
    const session = r.ulong();
    const userType = r.ulong();
    const pin = r.inBytes()?.toString('utf8') ?? '';
    const where = await this.sessionPartition(session);
    if (!where) return { reply: errorBody(CKR.SESSION_HANDLE_INVALID) };
    const { slot, partition } = where;
    if (this.roles.has(slot)) return { reply: errorBody(CKR.USER_ALREADY_LOGGED_IN) };
    let role: Role;
    let check;
    if (userType === CKU.SO) {
      role = 'po';
      check = await this.appliance.checkRole(partition, 'po', pin);
    } else if (userType === CKU.CRYPTO_USER) {
      role = 'cu';
      check = await this.appliance.checkRole(partition, 'cu', pin);
    } else if (userType === CKU.USER) {
      // CKU_USER is the Crypto Officer, or the Crypto User when the password is the CU's.
      role = (await this.appliance.isRolePassword(partition, 'cu', pin)) ? 'cu' : 'co';
      check = await this.appliance.checkRole(partition, role, pin);
    } else return { reply: errorBody(CKR.USER_TYPE_INVALID) };
    switch (check) {
      case 'ok':
        break;
      case 'wrong':
        return { reply: errorBody(CKR.PIN_INCORRECT) };
      case 'locked':
        return { reply: errorBody(CKR.PIN_LOCKED) };
      case 'zeroized':
        this.onZeroized(partition);
        return { reply: errorBody(CKR.PIN_INCORRECT) };
      default:
        return { reply: errorBody(role === 'po' ? CKR.TOKEN_NOT_RECOGNIZED : CKR.USER_PIN_NOT_INITIALIZED) };
    }
    const pins = this.pins(partition);
    const real = role === 'po' ? pins.so : pins.user;
    const body = new BodyWriter(CALL.C_Login, 'uuay').ulong(session).ulong(role === 'po' ? CKU.SO : CKU.USER).inBytes(Buffer.from(real)).done();
    return { forward: body, after: (resp) => void (responseRv(resp) === CKR.OK && this.roles.set(slot, role)) };
  }

  /** lunacm `partition init`: the PO password and label are the appliance's; the token is not re-initialised. */
  private async initToken(r: BodyReader): Promise<GateDecision> {
    const slot = r.ulong();
    const pin = r.inBytes()?.toString('utf8') ?? '';
    const label = (r.bytes()?.toString('utf8') ?? '').replace(/\0.*$/s, '').trim();
    const partition = await this.partitionOf(slot);
    if (!partition) return { reply: errorBody(CKR.SLOT_ID_INVALID) };
    if (pin.length < 7 || pin.length > 255) return { reply: errorBody(CKR.PIN_LEN_RANGE) };
    if (this.appliance.partition(partition)?.roles) return { reply: errorBody(CKR.ACTION_PROHIBITED) };
    try {
      await this.appliance.initPartition(partition, label || partition, pin);
    } catch {
      return { reply: errorBody(CKR.PIN_INVALID) };
    }
    return { reply: okBody(CALL.C_InitToken) };
  }

  /** C_InitPIN: by the PO it sets (or resets) the Crypto Officer; by the CO, the Crypto User (Luna's role init). */
  private async initPin(r: BodyReader): Promise<GateDecision> {
    const session = r.ulong();
    const pin = r.inBytes()?.toString('utf8') ?? '';
    const where = await this.sessionPartition(session);
    if (!where) return { reply: errorBody(CKR.SESSION_HANDLE_INVALID) };
    const role = this.roles.get(where.slot);
    if (role !== 'po' && role !== 'co') return { reply: errorBody(CKR.USER_NOT_LOGGED_IN) };
    if (pin.length < 7 || pin.length > 255) return { reply: errorBody(CKR.PIN_LEN_RANGE) };
    try {
      await this.appliance.initRole(where.partition, role === 'po' ? 'co' : 'cu', pin);
    } catch {
      return { reply: errorBody(CKR.PIN_INVALID) };
    }
    return { reply: okBody(CALL.C_InitPIN) };
  }

  /** C_SetPIN: the logged-in role changes its own password (`role changepw`). */
  private async setPin(r: BodyReader): Promise<GateDecision> {
    const session = r.ulong();
    const old = r.inBytes()?.toString('utf8') ?? '';
    const next = r.inBytes()?.toString('utf8') ?? '';
    const where = await this.sessionPartition(session);
    if (!where) return { reply: errorBody(CKR.SESSION_HANDLE_INVALID) };
    const role = this.roles.get(where.slot);
    if (!role) return { reply: errorBody(CKR.USER_NOT_LOGGED_IN) };
    if (next.length < 7 || next.length > 255) return { reply: errorBody(CKR.PIN_LEN_RANGE) };
    let ok: boolean;
    try {
      ok = await this.appliance.changeRolePassword(where.partition, role, old, next);
    } catch {
      // A new password the appliance refuses (the other role's, or not printable ASCII).
      return { reply: errorBody(CKR.PIN_INVALID) };
    }
    return { reply: ok ? okBody(CALL.C_SetPIN) : errorBody(CKR.PIN_INCORRECT) };
  }

  /**
   * Key use needs an initialised Crypto Officer; object writes need the CO logged in. SoftHSM2 itself would let a
   * R/W session without a login create, change and destroy public objects (CKA_PRIVATE false): the gate does not.
   */
  private async keyCall(r: BodyReader, body: Buffer): Promise<GateDecision> {
    const where = await this.sessionPartition(r.ulong());
    if (!where) return { forward: body };
    if (!this.appliance.partition(where.partition)?.roles?.co) return { reply: errorBody(CKR.USER_PIN_NOT_INITIALIZED) };
    const role = this.roles.get(where.slot);
    if (OBJECT_WRITES.has(r.callId) && role !== 'co') return { reply: errorBody(role ? CKR.ACTION_PROHIBITED : CKR.USER_NOT_LOGGED_IN) };
    return { forward: body, after: (resp) => (OBJECT_WRITES.has(r.callId) && responseRv(resp) === CKR.OK ? this.appliance.emit('partition-changed', where.partition) : undefined) };
  }
}

