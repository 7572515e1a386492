import { Command } from '../command';
import { UsageError } from '../flags';
import { LunaCommandError, LunaStepsError, secretFrom } from './luna-ssh';

const LABEL = /^[A-Za-z0-9_.-]{1,32}$/;

export interface PartitionInitOptions {
  bundle: string;
  label: string;
  poPassword: string;
  coPassword: string;
  cuPassword?: string;
}

/** The PKCS#11 error name of a failure (pkcs11js names most in its message; not CKR_ACTION_PROHIBITED, 0x1b). */
function rv(err: unknown): string {
  if ((err as { code?: number }).code === 0x1b) return 'CKR_ACTION_PROHIBITED';
  return /CKR_[A-Z_]+/.exec((err as Error).message)?.[0] ?? (err as Error).message;
}

/**
 * lunacm's first steps on a new partition, from the client over NTLS (PKCS#11 through the bundle's module):
 * `partition init` (C_InitToken: label and Partition SO password), `role login -name po` and `role init -name co`
 * (C_InitPIN as the PO), and with a CU password `role login -name co` and `role init -name cu` (C_InitPIN as the
 * CO). Partition init and the CO are skipped when already done; the CU's password is set again on every run that
 * gives one (PKCS#11 cannot tell whether it was set).
 */
export async function initLunaPartition(o: PartitionInitOptions): Promise<{ partition: string; changes: string[] }> {
  const { openPartition } = require('./luna-connect') as typeof import('./luna-connect');
  const pkcs11js = require('pkcs11js') as typeof import('pkcs11js');
  const done: string[] = [];
  const p = await openPartition(o.bundle);
  const { lib, session, slot } = p;
  const login = (type: number, pin: string): string | undefined => {
    try {
      lib.C_Login(session, type, pin);
      return undefined;
    } catch (err) {
      return rv(err);
    }
  };
  try {
    try {
      lib.C_InitToken(slot, o.poPassword, o.label);
      done.push(`initialised partition ${p.token} (label ${o.label}, Partition SO password set)`);
    } catch (err) {
      if (rv(err) !== 'CKR_ACTION_PROHIBITED') throw new LunaCommandError(`partition init failed: ${rv(err)}`);
    }
    const co = login(pkcs11js.CKU_USER, o.coPassword);
    if (co === 'CKR_USER_PIN_NOT_INITIALIZED') {
      const po = login(pkcs11js.CKU_SO, o.poPassword);
      if (po) throw new LunaCommandError(`the Partition SO login failed (${po}): the partition was initialised with another PO password`);
      lib.C_InitPIN(session, o.coPassword);
      lib.C_Logout(session);
      done.push('initialised the Crypto Officer');
      const again = login(pkcs11js.CKU_USER, o.coPassword);
      if (again) throw new LunaCommandError(`the Crypto Officer cannot log in after role init (${again})`);
    } else if (co) throw new LunaCommandError(`the Crypto Officer login failed (${co}): the CO has another password`);
    if (o.cuPassword !== undefined) {
      lib.C_InitPIN(session, o.cuPassword);
      done.push('initialised the Crypto User');
    }
    lib.C_Logout(session);
    return { partition: p.token, changes: done };
  } catch (err) {
    if (err instanceof LunaCommandError) throw LunaStepsError.after(err, done);
    throw new LunaStepsError(`partition init on ${p.token} failed: ${rv(err)}`, done);
  } finally {
    p.close();
  }
}

export const lunaPartitionInitCommand: Command = {
  details: [
    'From the client host, through the bundle written by luna register-client, as lunacm does after clientconfig',
    'deploy: partition init (label, Partition SO password), role login po, role init co; with --cu-password-*',
    'role login co, role init cu. Passwords come from environment variables or files, never the command line.',
    '',
    'example: PO=... CO=... hsmctl luna partition-init --bundle ./cm1-bundle --label ctm --po-password-env PO --co-password-env CO',
  ].join('\n'),
  flags: {
    bundle: { type: 'string', value: 'DIR', description: 'the client bundle (required)' },
    label: { type: 'string', value: 'LABEL', description: 'partition label (required)' },
    'po-password-env': { type: 'string', value: 'VAR', description: 'Partition SO password (required)' },
    'po-password-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    'co-password-env': { type: 'string', value: 'VAR', description: 'Crypto Officer password (required)' },
    'co-password-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    'cu-password-env': { type: 'string', value: 'VAR', description: 'Crypto User password (optional)' },
    'cu-password-file': { type: 'string', value: 'FILE', description: '... or from FILE' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run(flags) {
    const bundle = flags.bundle as string | undefined;
    const label = flags.label as string | undefined;
    if (!bundle || !label) throw new UsageError('--bundle and --label are required');
    if (!LABEL.test(label)) throw new UsageError(`--label must be 1 to 32 letters, digits, ., - or _; got ${JSON.stringify(label.slice(0, 40))}`);
    const poPassword = secretFrom(flags, 'po-password', 'the Partition SO password');
    const coPassword = secretFrom(flags, 'co-password', 'the Crypto Officer password');
    const cu = flags['cu-password-env'] || flags['cu-password-file'] ? secretFrom(flags, 'cu-password', 'the Crypto User password') : undefined;
    for (const [what, pw] of [['PO', poPassword], ['CO', coPassword], ['CU', cu]] as const) {
      if (pw !== undefined && (pw.length < 7 || pw.length > 255)) throw new UsageError(`the ${what} password must be 7 to 255 characters`);
    }
    try {
      const r = await initLunaPartition({ bundle, label, poPassword, coPassword, cuPassword: cu });
      if (flags.json) console.log(JSON.stringify(r, null, 2));
      else console.log(r.changes.length ? r.changes.map((c) => `- ${c}`).join('\n') : `nothing to change: partition ${r.partition} is initialised and its Crypto Officer set`);
      return 0;
    } catch (err) {
      return LunaStepsError.report('luna partition-init', err);
    }
  },
};
