import { KeyVaultManagedHardwareSecurityModuleKey } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module-key';
import { KeyVaultManagedHardwareSecurityModuleKeyRotationPolicy } from '@cdktf/provider-azurerm/lib/key-vault-managed-hardware-security-module-key-rotation-policy';
import { ITerraformDependable } from 'cdktf';
import { Construct } from 'constructs';
import { isoDurationDays } from './iso-duration';
import { requireHsmProviderFeatures } from './provider-features';
import { checkName, checkOneOf, fail, isKnown } from './validation';

export const KEY_TYPES = ['RSA-HSM', 'EC-HSM', 'oct-HSM'] as const;
export type ManagedHsmKeyType = (typeof KEY_TYPES)[number];
export const RSA_KEY_SIZES = [2048, 3072, 4096] as const;
export const OCT_KEY_SIZES = [128, 192, 256] as const;
export const EC_CURVES = ['P-256', 'P-256K', 'P-384', 'P-521'] as const;
export type EcCurve = (typeof EC_CURVES)[number];
export type KeyOperation = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'wrapKey' | 'unwrapKey' | 'import';

/** The operations each key type can perform in a Managed HSM. */
export const KEY_OPS_BY_TYPE: Record<ManagedHsmKeyType, readonly KeyOperation[]> = {
  'RSA-HSM': ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import'],
  'EC-HSM': ['sign', 'verify'],
  'oct-HSM': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
};

export interface ManagedHsmKeyRotation {
  /** Expiry set on each new version, ISO 8601 duration, e.g. 'P1Y'. */
  readonly expireAfter: string;
  /** Rotate this long after creation, e.g. 'P11M'. Give this or timeBeforeExpiry. */
  readonly timeAfterCreation?: string;
  /** Rotate this long before expiry, e.g. 'P30D'. Give this or timeAfterCreation. */
  readonly timeBeforeExpiry?: string;
}

export interface ManagedHsmKeyProps {
  /** The id of the Managed HSM that holds the key. */
  readonly managedHsmId: string;
  /** Key name: 1-127 letters, digits and hyphens. */
  readonly name: string;
  readonly keyType: ManagedHsmKeyType;
  /** RSA: 2048, 3072 or 4096; oct: 128, 192 or 256. @default 3072 for RSA, 256 for oct */
  readonly keySize?: number;
  /** EC only. @default 'P-256' */
  readonly curve?: EcCurve;
  /** @default every operation the key type allows, but 'import' (that is for BYOK key-exchange keys only) */
  readonly keyOps?: KeyOperation[];
  /** Expiry as an RFC 3339 timestamp. Required unless rotation gives every version an expiry. @default none */
  readonly expirationDate?: string;
  /** @default none */
  readonly notBeforeDate?: string;
  /** Automatic rotation. @default none */
  readonly rotation?: ManagedHsmKeyRotation;
  /**
   * Resources the key must wait for: in Azure a key can only be created once the deploying principal holds
   * a role on the HSM, so pass its role assignments here.
   * @default []
   */
  readonly dependsOn?: ITerraformDependable[];
  /** @default {} */
  readonly tags?: Record<string, string>;
  /**
   * Leaves out `lifecycle.prevent_destroy`, so removing the key from the config or a change that forces
   * replacement (key type, size, curve) deletes it, and with it everything it encrypted or signed.
   * @default false (the ManagedHsm's dangerouslyAllowDestroy when added through ManagedHsm)
   */
  readonly dangerouslyAllowDestroy?: boolean;
}

const NAME_RULE = /^[a-zA-Z0-9-]{1,127}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** An HSM-backed key in a Managed HSM, with an optional rotation policy. */
export class ManagedHsmKey extends Construct {
  readonly resource: KeyVaultManagedHardwareSecurityModuleKey;
  readonly rotationPolicy?: KeyVaultManagedHardwareSecurityModuleKeyRotationPolicy;
  readonly id: string;
  /** The id of the key's current version. */
  readonly versionedId: string;

