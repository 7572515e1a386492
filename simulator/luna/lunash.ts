import { utils as sshUtils } from 'ssh2';
import { Appliance, DEFAULT_PARTITION_BYTES, NAME_RULES, POLICIES, SO_LOGIN_ATTEMPTS, checkName } from './appliance';
import { LunaError, SUCCESS_LINE, hsmErrors, resultLine, shown } from './errors';
import { isIp, parseCertificate } from './certs';
import { ReplicationError } from './replication';
import { MAX_FAILED_ROLE_LOGINS } from './partition-roles';
import type { Replicator } from './replication';

/** Longest command line LunaSH accepts; longer ones are refused whole and the session goes on. */
export const MAX_LINE = 4096;
export const SOFTWARE_VERSION = '7.2.0-220';
export const FIRMWARE_VERSION = '7.0.3';

/** How a command talks to its user: output, and prompts whose answers come from the terminal or stdin. */
export interface ShellIo {
  /** Text with '\n' line ends (the transport turns them into '\r\n' on a terminal). */
  write(text: string): void;
  /** Shows prompt and reads one line; secret answers are not echoed. null when the input has ended. */
  ask(prompt: string, secret: boolean): Promise<string | null>;
}

/** Per-SSH-session state: `hsm login` lasts for the session only, as on the appliance. */
export interface ShellSession {
  hsmLoggedIn: boolean;
}

interface OptSpec {
  name: string;
  aliases?: string[];
  /** A switch without value (e.g. -force). */
  flag?: boolean;
}

type Opts = Record<string, string | true>;

interface CommandSpec {
  path: string[];
  summary: string;
  options: OptSpec[];
  run(ctx: Ctx, o: Opts): Promise<void>;
}

interface Ctx {
  appliance: Appliance;
  replicator?: Replicator;
  session: ShellSession;
  io: ShellIo;
  out(line?: string): void;
}

const FORCE: OptSpec = { name: 'force', flag: true };

function need(o: Opts, name: string, cmd: string): string {
  const v = o[name];
  if (v === undefined) throw new LunaError(`Error: '${cmd}' needs the option -${name}.`);
  return v as string;
}

function int(value: string, option: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new LunaError(`Error: Invalid value '${shown(value)}' for ${option}: must be a whole number.`);
  return Number(value);
}

async function proceed(ctx: Ctx, o: Opts, warning: string): Promise<void> {
  if (o.force) return;
  ctx.out(warning);
  const answer = await ctx.io.ask("Type 'proceed' to continue, or 'quit' to quit now.\n> ", false);
  if (answer?.trim().toLowerCase() !== 'proceed') throw new LunaError('Command Aborted.');
}

/** A secret from its option, or asked twice (entry and confirmation) without echo. */
async function secretOf(ctx: Ctx, o: Opts, option: string, what: string, confirm: boolean): Promise<string> {
  const given = o[option];
  if (typeof given === 'string') return given;
  const first = await ctx.io.ask(`  Please enter ${what}:\n  > `, true);
  if (first === null) throw new LunaError('Command Aborted.');
  if (confirm) {
    const again = await ctx.io.ask(`  Please re-enter ${what.replace(/^(a|the) /, '')} to confirm:\n  > `, true);
    if (again !== first) throw new LunaError(`Error: The entries for ${what.replace(/^(a|the) /, '')} do not match.`);
  }
  return first;
}

function requireLogin(ctx: Ctx, cmd: string): void {
  if (!ctx.appliance.hsm().initialized) throw hsmErrors.notInitialized();
  if (!ctx.session.hsmLoggedIn) throw hsmErrors.notLoggedIn(cmd);
}

function pad(label: string, width = 33): string {
  return `   ${label}`.padEnd(width + 3);
}

