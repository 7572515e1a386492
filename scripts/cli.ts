import * as fs from 'fs';
import * as path from 'path';
import type { Command as Program, CommanderError as CommanderErrorType } from 'commander';
import { Command, CommandEntry } from './command';
import { FlagSpec, ParsedFlags, UsageError } from './flags';
import { describeFailure } from './failure';
import { ENVIRONMENT_FLAGS } from './environment';

/** The command groups: `hsmctl <group>` lists its commands. */
const GROUPS: Record<string, string> = {
  sd: 'the security domain of a Managed HSM: activate, recover, rotate',
  keys: 'keys of a Managed HSM: list, show, create, rotate',
  roles: 'local role assignments and role definitions of a Managed HSM',
  backup: 'full backup and restore of a Managed HSM',
  luna: 'Luna appliances of a Dedicated HSM: initialise, register clients, partitions, HA groups',
  ha: 'HA groups of Luna partitions over a Dedicated HSM HA pair',
  simulator: 'the local HSM simulator',
  policy: 'the HSM security policy over Terraform JSON',
  plan: 'checks of a Terraform plan before apply',
};

/**
 * Every hsmctl command: its words, its summary, and the module that holds it, loaded only when chosen.
 * (require, not import(): tsx compiles this CommonJS CLI and hooks require only.)
 */
const COMMANDS: readonly CommandEntry[] = [
  { path: ['dry-run'], summary: 'synthesize an environment, provision it in the simulator and run every post-deploy step', load: () => require('./commands/dry-run').dryRunCommand },
  { path: ['summary'], summary: 'synthesize an environment and print what it would deploy', load: () => require('./commands/summary').summaryCommand },
  { path: ['preflight'], summary: 'check what must hold before a Dedicated HSM deploy: registrations, subnet delegation, gateway', load: () => require('./commands/preflight').preflightCommand },
  { path: ['policy', 'check'], summary: 'check Terraform JSON (cdk.tf.json, any *.tf.json, a cdktf.out folder) against the HSM security policy', load: () => require('./commands/policy-check').policyCheckCommand },
  { path: ['plan', 'check'], summary: 'check a Terraform plan (terraform show -json) against the policy and guard HSMs from deletion', load: () => require('./commands/plan-check').planCheckCommand },
  { path: ['status'], summary: 'per HSM: reachable, access, activated, keys expiring soon, registered clients, last backup', load: () => require('./commands/status').statusCommand },
  { path: ['sd', 'activate'], summary: 'activate a Managed HSM: make the wrapping keys, download its security domain, wait for Success', load: () => require('./commands/sd-activate').sdActivateCommand },
  { path: ['sd', 'restore-blob'], summary: 'offline: make a security-domain restore blob from the file, a quorum of keys and the exchange key', load: () => require('./commands/sd-restore-blob').sdRestoreBlobCommand },
  { path: ['sd', 'recover'], summary: 'give a new (not activated) Managed HSM an existing security domain', load: () => require('./commands/sd-recover').sdRecoverCommand },
  { path: ['sd', 'rotate'], summary: 'download the security domain again under new certificates (rotate the wrapping keys)', load: () => require('./commands/sd-rotate').sdRotateCommand },
  { path: ['roles', 'list'], summary: 'list the role assignments of a Managed HSM at a scope', load: () => require('./commands/roles-list').rolesListCommand },
  { path: ['roles', 'assign'], summary: 'assign a role to a principal at a scope (idempotent)', load: () => require('./commands/roles-assign').rolesAssignCommand },
  { path: ['roles', 'remove'], summary: 'remove the assignment of a role to a principal at a scope (idempotent)', load: () => require('./commands/roles-remove').rolesRemoveCommand },
  { path: ['roles', 'definitions'], summary: 'list the role definitions of a Managed HSM: built-in and custom', load: () => require('./commands/roles-definitions').rolesDefinitionsCommand },
  { path: ['keys', 'list'], summary: 'list the keys of a Managed HSM: name, enabled, expiry, last update', load: () => require('./commands/keys-list').keysListCommand },
  { path: ['keys', 'show'], summary: 'show a key: type, size or curve, operations, dates, tags, rotation policy', load: () => require('./commands/keys-show').keysShowCommand },
  { path: ['keys', 'create'], summary: 'create a key (RSA-HSM, EC-HSM, oct-HSM) with operations, expiry and rotation policy', load: () => require('./commands/keys-create').keysCreateCommand },
  { path: ['keys', 'rotate'], summary: 'rotate a key now: a new version, same type and operations', load: () => require('./commands/keys-rotate').keysRotateCommand },
  { path: ['byok'], summary: 'bring your own key: wrap a key held in a PKCS#11 token (a Luna partition) and import it into a Managed HSM', load: () => require('./commands/byok').byokCommand },
  { path: ['backup', 'start'], summary: 'full backup of a Managed HSM to a blob container (SAS), waiting for the job unless --no-wait', load: () => require('./commands/backup-start').backupStartCommand },
  { path: ['backup', 'status'], summary: 'status of a full backup job (or, with --restore, of a restore job)', load: () => require('./commands/backup-status').backupStatusCommand },
  { path: ['backup', 'restore'], summary: 'restore a full backup folder into a Managed HSM of the same security domain (or one key with --key)', load: () => require('./commands/backup-restore').backupRestoreCommand },
  { path: ['audit'], summary: "read a Managed HSM's AuditEvent logs from its diagnostic setting's storage account, with filters", load: () => require('./commands/audit').auditCommand },
  { path: ['dr-drill'], summary: 'rehearse Managed HSM disaster recovery end to end: activate, keys, backup, recover domain, restore, verify', load: () => require('./commands/dr-drill').drDrillCommand },
  { path: ['luna', 'init'], summary: 'first login, HSM initialisation, optional FIPS mode and partitions on a Luna appliance (idempotent)', load: () => require('./commands/luna-init').lunaInitCommand },
  { path: ['luna', 'register-client'], summary: 'register a client (e.g. CipherTrust Manager) on a Luna appliance and write its connection bundle', load: () => require('./commands/luna-register-client').lunaRegisterClientCommand },
  { path: ['luna', 'partition-init'], summary: "lunacm's partition init, role init co (and cu) on a client's partition over NTLS", load: () => require('./commands/luna-partition-init').lunaPartitionInitCommand },
  { path: ['luna', 'connect'], summary: "print the PKCS#11 module and environment that reach a client bundle's partition over NTLS", load: () => require('./commands/luna-connect').lunaConnectCommand },
  { path: ['luna', 'ha', 'create'], summary: 'make an HA group of a partition over the appliances of a Dedicated HSM HA pair (replication, client failover)', load: () => require('./commands/luna-ha').lunaHaCreateCommand },
  { path: ['luna', 'ha', 'show'], summary: "show a client bundle's HA group: its members in failover order and whether each takes the client now", load: () => require('./commands/luna-ha').lunaHaShowCommand },
  { path: ['simulator', 'start'], summary: 'run the local HSM simulator in the foreground', load: () => require('./commands/simulator-start').simulatorStartCommand },
];