  constructor(scope: Construct, id: string, props: ManagedHsmKeyProps) {
    super(scope, id);
    requireHsmProviderFeatures(this);
    checkName(this, 'name', props.name, NAME_RULE, '1-127 letters, digits and hyphens');
    checkOneOf(this, 'keyType', props.keyType, KEY_TYPES);
    const keySize = this.keySize(props);
    if (props.curve !== undefined && props.keyType !== 'EC-HSM') fail(this, 'curve', props.curve, 'a curve only for EC-HSM keys');
    const curve = props.keyType === 'EC-HSM' ? props.curve ?? 'P-256' : undefined;
    if (curve) checkOneOf(this, 'curve', curve, EC_CURVES);

    const allowedOps = KEY_OPS_BY_TYPE[props.keyType];
    const keyOps = props.keyOps ?? allowedOps.filter((op) => op !== 'import');
    if (keyOps.length === 0) fail(this, 'keyOps', keyOps, `one or more of ${allowedOps.join(', ')}`);
    for (const op of keyOps) {
      if (!allowedOps.includes(op)) fail(this, 'keyOps', op, `for ${props.keyType}: ${allowedOps.join(', ')}`);
    }
    for (const [prop, value] of [['expirationDate', props.expirationDate], ['notBeforeDate', props.notBeforeDate]] as const) {
      if (value !== undefined && isKnown(value) && (!RFC3339.test(value) || Number.isNaN(Date.parse(value)))) {
        fail(this, prop, value, 'an RFC 3339 timestamp such as 2027-01-01T00:00:00Z');
      }
    }
    if (props.rotation) this.checkRotation(props.rotation);

    this.resource = new KeyVaultManagedHardwareSecurityModuleKey(this, 'Resource', {
      managedHsmId: props.managedHsmId,
      name: props.name,
      keyType: props.keyType,
      keySize,
      curve,
      keyOpts: keyOps,
      expirationDate: props.expirationDate,
      notBeforeDate: props.notBeforeDate,
      tags: props.tags,
      dependsOn: props.dependsOn,
      lifecycle: props.dangerouslyAllowDestroy ? undefined : { preventDestroy: true },
    });
    this.id = this.resource.id;
    this.versionedId = this.resource.versionedId;
    if (props.rotation) {
      this.rotationPolicy = new KeyVaultManagedHardwareSecurityModuleKeyRotationPolicy(this, 'RotationPolicy', {
        managedHsmKeyId: this.resource.id,
        expireAfter: props.rotation.expireAfter,
        timeAfterCreation: props.rotation.timeAfterCreation,
        timeBeforeExpiry: props.rotation.timeBeforeExpiry,
      });
    }
  }

  private keySize(props: ManagedHsmKeyProps): number | undefined {
    switch (props.keyType) {
      case 'RSA-HSM': {
        const size = props.keySize ?? 3072;
        if (!(RSA_KEY_SIZES as readonly number[]).includes(size)) fail(this, 'keySize', size, `for RSA-HSM: ${RSA_KEY_SIZES.join(', ')}`);
        return size;
      }
      case 'oct-HSM': {
        const size = props.keySize ?? 256;
        if (!(OCT_KEY_SIZES as readonly number[]).includes(size)) fail(this, 'keySize', size, `for oct-HSM: ${OCT_KEY_SIZES.join(', ')}`);
        return size;
      }
      default:
        if (props.keySize !== undefined) fail(this, 'keySize', props.keySize, 'no keySize for EC-HSM (the curve sets it)');
        return undefined;
    }
  }

  private checkRotation(rotation: ManagedHsmKeyRotation): void {
    const expireDays = isoDurationDays(rotation.expireAfter);
    if (expireDays === undefined || expireDays < 28) {
      fail(this, 'rotation.expireAfter', rotation.expireAfter, 'an ISO 8601 duration of at least 28 days, e.g. P1Y');
    }
    const { timeAfterCreation: after, timeBeforeExpiry: before } = rotation;
    if ((after === undefined) === (before === undefined)) {
      fail(this, 'rotation', rotation, 'exactly one of timeAfterCreation and timeBeforeExpiry');
    }
    const trigger = after ?? before!;
    const days = isoDurationDays(trigger);
    const prop = after !== undefined ? 'rotation.timeAfterCreation' : 'rotation.timeBeforeExpiry';
    if (days === undefined || days < 7 || days >= expireDays) {
      fail(this, prop, trigger, `an ISO 8601 duration of at least 7 days and shorter than expireAfter (${rotation.expireAfter})`);
    }
  }
}