const COMMANDS: CommandSpec[] = [
  {
    path: ['hsm', 'show'],
    summary: 'show the HSM: label, serial number, firmware, FIPS mode, partitions',
    options: [],
    async run({ appliance, session, out }) {
      const hsm = appliance.hsm();
      const parts = appliance.partitions();
      out();
      out('   Appliance Details:');
      out('   ==================');
      out(`${pad('Software Version:')}${SOFTWARE_VERSION}`);
      out();
      out('   HSM Details:');
      out('   ============');
      out(`${pad('HSM Label:')}${hsm.initialized ? hsm.label : 'no label'}`);
      out(`${pad('Serial #:')}${hsm.serial}`);
      out(`${pad('Firmware:')}${FIRMWARE_VERSION}`);
      out(`${pad('HSM Model:')}Luna K7`);
      out(`${pad('HSM Part Number:')}808-000048-002`);
      out(`${pad('Authentication Method:')}Password`);
      out(`${pad('HSM Admin login status:')}${session.hsmLoggedIn && hsm.initialized ? 'Logged In' : 'Not Logged In'}`);
      out(`${pad('HSM Admin login attempts left:')}${hsm.initialized ? `${SO_LOGIN_ATTEMPTS - hsm.failedLogins} before HSM zeroization!` : 'HSM Admin not initialized'}`);
      out(`${pad('RPV Initialized:')}No`);
      out(`${pad('Audit Role Initialized:')}No`);
      out(`${pad('Remote Login Initialized:')}No`);
      out(`${pad('Manually Zeroized:')}${hsm.zeroizedBy && hsm.zeroizedBy !== 'factory' ? 'Yes' : 'No'}`);
      out(`${pad('Secure Transport Mode:')}No`);
      out(`${pad('HSM Tamper State:')}No tamper(s)`);
      if (!hsm.initialized) {
        out();
        out('   *** HSM IS ZEROIZED ***  (initialize it with hsm init)');
      }
      out('   Partitions created on HSM:');
      out('   =====================================');
      for (const p of parts) out(`   Partition:   ${p.serial},     Name: ${p.name}`);
      out();
      out('   FIPS 140-2 Operation:');
      out('   =====================');
      out(`   The HSM is ${appliance.fipsMode() ? '' : 'NOT '}in FIPS 140-2 approved operation mode.`);
      out();
      const used = parts.reduce((n, p) => n + p.sizeBytes, 0);
      out('   HSM Storage Information:');
      out('   ========================');
      out(`${pad('Maximum HSM Storage Space (Bytes):', 41)}16252928`);
      out(`${pad('Space In Use (Bytes):', 41)}${used}`);
      out(`${pad('Free Space Left (Bytes):', 41)}${16252928 - used}`);
    },
  },
  {
    path: ['hsm', 'init'],
    summary: 'initialize (or re-initialize, erasing everything) the HSM',
    options: [{ name: 'label', aliases: ['l'] }, { name: 'password', aliases: ['pwd'] }, { name: 'domain', aliases: ['d'] }, FORCE],
    async run(ctx, o) {
      const label = need(o, 'label', 'hsm init');
      checkName('label', '-label', label);
      const hsm = ctx.appliance.hsm();
      if (hsm.initialized && !ctx.session.hsmLoggedIn) throw hsmErrors.notLoggedIn('hsm init');
      const password = await secretOf(ctx, o, 'password', 'a password for the HSM Administrator', true);
      const domain = await secretOf(ctx, o, 'domain', 'a cloning domain to use for initializing this HSM', true);
      await proceed(
        ctx,
        o,
        hsm.initialized
          ? 'CAUTION:  Are you sure you wish to re-initialize this HSM?\n          All partitions and data will be erased.'
          : 'CAUTION:  Are you sure you wish to initialize this HSM?',
      );
      await ctx.appliance.initHsm(label, password, domain);
      ctx.session.hsmLoggedIn = false;
      ctx.out();
      ctx.out("'hsm init' successful.");
    },
  },
  {
    path: ['hsm', 'login'],
    summary: 'log in as the HSM Administrator (SO) for this session',
    options: [{ name: 'password', aliases: ['pwd'] }],
    async run(ctx, o) {
      if (!ctx.appliance.hsm().initialized) throw hsmErrors.notInitialized();
      const password = await secretOf(ctx, o, 'password', "the HSM Administrators' password", false);
      await ctx.appliance.soLogin(password);
      ctx.session.hsmLoggedIn = true;
      ctx.out();
      ctx.out("'hsm login' successful.");
    },
  },
  {
    path: ['hsm', 'logout'],
    summary: 'log the HSM Administrator out',
    options: [],
    async run(ctx) {
      ctx.session.hsmLoggedIn = false;
      ctx.out("'hsm logout' successful.");
    },
  },
  {
    path: ['hsm', 'changePolicy'],
    summary: 'change an HSM policy (destructive ones zeroize the HSM; 12 = 0 is FIPS mode)',
    options: [{ name: 'policy', aliases: ['p'] }, { name: 'value', aliases: ['v'] }, FORCE],
    async run(ctx, o) {
      const id = int(need(o, 'policy', 'hsm changePolicy'), '-policy');
      const value = int(need(o, 'value', 'hsm changePolicy'), '-value');
      requireLogin(ctx, 'hsm changePolicy');
      const spec = POLICIES.find((p) => p.id === id);
      const current = ctx.appliance.hsm().policies[String(id)];
      if (spec?.destructive && spec.changeable && current !== value && (value === 0 || value === 1)) {
        await proceed(ctx, o, `CAUTION: This is a destructive policy change. The HSM will be zeroized:\n         all partitions and their objects will be erased.`);
      }
      const { zeroized } = await ctx.appliance.changePolicy(id, value);
      if (zeroized) ctx.session.hsmLoggedIn = false;
      ctx.out();
      ctx.out(`'hsm changePolicy' successful.`);
      ctx.out();
      ctx.out(`Policy ${spec!.description} is now set to value: ${value}`);
      if (zeroized) ctx.out('The HSM has been zeroized; initialize it again with hsm init.');
    },
  },
  {
    path: ['hsm', 'showPolicies'],
    summary: 'show the HSM capabilities and policies',
    options: [],
    async run({ appliance, out }) {
      const values = appliance.hsm().policies;
      out();
      out('   HSM Capabilities');
      for (const p of POLICIES) out(`        ${String(p.id).padStart(2)}: Enable ${p.description} : ${p.changeable || p.defaultValue ? 1 : 0}`);
      out();
      out('   HSM Policies');
      for (const p of POLICIES) out(`        ${String(p.id).padStart(2)}: ${p.description} : ${values[String(p.id)]}${p.destructive ? '   (destructive)' : ''}`);
    },
  },
  {
    path: ['partition', 'create'],
    summary: 'create a partition (the HSM Administrator must be logged in)',
    options: [{ name: 'partition', aliases: ['p', 'par'] }, { name: 'label', aliases: ['l'] }, { name: 'size', aliases: ['s'] }, FORCE],
    async run(ctx, o) {
      const name = need(o, 'partition', 'partition create');
      checkName('partition', '-partition', name);
      if (typeof o.label === 'string' && o.label !== name) checkName('label', '-label', o.label);
      const size = typeof o.size === 'string' ? int(o.size, '-size') : DEFAULT_PARTITION_BYTES;
      requireLogin(ctx, 'partition create');
      if (ctx.appliance.partition(name)) throw new LunaError(`Error: A partition named '${name}' already exists.`);
      await proceed(ctx, o, `Partition '${name}' will be created on the HSM.`);
      const p = await ctx.appliance.createPartition(name, size > 0 ? size : DEFAULT_PARTITION_BYTES);
      ctx.out();
      ctx.out(`'partition create' successful. Partition serial number: ${p.serial}`);
    },
  },
  {
    path: ['partition', 'list'],
    summary: 'list the partitions',
    options: [],
    async run({ appliance, out }) {
      out('                                            Storage (bytes)');
      out('                                       ----------------------------');
      out('Partition       Name              Objects    Total     Used     Free');
      out('===========================================================================');
      for (const p of appliance.partitions()) {
        const objects = (await appliance.tokens.objects(p.name)).length;
        const used = Math.min(p.sizeBytes, objects * 1024);
        out(`${p.serial.padEnd(16)}${p.name.padEnd(18)}${String(objects).padStart(7)}${String(p.sizeBytes).padStart(9)}${String(used).padStart(9)}${String(p.sizeBytes - used).padStart(9)}`);
      }
    },
  },
  {
    path: ['partition', 'show'],
    summary: 'show one partition (or all): serial number, label, storage',
    options: [{ name: 'partition', aliases: ['p', 'par'] }],
    async run({ appliance, out }, o) {
      const list = typeof o.partition === 'string' ? [appliance.requirePartition(o.partition)] : appliance.partitions();
      for (const p of list) {
        const objects = (await appliance.tokens.objects(p.name)).length;
        const used = Math.min(p.sizeBytes, objects * 1024);
        out();
        out(`${pad('Partition SN:', 40)}${p.serial}`);
        out(`${pad('Partition Name:', 40)}${p.name}`);
        out(`${pad('Partition Label:', 40)}${p.name}`);
        const r = p.roles;
        out(`${pad('Partition Initialized:', 40)}${r ? `yes (label ${r.label ?? p.name})` : 'no'}`);
        out(`${pad('Partition SO PIN To Be Changed:', 40)}no`);
        out(`${pad('Partition SO Zeroized:', 40)}no`);
        out(`${pad('Partition SO Login Attempts Left:', 40)}${r?.po ? MAX_FAILED_ROLE_LOGINS - r.failed.po : 'PO not initialized'}`);
        out(`${pad('Crypto Officer Initialized:', 40)}${r?.co ? 'yes' : 'no'}`);
        out(`${pad('Crypto Officer Locked Out:', 40)}${r?.locked.co ? 'yes' : 'no'}`);
        out(`${pad('Crypto Officer Login Attempts Left:', 40)}${r?.co ? MAX_FAILED_ROLE_LOGINS - r.failed.co : 'CO not initialized'}`);
        out(`${pad('Crypto User Initialized:', 40)}${r?.cu ? 'yes' : 'no'}`);
        out(`${pad('Crypto User Locked Out:', 40)}${r?.locked.cu || r?.locked.co ? 'yes' : 'no'}`);
        out(`${pad('Partition Object Count:', 40)}${objects}`);
        out(`${pad('Partition Storage Information (Bytes):', 40)}Total=${p.sizeBytes}, Used=${used}, Free=${p.sizeBytes - used}`);
        out(`${pad('Partition Created:', 40)}${p.createdAt}`);
      }
    },
  },
  {
    path: ['partition', 'showContents'],
    summary: 'list the objects of a partition (the HSM Administrator must be logged in)',
    options: [{ name: 'partition', aliases: ['p', 'par'] }],
    async run(ctx, o) {
      const name = need(o, 'partition', 'partition showContents');
      const p = ctx.appliance.requirePartition(name);
      requireLogin(ctx, 'partition showContents');
      const objects = await ctx.appliance.tokens.objects(name);
      ctx.out();
      ctx.out(`${pad('Partition Name:', 22)}${p.name}`);
      ctx.out(`${pad('Partition SN:', 22)}${p.serial}`);
      ctx.out(`${pad('Number objects:', 22)}${objects.length}`);
      for (const obj of objects) {
        ctx.out();
        ctx.out(`${pad('Object Label:', 22)}${shown(obj.label, 64)}`);
        ctx.out(`${pad('Object Handle:', 22)}${obj.id || '-'}`);
        ctx.out(`${pad('Object Type:', 22)}${{ privateKey: 'Private Key', publicKey: 'Public Key', secretKey: 'Symmetric Key', data: 'Data', certificate: 'Certificate', other: 'Other' }[obj.class]}${obj.keyType ? ` (${obj.keyType})` : ''}`);
      }
    },
  },
  {
    path: ['partition', 'delete'],
    summary: 'delete a partition and every object in it',
    options: [{ name: 'partition', aliases: ['p', 'par'] }, FORCE],
    async run(ctx, o) {
      const name = need(o, 'partition', 'partition delete');
      ctx.appliance.requirePartition(name);
      requireLogin(ctx, 'partition delete');
      await proceed(ctx, o, `CAUTION: Partition '${name}' and every object in it will be erased.`);
      await ctx.appliance.deletePartition(name);
      ctx.out();
      ctx.out("'partition delete' successful.");
    },
  },
  {
    path: ['partition', 'replication', 'add'],
    summary: '(simulator) replicate a partition with the same partition on a peer appliance of the cloning domain (HA)',
    options: [{ name: 'partition', aliases: ['p', 'par'] }, { name: 'peer', aliases: ['ip'] }, { name: 'port' }, { name: 'certificate', aliases: ['cert'] }],
    async run(ctx, o) {
      const name = need(o, 'partition', 'partition replication add');
      const peer = need(o, 'peer', 'partition replication add');
      if (!isIp(peer)) throw new LunaError(`Error: Invalid value '${shown(peer)}' for -peer: not an IP address.`);
      const port = typeof o.port === 'string' ? int(o.port, '-port') : 1792;
      if (port < 1 || port > 65535) throw new LunaError(`Error: Invalid value ${port} for -port: must be 1 to 65535.`);
      const certName = need(o, 'certificate', 'partition replication add');
      ctx.appliance.requirePartition(name);
      requireLogin(ctx, 'partition replication add');
      const file = ctx.appliance.file(certName);
      if (!file) throw new LunaError(`Error: No file named '${shown(certName)}'. Copy the peer's server.pem with scp first.`);
      const certPem = Buffer.from(file.data, 'base64').toString('utf8');
      try {
        parseCertificate(certPem);
      } catch (err) {
        throw new LunaError(`Error: '${shown(certName)}' is not a certificate: ${(err as Error).message}.`);
      }
      if (!ctx.replicator) throw new LunaError('Error: Replication is not available on this appliance.');
      try {
        const r = await ctx.replicator.addPeer(name, { ip: peer, port, certPem });
        ctx.out();
        ctx.out(
          {
            pending: `Peer ${peer}:${port} recorded; it does not answer for this appliance yet (add this appliance on the peer too).`,
            'cloned-to-peer': `Partition '${name}' cloned to ${peer}:${port}; replication is on.`,
            'cloned-from-peer': `Partition '${name}' cloned from ${peer}:${port}; replication is on.`,
            'in-sync': `Partition '${name}' and ${peer}:${port} hold the same partition; replication is on.`,
          }[r.state],
        );
      } catch (err) {
        if (err instanceof ReplicationError) {
          if (err.code === 'CLONING_DOMAIN_MISMATCH') throw new LunaError(`Error: Refused: ${err.message}. HA members must share the cloning domain.`);
          throw new LunaError(`Error: ${err.message}.`);
        }
        throw err;
      }
    },
  },
  {
    path: ['partition', 'replication', 'show'],
    summary: '(simulator) show the peers a partition is replicated with',
    options: [{ name: 'partition', aliases: ['p', 'par'] }],
    async run(ctx, o) {
      const name = need(o, 'partition', 'partition replication show');
      ctx.appliance.requirePartition(name);
      const r = ctx.appliance.replica(name);
      ctx.out();
      ctx.out(`${pad('Partition Name:', 22)}${name}`);
      ctx.out(`${pad('Replicated Objects:', 22)}${r ? r.known.length : 0}`);
      if (!r) ctx.out('   Not replicated.');
      for (const p of r?.peers ?? []) ctx.out(`   Peer: ${p.ip}:${p.port}   Certificate: ${p.fingerprint}`);
    },
  },
  {
    path: ['partition', 'replication', 'delete'],
    summary: '(simulator) stop replicating a partition with a peer',
    options: [{ name: 'partition', aliases: ['p', 'par'] }, { name: 'peer', aliases: ['ip'] }, { name: 'port' }, FORCE],
    async run(ctx, o) {
      const name = need(o, 'partition', 'partition replication delete');
      const peer = need(o, 'peer', 'partition replication delete');
      const port = typeof o.port === 'string' ? int(o.port, '-port') : 1792;
      requireLogin(ctx, 'partition replication delete');
      if (!ctx.replicator) throw new LunaError('Error: Replication is not available on this appliance.');
      try {
        await ctx.replicator.removePeer(name, peer, port);
      } catch (err) {
        throw new LunaError(`Error: ${(err as Error).message}.`);
      }
      ctx.out("'partition replication delete' successful.");
    },
  },
  {
    path: ['client', 'register'],
    summary: 'register a client from its certificate, copied first as <ip>.pem or <hostname>.pem',
    options: [{ name: 'client', aliases: ['c'] }, { name: 'ip', aliases: ['i'] }, { name: 'hostname', aliases: ['h'] }],
    async run(ctx, o) {
      const name = need(o, 'client', 'client register');
      await ctx.appliance.registerClient(name, { ip: o.ip as string | undefined, hostname: o.hostname as string | undefined });
      ctx.out();
      ctx.out("'client register' successful.");
    },
  },
  {
    path: ['client', 'assignPartition'],
    summary: 'give a client access to a partition',
    options: [{ name: 'client', aliases: ['c'] }, { name: 'partition', aliases: ['p', 'par'] }],
    async run(ctx, o) {
      await ctx.appliance.assignPartition(need(o, 'client', 'client assignPartition'), need(o, 'partition', 'client assignPartition'));
      ctx.out();
      ctx.out("'client assignPartition' successful.");
    },
  },
  {
    path: ['client', 'revokePartition'],
    summary: "take a partition away from a client (its open sessions end at once)",
    options: [{ name: 'client', aliases: ['c'] }, { name: 'partition', aliases: ['p', 'par'] }],
    async run(ctx, o) {
      await ctx.appliance.revokePartition(need(o, 'client', 'client revokePartition'), need(o, 'partition', 'client revokePartition'));
      ctx.out();
      ctx.out("'client revokePartition' successful.");
    },
  },
  {
    path: ['client', 'show'],
    summary: 'show a client: address and assigned partitions',
    options: [{ name: 'client', aliases: ['c'] }],
    async run(ctx, o) {
      const c = ctx.appliance.requireClient(need(o, 'client', 'client show'));
      ctx.out();
      ctx.out(` ClientID:          ${c.name}`);
      ctx.out(` IPAddress:         ${c.ip ?? ''}`);
      ctx.out(` Hostname:          ${c.hostname ?? ''}`);
      ctx.out(` Partitions:        ${c.partitions.map((p) => `"${p}"`).join(', ')}`);
    },
  },
  {
    path: ['client', 'list'],
    summary: 'list the registered clients',
    options: [],
    async run(ctx) {
      const list = ctx.appliance.clients();
      ctx.out();
      if (list.length === 0) ctx.out('No clients are registered.');
      list.forEach((c, i) => ctx.out(`registered client ${i + 1}: ${c.name}`));
    },
  },
  {
    path: ['client', 'delete'],
    summary: 'delete a client registration (its connections end at once)',
    options: [{ name: 'client', aliases: ['c'] }, FORCE],
    async run(ctx, o) {
      const name = need(o, 'client', 'client delete');
      ctx.appliance.requireClient(name);
      await proceed(ctx, o, `CAUTION: Client '${name}' will be deleted and lose access to its partitions.`);
      await ctx.appliance.deleteClient(name);
      ctx.out();
      ctx.out("'client delete' successful.");
    },
  },
  {
    path: ['client', 'fingerprint'],
    summary: "show the fingerprint (SHA-256) of a client's certificate",
    options: [{ name: 'client', aliases: ['c'] }],
    async run(ctx, o) {
      const c = ctx.appliance.requireClient(need(o, 'client', 'client fingerprint'));
      ctx.out();
      ctx.out(`Certificate fingerprint: ${c.fingerprint}`);
    },
  },
  {
    path: ['network', 'show'],
    summary: 'show the network settings',
    options: [],
    async run({ appliance, out }) {
      out();
      out(`        Hostname:           ${appliance.hostname}`);
      out();
      out('        Device:             eth0');
      out(`        IP Address:         ${appliance.ip} (static)`);
      out('        Link status:        connected');
    },
  },
  {
    path: ['my', 'file', 'list'],
    summary: "list the files copied to tenantadmin's home (server.pem included)",
    options: [],
    async run({ appliance, out }) {
      out();
      for (const f of appliance.files()) {
        out(`${String(Buffer.from(f.data, 'base64').length).padStart(10)} ${new Date(f.mtime * 1000).toISOString()} ${f.name}`);
      }
      out(`${'-'.padStart(10)} ${'(appliance certificate)'.padEnd(24)} server.pem`);
    },
  },
  {
    path: ['my', 'file', 'delete'],
    summary: 'delete a copied file',
    options: [{ name: 'file', aliases: ['f'] }, FORCE],
    async run(ctx, o) {
      await ctx.appliance.deleteFile(need(o, 'file', 'my file delete'));
      ctx.out("'my file delete' successful.");
    },
  },
  {
    path: ['my', 'password', 'set'],
    summary: "change tenantadmin's password",
    options: [],
    async run(ctx) {
      const current = await ctx.io.ask('Current password: ', true);
      const next = await ctx.io.ask('New password: ', true);
      const again = await ctx.io.ask('Retype new password: ', true);
      if (current === null || next === null || again === null) throw new LunaError('Command Aborted.');
      if (next !== again) throw new LunaError('Error: Sorry, passwords do not match.');
      await ctx.appliance.changeAdminPassword(current, next);
      ctx.out("'my password set' successful.");
    },
  },
  {
    path: ['my', 'public-key', 'add'],
    summary: 'allow SSH login with a public key copied first with scp (OpenSSH format)',
    options: [{ name: 'name', aliases: ['n'] }, { name: 'file', aliases: ['f'] }],
    async run(ctx, o) {
      const name = need(o, 'name', 'my public-key add');
      checkName('keyName', '-name', name);
      const fileName = need(o, 'file', 'my public-key add');
      const file = ctx.appliance.file(fileName);
      if (!file) throw new LunaError(`Error: No file named '${shown(fileName)}'. Copy the public key with scp first.`);
      const line = Buffer.from(file.data, 'base64').toString('utf8').trim().split('\n')[0];
      const parsed = sshUtils.parseKey(line);
      if (parsed instanceof Error || Array.isArray(parsed) || parsed.isPrivateKey()) {
        throw new LunaError(`Error: '${shown(fileName)}' does not hold an OpenSSH public key.`);
      }
      await ctx.appliance.addPublicKey(name, line);
      ctx.out("'my public-key add' successful.");
    },
  },
  {
    path: ['my', 'public-key', 'list'],
    summary: 'list the public keys allowed to log in',
    options: [],
    async run({ appliance, out }) {
      out();
      for (const k of appliance.admin().publicKeys) out(`${k.name.padEnd(34)}${k.key.split(' ')[0]}`);
    },
  },
  {
    path: ['my', 'public-key', 'delete'],
    summary: 'remove a public key',
    options: [{ name: 'name', aliases: ['n'] }, FORCE],
    async run(ctx, o) {
      await ctx.appliance.deletePublicKey(need(o, 'name', 'my public-key delete'));
      ctx.out("'my public-key delete' successful.");
    },
  },
  {
    path: ['help'],
    summary: 'list the commands',
    options: [],
    async run({ out }) {
      out();
      for (const c of COMMANDS) out(`${c.path.join(' ').padEnd(30)}${c.summary}`);
      out(`${'exit'.padEnd(30)}end the session`);
    },
  },
];

