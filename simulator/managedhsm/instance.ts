import { Journal } from '../store/journal';
import { Token } from '../pkcs11/token';
import { InstanceRecord, collections } from './model';
import { KeyService } from './keys';
import { CryptoService } from './crypto-ops';
import { Rbac } from './rbac';

/**
 * One Managed HSM: its record (administrators, retention, purge protection, activation), its SoftHSM2 token
 * and the services over them. The HTTP face is attached by the registry; nothing here knows about HTTP.
 */
export class ManagedHsmInstance {
  readonly keys: KeyService;
  readonly crypto: CryptoService;
  readonly rbac: Rbac;
  /** Set by the registry once the instance listens. */
  hsmUri = '';

  constructor(
    private readonly store: Journal,
    readonly name: string,
    readonly token: Token,
  ) {
    this.keys = new KeyService(store, token, () => this.record());
    this.crypto = new CryptoService(this.keys);
    this.rbac = new Rbac(store, name, () => this.record().administrators);
  }

  record(): InstanceRecord {
    const r = this.store.get<InstanceRecord>(collections.instances, this.name);
    if (!r) throw new Error(`instance ${this.name} has no record`);
    return r;
  }

  get activated(): boolean {
    return this.record().activated;
  }

  /**
   * The activation state, for the security-domain ceremony (download with quorum, or upload of a domain) to set
   * once it succeeds. Until then every key, RNG and role operation answers "not activated".
   */
  async setActivated(activated: boolean): Promise<void> {
    await this.store.commit([{ c: collections.instances, id: this.name, v: { ...this.record(), activated } }]);
  }

  async update(patch: Partial<Pick<InstanceRecord, 'port' | 'administrators'>>): Promise<void> {
    await this.store.commit([{ c: collections.instances, id: this.name, v: { ...this.record(), ...patch } }]);
  }
}
