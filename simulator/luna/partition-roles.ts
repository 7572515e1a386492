/**
 * Luna's partition roles, and how they map onto SoftHSM2, which has only an SO PIN and a user PIN:
 *
 * | Luna role | does | SoftHSM2 login the appliance makes |
 * | --- | --- | --- |
 * | Partition SO (po) | `partition init` (C_InitToken), `role init -name co` (C_InitPIN as SO) | CKU_SO with the token's own SO PIN |
 * | Crypto Officer (co) | creates, changes, destroys and uses objects; `role init -name cu` (C_InitPIN in a CO session) | CKU_USER with the token's user PIN |
 * | Crypto User (cu) | uses objects only (sign, verify, encrypt, decrypt, wrap) | CKU_USER with the same user PIN; the appliance refuses object writes |
 *
 * The passwords clients type are the appliance's (hashed in its journal); the token's own PINs are random and
 * never leave the appliance. A client logs in as CU with CKU_USER and the CU password, or with Luna's
 * CKU_CRYPTO_USER (0x80000001). Ten failures in a row (partition policy 20's default): the PO zeroizes the
 * partition, the CO locks the CO and the CU, the CU locks the CU (Luna Network HSM 7 documentation, "Failed
 * Partition Login Attempts"). A locked role stays locked until set again by the role above it.
 */
export type Role = 'po' | 'co' | 'cu';

/** Partition policy 20 "Max failed user logins allowed": 10 by default, the most Luna allows. */
export const MAX_FAILED_ROLE_LOGINS = 10;

export interface PartitionRoles {
  /** The label given at `partition init`. */
  label?: string;
  po?: string;
  co?: string;
  cu?: string;
  failed: Record<Role, number>;
  locked: Record<Role, boolean>;
}

export type RoleCheck = 'ok' | 'wrong' | 'locked' | 'not-initialized' | 'zeroized';

export function emptyRoles(): PartitionRoles {
  return { failed: { po: 0, co: 0, cu: 0 }, locked: { po: false, co: false, cu: false } };
}
