import { spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { join, resolve } from 'path';
import { commandEntries, main } from '../../scripts/cli';
import { Command } from '../../scripts/command';
import { hsmctl } from '../hsmctl-in-process';

const ROOT = resolve(__dirname, '..', '..');
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;

/** Every command with its module loaded and its run() watched: a help or a usage error must not call it. */
const commands = commandEntries().map((e) => ({ words: e.path.join(' '), path: [...e.path], command: e.load() }));

describe('hsmctl: help runs nothing', () => {
  test.each(commands.map((c) => [c.words, c]))('hsmctl %s -h and --help print its usage and flags, exit 0, run nothing', async (words, c) => {
    const run = jest.spyOn(c.command as Command, 'run');
    try {
      for (const flag of ['-h', '--help']) {
        const r = await hsmctl([...c.path, flag]);
        expect(r.code).toBe(0);
        expect(r.out).toMatch(new RegExp(`^Usage: hsmctl ${words} \\[options\\]`));
        for (const f of Object.keys(c.command.flags)) expect(r.out).toContain(`--${f}`);
      }
      // -h wins wherever it stands, even after flags with values.
      const anyFlag = Object.entries(c.command.flags).find(([, s]) => s.type !== 'boolean');
      const late = await hsmctl([...c.path, ...(anyFlag ? [`--${anyFlag[0]}`, 'x'] : []), '-h']);
      expect(late.code).toBe(0);
      expect(run).not.toHaveBeenCalled();
    } finally {
      run.mockRestore();
    }
  });
});

describe('hsmctl: usage errors exit 2, name what is allowed, run nothing', () => {
  test.each(commands.map((c) => [c.words, c]))('hsmctl %s refuses an unknown flag and a stray argument', async (words, c) => {
    const run = jest.spyOn(c.command as Command, 'run');
    try {
      const flag = await hsmctl([...c.path, '--no-such-flag']);
      expect(flag.code).toBe(2);
      expect(flag.err).toMatch(new RegExp(`^hsmctl ${words}: unknown option '--no-such-flag'\\nallowed: .*--help\\n\\(see hsmctl ${words} --help\\)$`));
      const args = (c.command.args ?? []).map((a) => `arg-${a.name.toLowerCase()}`);
      const stray = await hsmctl([...c.path, ...args, 'stray-word']);
      expect(stray.code).toBe(2);
      expect(stray.err).toMatch(new RegExp(`^hsmctl ${words}: unexpected argument "stray-word": it takes ${args.length ? '' : 'no arguments'}`));
      expect(run).not.toHaveBeenCalled();
    } finally {
      run.mockRestore();
    }
  });

  test('a flag given twice, an empty value and a missing argument are refused', async () => {
    expect((await hsmctl(['summary', '--env', 'a', '--env', 'b'])).err).toMatch(/option '--env <NAME>' argument 'b' is invalid\. given more than once/);
    expect((await hsmctl(['summary', '--env='])).err).toMatch(/argument '' is invalid\. needs a value \(NAME\)/);
    const missing = await hsmctl(['keys', 'show']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^hsmctl keys show: missing required argument 'NAME'/);
  });

  test('an argument given to a command that takes none says how to choose an environment', async () => {
    const r = await hsmctl(['summary', 'prod']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unexpected argument "prod": it takes no arguments \(to choose an environment: --env prod\)/);
  });

  test('hsmctl help <command> prints that command\'s help, with its flags; exit 0', async () => {
    const r = await hsmctl(['help', 'keys', 'create']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage: hsmctl keys create \[options\] <NAME>/);
    expect(r.out).toContain('--kty <TYPE>');
    expect((await hsmctl(['help'])).code).toBe(0);
  });

  test('a value typed into a mistaken flag is not echoed (it may be a secret)', async () => {
    const r = await hsmctl(['backup', 'start', '--sas=sv=2024&sig=SECRETSIG', '--hsm', 'x']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hsmctl backup start: unknown option '--sas=…'/);
    expect(r.err).not.toContain('SECRETSIG');
  });

  test('an unknown command is refused with a suggestion', async () => {
    const r = await hsmctl(['sumary']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hsmctl: unknown command 'sumary' \(Did you mean summary\?\)/);
  });
});

describe('hsmctl: the overview, the groups, the version', () => {
  const groups = [...new Set(commands.filter((c) => c.path.length > 1).map((c) => c.path[0]))];

  test('hsmctl --help lists every command and group with aligned summaries; exit 0', async () => {
    const r = await hsmctl(['--help']);
    expect(r.code).toBe(0);
    const lines = r.out.slice(r.out.indexOf('Commands:')).split('\n').slice(1).filter((l) => /^ {2}\S/.test(l));
    const names = lines.map((l) => l.trim().split(/\s+/)[0]);
    for (const top of new Set(commands.map((c) => c.path[0]))) expect(names).toContain(top);
    const columns = new Set(lines.map((l) => /^ {2}\S+(?: \S+)* {2,}/.exec(l)![0].length));
    expect(columns.size).toBe(1);
  });

  test('bare hsmctl prints the overview and exits 2', async () => {
    const r = await hsmctl([]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Usage: hsmctl \[options\] \[command\]/);
  });

  test.each(groups)('hsmctl %s lists its commands (exit 2), hsmctl %s --help too (exit 0)', async (group) => {
    const bare = await hsmctl([group]);
    expect(bare.code).toBe(2);
    const help = await hsmctl([group, '--help']);
    expect(help.code).toBe(0);
    for (const c of commands.filter((x) => x.path[0] === group)) {
      expect(bare.err).toMatch(new RegExp(`^  ${c.path[1]} `, 'm'));
      expect(help.out).toMatch(new RegExp(`^  ${c.path[1]} `, 'm'));
    }
  });

  test('the groups named in the issue exist: sd, luna, keys, roles', () => {
    expect(groups).toEqual(expect.arrayContaining(['sd', 'luna', 'keys', 'roles']));
  });

  test('hsmctl --version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await hsmctl([flag]);
      expect(r).toEqual({ code: 0, out: VERSION, err: '' });
    }
  });

  test('main() returns the code rather than exiting the process', async () => {
    const printed = jest.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await expect(main(['--version'])).resolves.toBe(0);
      expect(printed).toHaveBeenCalledWith(VERSION);
    } finally {
      printed.mockRestore();
    }
  });
});

describe('hsmctl --help stays light', () => {
  test('it loads no Azure SDK, cdktf, SSH or PKCS#11 module (commands load when chosen)', () => {
    const probe = [
      "require('tsx/cjs');",
      "require('./scripts/cli.ts').main(['--help']).then(() => {",
      "  const heavy = Object.keys(require.cache).filter((k) => /node_modules\\/(@azure|cdktf|@cdktf|ssh2|pkcs11js|azurite)\\//.test(k) || /\\/(simulator|stacks|constructs)\\//.test(k));",
      '  process.stderr.write(JSON.stringify(heavy));',
      '});',
    ].join('\n');
    const r = spawnSync(process.execPath, ['-e', probe], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: hsmctl/);
    expect(JSON.parse(r.stderr)).toEqual([]);
  });
});
