import * as fs from 'fs';
import * as path from 'path';
import type * as Pkcs11 from 'pkcs11js';
import { Command } from '../command';
import { writeFileAtomic } from '../../files/private-files';
import { UsageError } from '../flags';
import { LunaCommandError, LunaStepsError } from './luna-ssh';

/** Where Debian's p11-kit-modules puts the RPC client module (multiarch folders). */
const CLIENT_MODULE_CANDIDATES = ['/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so', '/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so', '/usr/lib/pkcs11/p11-kit-client.so'];

/** How a PKCS#11 application reaches a bundle's partition: the module, its environment, the token label. */
export interface PartitionModule {
  module: string;
  env: { P11_KIT_SERVER_ADDRESS: string };
  token: string;
  /** A p11-kit module config (for p11-kit-proxy users) written into the bundle. */
  moduleConfig: string;
}

/** bundle.json as `hsmctl luna register-client` writes it (and `luna ha create` extends it with the group). */
export interface LunaBundle {
  hsm: { ip?: string; address: string; sshPort?: number; ntlsPort: number; serverCertificate?: string; serverCertificateSha256: string };
  partition: { name: string; label: string; serialNumber: string };
  client: { name: string; ip: string; certificate: string; key?: string };
  ha?: { label: string; partition?: string; members: Array<{ address: string; ntlsPort: number; serverCertificate?: string; serverCertificateSha256: string }> };
}

export function readBundle(dir: string): LunaBundle {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'bundle.json'), 'utf8')) as LunaBundle;
  } catch (err) {
    throw new LunaCommandError(`${dir} is not a client bundle (bundle.json: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); make one with hsmctl luna register-client`);
  }
}

function clientModule(): string {
  const found = (process.env.P11_KIT_CLIENT_MODULE ? [process.env.P11_KIT_CLIENT_MODULE] : CLIENT_MODULE_CANDIDATES).find((f) => fs.existsSync(f));
  if (!found) throw new LunaCommandError("p11-kit-client.so not found: install Debian's p11-kit-modules (scripts/setup-system.sh) or set P11_KIT_CLIENT_MODULE");
  return found;
}

/**
 * The module and environment that reach the bundle's partition: p11-kit-client.so, whose
 * P11_KIT_SERVER_ADDRESS `|command` runs the NTLS tunnel (simulator/luna/ntls-tunnel.ts, precompiled) with
 * this bundle. Writes luna.module (p11-kit's `remote:` config) and luna-env.sh into the bundle.
 */
