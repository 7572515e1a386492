import * as fs from 'fs';
import * as path from 'path';
import { execFile } from 'child_process';
import { Harness } from '../simulator/harness';
import { hsmctl } from '../hsmctl-in-process';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'config', 'example.json');
const SUB = '11111111-1111-1111-1111-111111111111';

/**
 * Every command that reads an environment config picks it by one rule (stacks/config-path.ts): --config or
 * --env, else HSM_CONFIG or HSM_ENV, else example. Each command is run both ways, by flag and by variable, and
 * must read the same file; cdktf synth's app (main.ts) must synthesize the same environment.
 */
describe('one environment choice for every command that reads a config', () => {
  let dir: string;
  let other: string;
  const saved = { HSM_ENV: process.env.HSM_ENV, HSM_CONFIG: process.env.HSM_CONFIG };
  beforeAll(() => {
    dir = Harness.tempDir('env-choice-');
    other = path.join(dir, 'chosen.json');
    fs.writeFileSync(other, JSON.stringify({ ...JSON.parse(fs.readFileSync(EXAMPLE, 'utf8')), name: 'chosen', namePrefix: 'hsm-chosen' }));
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The environment line a command prints first (stderr), under the given variables. */
  const chosen = async (args: string[], vars: Record<string, string>) => {
    delete process.env.HSM_ENV;
    delete process.env.HSM_CONFIG;
    Object.assign(process.env, vars);
    const r = await hsmctl(args);
    const line = /^environment (\S+) from (\S+) \((.*)\)$/m.exec(r.err); // on stderr, whatever the command prints on stdout
    return { name: line?.[1], file: line?.[2], by: line?.[3], r };
  };

  // Each command, made to stop right after choosing: a simulator folder that holds none.
  const commands: Array<[string, (d: string) => string[]]> = [
    ['summary', () => ['summary', '--outdir', path.join(dir, 'out')]],
    ['preflight', (d) => ['preflight', '--subscription', SUB, '--simulator', d]],
    ['dry-run', (d) => ['dry-run', '--simulator', d, '--state-dir', path.join(dir, 'state')]],
  ];

  test.each(commands)('hsmctl %s: --env NAME and HSM_ENV=NAME read the same file; --config FILE and HSM_CONFIG=FILE too', async (_name, args) => {
    const nowhere = path.join(dir, 'no-simulator');
    const byFlag = await chosen([...args(nowhere), '--env', 'example'], {});
    const byVar = await chosen(args(nowhere), { HSM_ENV: 'example' });
    expect(byFlag).toMatchObject({ name: 'example', file: EXAMPLE, by: '--env example' });
    expect(byVar).toMatchObject({ name: 'example', file: EXAMPLE, by: 'HSM_ENV=example' });
    const byConfigFlag = await chosen([...args(nowhere), '--config', other], {});
    const byConfigVar = await chosen(args(nowhere), { HSM_CONFIG: other });
    expect(byConfigFlag).toMatchObject({ name: 'chosen', file: other });
    expect(byConfigVar).toMatchObject({ name: 'chosen', file: other, by: `HSM_CONFIG=${other}` });
    const byDefault = await chosen(args(nowhere), {});
    expect(byDefault).toMatchObject({ name: 'example', file: EXAMPLE, by: 'the default (example)' });
  });

  test('a flag overrides a variable and says so; two variables or two flags at once are refused (exit 2)', async () => {
    const over = await chosen(['summary', '--config', other, '--outdir', path.join(dir, 'out2')], { HSM_ENV: 'example' });
    expect(over.name).toBe('chosen');
    expect(over.r.err).toContain(`note: --config ${other} overrides HSM_ENV=example`);
    const both = await chosen(['summary'], { HSM_ENV: 'example', HSM_CONFIG: other });
    expect(both.r.code).toBe(2);
    expect(both.r.err).toMatch(/HSM_ENV=example and HSM_CONFIG=.* are both set; allowed: one of them/);
    expect(both.name).toBeUndefined();
    const flags = await chosen(['summary', '--env', 'example', '--config', other], {});
    expect(flags.r.code).toBe(2);
  });

  test('hsmctl summary prints the stacks of the environment it names', async () => {
    const r = await chosen(['summary', '--json'], { HSM_CONFIG: other });
    expect(r.r.code).toBe(0);
    expect(JSON.parse(r.r.out).map((s: { stack: string }) => s.stack)).toEqual(['hsm-chosen', 'hsm-chosen-dr']);
  });

  test.each([
    [{ HSM_ENV: 'example' }, ['hsm-example', 'hsm-example-dr']],
    [{ HSM_CONFIG: '<chosen>' }, ['hsm-chosen', 'hsm-chosen-dr']],
  ])('cdktf synth\'s app with %j synthesizes the same environment as hsmctl', async (vars, stacks) => {
    const out = fs.mkdtempSync(path.join(dir, 'cdktf-'));
    const env = { ...process.env, ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v === '<chosen>' ? other : v])), CDKTF_OUTDIR: out };
    delete (env as Record<string, string | undefined>)[Object.keys(vars)[0] === 'HSM_ENV' ? 'HSM_CONFIG' : 'HSM_ENV'];
    const code = await new Promise<number>((resolve) => execFile(process.execPath, ['-r', 'tsx/cjs', path.join(ROOT, 'main.ts')], { cwd: ROOT, env }, (err) => resolve(err ? 1 : 0)));
    expect(code).toBe(0);
    expect(fs.readdirSync(path.join(out, 'stacks')).sort()).toEqual(stacks);
  });
});