/** Splits a command line into words; quotes group words, nothing is ever interpreted by a shell. */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new LunaError('Error: Unbalanced quotes in the command line.');
  if (inWord) words.push(cur);
  return words;
}

/** Finds the command: each word may be cut to a unique prefix, case does not matter (`par sh` = `partition show`). */
function findCommand(words: string[]): { spec: CommandSpec; rest: string[] } {
  let candidates = COMMANDS;
  let depth = 0;
  for (; depth < words.length && !words[depth].startsWith('-'); depth++) {
    const w = words[depth].toLowerCase();
    const atDepth = candidates.filter((c) => c.path.length > depth);
    if (atDepth.length === 0) break;
    const exact = atDepth.filter((c) => c.path[depth].toLowerCase() === w);
    const matched = exact.length ? exact : atDepth.filter((c) => c.path[depth].toLowerCase().startsWith(w));
    const distinct = new Set(matched.map((c) => c.path[depth]));
    if (distinct.size === 0) break;
    if (distinct.size > 1) {
      throw new LunaError(`Error: '${shown(words.slice(0, depth + 1).join(' '))}' is ambiguous: ${[...distinct].join(', ')}.`);
    }
    candidates = matched;
    const complete = candidates.find((c) => c.path.length === depth + 1);
    if (complete && candidates.length === 1) return { spec: complete, rest: words.slice(depth + 1) };
  }
  const typed = shown(words.slice(0, Math.max(depth + 1, 1)).join(' '));
  if (depth === 0) throw new LunaError(`Error: '${typed}' is not a valid command. Type 'help' for a list of commands.`);
  const groups = [...new Set(candidates.map((c) => c.path.slice(0, depth).join(' ')))];
  throw new LunaError(
    `Error: '${typed}' is not a valid command. '${groups[0]}' takes: ${candidates.map((c) => c.path.slice(depth).join(' ')).join(', ')}.`,
  );
}

