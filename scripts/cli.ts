import { Command } from './command';
import { UsageError, formatFlagHelp, parseFlags } from './flags';
import { summaryCommand } from './commands/summary';
import { dryRunCommand } from './commands/dry-run';
import { simulatorStartCommand } from './commands/simulator-start';
import { sdActivateCommand } from './commands/sd-activate';
import { sdRestoreBlobCommand } from './commands/sd-restore-blob';
import { sdRecoverCommand } from './commands/sd-recover';
import { sdRotateCommand } from './commands/sd-rotate';
import { backupStartCommand } from './commands/backup-start';
import { backupStatusCommand } from './commands/backup-status';
import { backupRestoreCommand } from './commands/backup-restore';
import { drDrillCommand } from './commands/dr-drill';
import { lunaInitCommand } from './commands/luna-init';
import { lunaRegisterClientCommand } from './commands/luna-register-client';
import { lunaConnectCommand } from './commands/luna-connect';
import { lunaPartitionInitCommand } from './commands/luna-partition-init';
import { lunaHaCreateCommand, lunaHaShowCommand } from './commands/luna-ha';
import { statusCommand } from './commands/status';
import { keysListCommand } from './commands/keys-list';
import { keysShowCommand } from './commands/keys-show';
import { keysCreateCommand } from './commands/keys-create';
import { keysRotateCommand } from './commands/keys-rotate';
import { preflightCommand } from './commands/preflight';

/** Every hsmctl command; add a command by importing it and listing it here. */
const COMMANDS: readonly Command[] = [
  dryRunCommand,
  summaryCommand,
  simulatorStartCommand,
  sdActivateCommand,
  sdRestoreBlobCommand,
  sdRecoverCommand,
  sdRotateCommand,
  backupStartCommand,
  backupStatusCommand,
  backupRestoreCommand,
  drDrillCommand,
  lunaInitCommand,
  lunaRegisterClientCommand,
  lunaConnectCommand,
  lunaPartitionInitCommand,
  lunaHaCreateCommand,
  lunaHaShowCommand,
  statusCommand,
  keysListCommand,
  keysShowCommand,
  keysCreateCommand,
  keysRotateCommand,
  preflightCommand,
];

function commandHelp(c: Command): string {
  const flags = formatFlagHelp(c.flags);
  return [`hsmctl ${c.path.join(' ')}: ${c.summary}`, c.details ?? '', flags ? `flags:\n${flags}\n  --help` : '']
    .filter(Boolean)
    .join('\n\n');
}

function overview(): string {
  return ['usage: hsmctl <command> [flags]   (hsmctl <command> --help for its flags)', '', 'commands:']
    .concat(COMMANDS.map((c) => `  ${c.path.join(' ').padEnd(24)}${c.summary}`))
    .join('\n');
}

/** Finds the command whose path is the longest prefix of argv. */
function select(argv: readonly string[]): { command?: Command; rest: string[] } {
  let best: Command | undefined;
  for (const c of COMMANDS) {
    if (c.path.every((w, i) => argv[i] === w) && (!best || c.path.length > best.path.length)) best = c;
  }
  return { command: best, rest: argv.slice(best ? best.path.length : 0) };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help') {
    console.log(overview());
    return argv.length === 0 ? 2 : 0;
  }
  const { command, rest } = select(argv);
  if (!command) {
    console.error(`hsmctl: unknown command "${argv.join(' ')}"\n\n${overview()}`);
    return 2;
  }
  if (rest.includes('--help')) {
    console.log(commandHelp(command));
    return 0;
  }
  try {
    const { flags, positionals } = parseFlags(rest, command.flags);
    return await command.run(flags, positionals);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`hsmctl ${command.path.join(' ')}: ${err.message}\n(see hsmctl ${command.path.join(' ')} --help)`);
      return 2;
    }
    throw err;
  }
}
