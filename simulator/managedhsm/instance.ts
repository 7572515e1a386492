import { Journal } from '../store/journal';
import { Token } from '../pkcs11/token';
import { SimulatorClock } from '../clock';
import { InstanceRecord, collections } from './model';
import { KeyService } from './keys';
import { CryptoService } from './crypto-ops';
import { Rbac } from './rbac';
import { SecurityDomainService } from './security-domain';
import { FullBackupService } from './full-backup';
import { registerDomain } from './backup';
import { SettingsService } from './settings';

/**
 * One Managed HSM: its record (administrators, retention, purge protection, activation), its SoftHSM2 token
 * and the services over them. The HTTP face is attached by the registry; nothing here knows about HTTP.
 */
export class ManagedHsmInstance {
  readonly keys: KeyService;
  readonly crypto: CryptoService;
  readonly rbac: Rbac;
  readonly securityDomain: SecurityDomainService;
  readonly backups: FullBackupService;
  readonly settings: SettingsService;
  /** Set by the registry once the instance listens. */
  hsmUri = '';

  constructor(
    private readonly store: Journal,
    readonly name: string,
    readonly token: Token,
    /** The simulator's clock: key validity, soft-delete retention and rotation read it. */
    readonly clock: SimulatorClock = SimulatorClock.wall(),
  ) {
    this.keys = new KeyService(store, token, () => this.record(), clock);
    this.crypto = new CryptoService(this.keys);
    this.rbac = new Rbac(store, name, () => this.record().administrators);
    this.securityDomain = new SecurityDomainService(store, token, () => this.record());
    this.backups = new FullBackupService(store, name, this.keys, this.rbac);
    this.settings = new SettingsService(store, name);
    registerDomain(this.keys, () => this.record().domain?.id);
  }

  /** After a start, once the key service has reconciled: the security domain and interrupted jobs. */
  async reconcile(log: (m: string) => void): Promise<void> {
    await this.securityDomain.reconcile(log);
    await this.backups.reconcile();
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
   * The test-only activation path (the ceremonies go through securityDomain): activating gives the HSM a fresh
   * security domain that no security-domain file protects until one is downloaded. Until activated, every key,
   * RNG and role operation answers "not activated".
   */
  async setActivated(activated: boolean): Promise<void> {
    if (activated) return this.securityDomain.activateWithoutCeremony();
    await this.store.commit([{ c: collections.instances, id: this.name, v: { ...this.record(), activated } }]);
  }

  async update(patch: Partial<Pick<InstanceRecord, 'port' | 'administrators' | 'purgeProtection'>>): Promise<void> {
    await this.store.commit([{ c: collections.instances, id: this.name, v: { ...this.record(), ...patch } }]);
  }
}