function parseOptions(spec: CommandSpec, args: string[]): Opts {
  const cmd = spec.path.join(' ');
  const valid = () => (spec.options.length ? spec.options.map((o) => `-${o.name}`).join(', ') : 'none');
  const o: Opts = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('-') || a.length < 2) {
      throw new LunaError(`Error: Unexpected argument '${shown(a)}' for '${cmd}'. Options are: ${valid()}.`);
    }
    const key = a.slice(1).toLowerCase();
    const opt =
      spec.options.find((s) => s.name.toLowerCase() === key || s.aliases?.includes(key)) ??
      (() => {
        const pre = spec.options.filter((s) => s.name.toLowerCase().startsWith(key));
        return pre.length === 1 ? pre[0] : undefined;
      })();
    if (!opt) throw new LunaError(`Error: Invalid option '${shown(a)}' for '${cmd}'. Options are: ${valid()}.`);
    if (o[opt.name] !== undefined) throw new LunaError(`Error: Option -${opt.name} is given more than once.`);
    if (opt.flag) {
      o[opt.name] = true;
      continue;
    }
    const v = args[++i];
    if (v === undefined || v === '') throw new LunaError(`Error: Option -${opt.name} of '${cmd}' needs a value.`);
    o[opt.name] = v;
  }
  return o;
}