export function commandEntries(): readonly CommandEntry[] {
  return COMMANDS;
}

/** The entry whose words are the longest prefix of argv: the only module loaded. */
function chosenEntry(argv: readonly string[]): CommandEntry | undefined {
  let best: CommandEntry | undefined;
  for (const c of COMMANDS) {
    if (c.path.every((w, i) => argv[i] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best;
}

interface Chosen {
  entry: CommandEntry;
  command: Command;
  flags: ParsedFlags;
  positionals: string[];
  /** Words beyond the command's arguments: refused with what is allowed. */
  extra: string[];
}

/** Runs hsmctl with argv (without node and the script) and returns the exit code: 0 ok, 1 failed, 2 usage. */
export async function main(argv: string[]): Promise<number> {
  const { CommanderError } = require('commander') as typeof import('commander');
  if (argv[0] === 'help') argv = [...argv.slice(1), '--help']; // `hsmctl help keys create` is `hsmctl keys create --help`
  let chosen: Chosen | undefined;
  const program = buildProgram(chosenEntry(argv), (c) => (chosen = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return exitCodeOf(err);
  }
  if (!chosen) return 2;
  const { entry, command, flags, positionals, extra } = chosen;
  const name = `hsmctl ${entry.path.join(' ')}`;
  if (extra.length) {
    console.error(`${name}: ${unexpected(extra, command)}\n(see ${name} --help)`);
    return 2;
  }
  try {
    return await command.run(flags, positionals);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${name}: ${err.message}\n(see ${name} --help)`);
      return 2;
    }
    console.error(`${name}: ${describeFailure(err, command.needs, flags)}`);
    return 1;
  }
}

function unexpected(extra: string[], command: Command): string {
  const args = command.args ?? [];
  const takes = args.length ? `it takes ${args.map((a) => (a.optional ? `[${a.name}]` : a.name)).join(' ')}` : 'it takes no arguments';
  const hint = command.flags.env === ENVIRONMENT_FLAGS.env && /^[a-z][a-z0-9-]{0,19}$/.test(extra[0]) ? ` (to choose an environment: --env ${extra[0]})` : '';
  return `unexpected argument ${JSON.stringify(extra[0].slice(0, 60))}: ${takes}${hint}`;
}

function exitCodeOf(err: CommanderErrorType): number {
  // An asked-for help or version is a success; help shown for a bare group or a usage error is a usage error.
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
  return 2;
}

function buildProgram(entry: CommandEntry | undefined, onChosen: (c: Chosen) => void): Program {
  const { Command: ProgramClass } = require('commander') as typeof import('commander');
  const program = new ProgramClass('hsmctl')
    .description('Post-deploy ceremonies for Azure HSMs (Managed HSM, Dedicated HSM / Luna) and the local simulator.')
    .version(packageVersion(), '-V, --version', 'print the version of hsmctl')
    .helpOption('-h, --help', 'print help; runs nothing')
    .helpCommand('help [command...]', 'print the help of a command; runs nothing')
    .showSuggestionAfterError(true)
    .exitOverride();
  configureOutput(program, 'hsmctl', undefined);
  const groups = new Map<string, Program>();
  for (const e of COMMANDS) {
    let parent = program;
    for (const word of e.path.slice(0, -1)) {
      let g = groups.get(word);
      if (!g) {
        g = parent.command(word).description(GROUPS[word] ?? '').helpOption('-h, --help', 'print help; runs nothing').helpCommand(false);
        configureOutput(g, `hsmctl ${word}`, undefined);
        groups.set(word, g);
      }
      parent = g;
    }
    const leaf = parent.command(e.path[e.path.length - 1]).description(e.summary).helpOption('-h, --help', 'print help; runs nothing');
    if (e === entry) defineLeaf(leaf, e, onChosen);
  }
  return program;
}

/** The chosen command's flags and arguments, as commander parses them. */
function defineLeaf(leaf: Program, entry: CommandEntry, onChosen: (c: Chosen) => void): void {
  const { Argument, Option } = require('commander') as typeof import('commander');
  const command = entry.load();
  const name = `hsmctl ${entry.path.join(' ')}`;
  const options = Object.entries(command.flags).map(([flag, spec]) => [flag, optionFor(Option, flag, spec)] as const);
  for (const [, option] of options) leaf.addOption(option);
  for (const a of command.args ?? []) leaf.addArgument(new Argument(a.optional ? `[${a.name}]` : `<${a.name}>`, a.description));
  if (command.details) leaf.addHelpText('after', `\n${command.details}`);
  configureOutput(leaf, name, Object.keys(command.flags));
  leaf.allowExcessArguments(true);
  leaf.action((...params: unknown[]) => {
    const self = params[params.length - 1] as Program;
    const opts = self.opts();
    const flags: ParsedFlags = {};
    // A --no-X flag is commander's negation of X: given, X is false.
    for (const [flag, option] of options) flags[flag] = option.negate ? (opts[option.attributeName()] === false ? true : undefined) : (opts[option.attributeName()] as ParsedFlags[string]);
    const positionals = (params.slice(0, (command.args ?? []).length) as Array<string | undefined>).filter((p): p is string => p !== undefined);
    onChosen({ entry, command, flags, positionals, extra: self.args.slice((command.args ?? []).length) });
  });
}

function optionFor(OptionClass: typeof import('commander').Option, flag: string, spec: FlagSpec) {
  const { InvalidArgumentError } = require('commander') as typeof import('commander');
  const value = (spec.value ?? 'VALUE').replace(/\.\.\.$/, '');
  if (spec.type === 'boolean') return new OptionClass(`--${flag}`, spec.description);
  const nonEmpty = (v: string) => {
    if (v === '') throw new InvalidArgumentError(`needs a value (${value})`);
    return v;
  };
  if (spec.type === 'string') {
    return new OptionClass(`--${flag} <${value}>`, spec.description).argParser((v: string, previous: string | undefined) => {
      if (previous !== undefined) throw new InvalidArgumentError('given more than once');
      return nonEmpty(v);
    });
  }
  return new OptionClass(`--${flag} <${value}...>`, spec.description).argParser((v: string, previous: string[] | undefined) => [...(previous ?? []), nonEmpty(v)]);
}

/** Errors as one line naming the command, with what is allowed; help and versions to stdout. */
function configureOutput(cmd: Program, name: string, flags: string[] | undefined): void {
  cmd.configureOutput({
    writeOut: (s) => console.log(s.replace(/\n$/, '')),
    writeErr: (s) => console.error(s.replace(/\n$/, '')),
    outputError: (s, write) => {
      // What follows '=' in an unknown option is not echoed: it may be a secret typed into the wrong flag.
      const text = s.replace(/^error: /, '').replace(/\n(?=\()/, ' ').replace(/(unknown option '[^=']*)=[^']*'/, "$1=…'").trim();
      const allowed = flags && /unknown option/.test(text) ? `\nallowed: ${flags.map((f) => `--${f}`).concat('--help').join(', ')}` : '';
      write(`${name}: ${text}${allowed}\n(see ${name} --help)\n`);
    },
  });
}

function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}