export async function partitionModule(bundleDir: string): Promise<PartitionModule> {
  const dir = path.resolve(bundleDir);
  const bundle = readBundle(dir);
  const { compiledEntry } = require('../../simulator/compiled') as typeof import('../../simulator/compiled');
  const tunnel = await compiledEntry(path.join(__dirname, '..', '..', 'simulator', 'luna', 'ntls-tunnel.ts'));
  // p11-kit splits the command on white space and honours quotes; paths with quotes or backslashes are refused.
  for (const p of [process.execPath, tunnel, dir]) {
    if (/["'\\\n]/.test(p)) throw new LunaCommandError(`cannot name ${JSON.stringify(p)} in a p11-kit remote command (quotes or backslashes)`);
  }
  const q = (p: string) => (/\s/.test(p) ? `"${p}"` : p);
  const command = `|${q(process.execPath)} ${q(tunnel)} ${q(dir)}`;
  const moduleConfig = path.join(dir, 'luna.module');
  writeIfDifferent(moduleConfig, `# p11-kit module config: the Luna partition ${bundle.partition.name} over NTLS\nremote: ${command}\n`);
  writeIfDifferent(path.join(dir, 'luna-env.sh'), `export P11_KIT_SERVER_ADDRESS='${command}'\n`);
  return { module: clientModule(), env: { P11_KIT_SERVER_ADDRESS: command }, token: bundle.partition.name, moduleConfig };
}

function writeIfDifferent(file: string, text: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return;
  writeFileAtomic(file, text, 0o600);
}

/** An open PKCS#11 session on a bundle's partition, through p11-kit-client.so in this process. */
export interface OpenPartition {
  lib: Pkcs11.PKCS11;
  slot: Buffer;
  session: Buffer;
  token: string;
  close(): void;
}

/**
 * Loads p11-kit-client.so for the bundle (P11_KIT_SERVER_ADDRESS is read when the module is loaded), finds the
 * partition's slot and opens a read-write session, logged in when a role and password are given.
 */
export async function openPartition(bundleDir: string, login?: { userType: number; pin: string }): Promise<OpenPartition> {
  const pm = await partitionModule(bundleDir);
  const pkcs11js = require('pkcs11js') as typeof import('pkcs11js');
  const { setRealEnv } = require('../../simulator/pkcs11/module') as typeof import('../../simulator/pkcs11/module');
  setRealEnv('P11_KIT_SERVER_ADDRESS', pm.env.P11_KIT_SERVER_ADDRESS);
  const lib = new pkcs11js.PKCS11();
  lib.load(pm.module);
  let initialized = false;
  try {
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    initialized = true;
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === pm.token);
    if (!slot) throw new LunaCommandError(`the partition ${pm.token} is not offered over NTLS`);
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    if (login) lib.C_Login(session, login.userType, login.pin);
    return {
      lib,
      slot,
      session,
      token: pm.token,
      close: () => {
        try {
          lib.C_Finalize();
        } finally {
          lib.close();
        }
      },
    };
  } catch (err) {
    if (initialized) lib.C_Finalize();
    lib.close();
    if (err instanceof LunaCommandError) throw err;
    throw new LunaCommandError(`cannot open the partition ${pm.token} over NTLS: ${(err as Error).message}`);
  }
}

export const lunaConnectCommand: Command = {
  details: [
    'As the Luna client library gives applications a slot: any PKCS#11 application (pkcs11-tool, OpenSSL\'s',
    'pkcs11 engine, CipherTrust, a firewall) loads p11-kit-client.so with P11_KIT_SERVER_ADDRESS set as printed;',
    'p11-kit then runs the NTLS tunnel with the bundle: mutual TLS with the client certificate, the appliance',
    'pinned to its server.pem, HA members tried in order. Also written into the bundle: luna-env.sh (source it)',
    'and luna.module (a p11-kit `remote:` module config). The partition is checked to be offered.',
    '',
    'example: eval "$(hsmctl luna connect --bundle ./cm1-bundle --env)"',
    '         pkcs11-tool --module /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so -L',
  ].join('\n'),
  flags: {
    bundle: { type: 'string', value: 'DIR', description: 'the client bundle written by luna register-client (required)' },
    env: { type: 'boolean', description: 'print only the export line, for eval' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run(flags) {
    const bundle = flags.bundle as string | undefined;
    if (!bundle) throw new UsageError('--bundle DIR is required');
    if (!fs.existsSync(path.join(bundle, 'bundle.json'))) throw new UsageError(`--bundle ${bundle.slice(0, 200)}: no bundle.json there (make one with hsmctl luna register-client)`);
    try {
      const pm = await partitionModule(bundle);
      const p = await openPartition(bundle);
      p.close();
      if (flags.env) console.log(`export P11_KIT_SERVER_ADDRESS='${pm.env.P11_KIT_SERVER_ADDRESS}'`);
      else if (flags.json) console.log(JSON.stringify(pm, null, 2));
      else {
        console.log(`module: ${pm.module}`);
        console.log(`token:  ${pm.token}`);
        console.log(`export P11_KIT_SERVER_ADDRESS='${pm.env.P11_KIT_SERVER_ADDRESS}'`);
        console.log(`(also in ${path.join(path.resolve(bundle), 'luna-env.sh')}; p11-kit module config: ${pm.moduleConfig})`);
      }
      return 0;
    } catch (err) {
      return LunaStepsError.report('luna connect', LunaStepsError.after(err, []));
    }
  },
};