/**
 * Runs one LunaSH command line and writes its output and `Command Result` line. Every failure becomes a
 * Luna-style error; nothing here ends the session except `exit`.
 */
export async function runLine(line: string, appliance: Appliance, session: ShellSession, io: ShellIo, replicator?: Replicator): Promise<{ code: number; exit: boolean }> {
  const ctx: Ctx = { appliance, replicator, session, io, out: (l = '') => io.write(`${l}\n`) };
  let words: string[];
  try {
    if (line.length > MAX_LINE) throw new LunaError(`Error: The command line is too long (more than ${MAX_LINE} characters).`);
    words = tokenize(line);
  } catch (err) {
    return fail(io, err);
  }
  if (words.length === 0) return { code: 0, exit: false };
  if (['exit', 'quit', 'logout'].includes(words[0].toLowerCase()) && words.length === 1) return { code: 0, exit: true };
  try {
    const { spec, rest } = findCommand(words);
    const opts = parseOptions(spec, rest);
    await spec.run(ctx, opts);
    io.write(`\n${SUCCESS_LINE}\n`);
    return { code: 0, exit: false };
  } catch (err) {
    return fail(io, err);
  }
}

function fail(io: ShellIo, err: unknown): { code: number; exit: boolean } {
  if (err instanceof LunaError) {
    io.write(`${err.message}\n\n${resultLine(err.code, err.reason)}\n`);
    return { code: err.code, exit: false };
  }
  // An unexpected fault: say so without internals (paths, PINs) and keep the session.
  io.write(`Error: Internal error while running the command.\n\n${resultLine(65535, 'Luna Shell execution')}\n`);
  return { code: 65535, exit: false };
}

export { NAME_RULES };
