import { Journal } from '../store/journal';
import { errors } from '../http/errors';
import { collections } from './model';

/** A pool setting as the service returns it: a name, a string value and its type. */
export interface Setting {
  name: string;
  value: string;
  type: 'boolean';
}

/** The settings a Managed HSM has, with their defaults (Get-AzKeyVaultSetting shows false on a new HSM). */
const DEFAULTS: readonly Setting[] = [{ name: 'AllowKeyManagementOperationsThroughARM', value: 'false', type: 'boolean' }];

/** The account settings of one instance (GET /settings, GET and PATCH /settings/{name}), kept in the journal. */
export class SettingsService {
  constructor(private readonly store: Journal, private readonly hsm: string) {}

  list(): Setting[] {
    return DEFAULTS.map((d) => this.store.get<Setting>(collections.settings(this.hsm), d.name) ?? d);
  }

  get(name: string): Setting {
    const known = DEFAULTS.find((d) => d.name.toLowerCase() === name.toLowerCase());
    if (!known) throw errors.badParameter(`'${name.slice(0, 80)}' is not a valid settings option: ${DEFAULTS.map((d) => d.name).join(', ')}.`);
    return this.store.get<Setting>(collections.settings(this.hsm), known.name) ?? known;
  }

  /** Boolean settings take the strings "true" and "false", as the service writes them. */
  async update(name: string, value: string): Promise<Setting> {
    const cur = this.get(name);
    const v = value.toLowerCase();
    if (v !== 'true' && v !== 'false') throw errors.badParameter(`Setting ${cur.name} is a boolean: its value must be "true" or "false"; got '${value.slice(0, 40)}'.`);
    const next: Setting = { ...cur, value: v };
    await this.store.commit([{ c: collections.settings(this.hsm), id: cur.name, v: next }]);
    return next;
  }
}
