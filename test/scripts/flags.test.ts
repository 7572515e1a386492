import { parseFlags, UsageError } from '../../scripts/flags';

const SPECS = {
  env: { type: 'string', description: 'environment' },
  keys: { type: 'list', description: 'key files' },
  json: { type: 'boolean', description: 'json output' },
} as const;

describe('parseFlags', () => {
  test('parses string, list, boolean and --name=value forms', () => {
    expect(parseFlags(['--env', 'prod', '--keys', 'a.key', 'b.key', '--json', 'rest'], SPECS)).toEqual({
      flags: { env: 'prod', keys: ['a.key', 'b.key'], json: true },
      positionals: ['rest'],
    });
    expect(parseFlags(['--env=dev', 'pos'], SPECS)).toEqual({ flags: { env: 'dev' }, positionals: ['pos'] });
  });
  test('fails when a flag is unknown, naming the allowed ones', () => {
    expect(() => parseFlags(['--evn', 'prod'], SPECS)).toThrow(new UsageError('unknown flag --evn; allowed: --env, --keys, --json'));
  });
  test('fails when a value is missing or empty', () => {
    expect(() => parseFlags(['--env'], SPECS)).toThrow(/--env needs a value/);
    expect(() => parseFlags(['--env='], SPECS)).toThrow(/--env needs a value/);
  });
  test('fails when a single-valued flag is repeated or a boolean gets a value', () => {
    expect(() => parseFlags(['--env', 'a', '--env', 'b'], SPECS)).toThrow(/--env given more than once/);
    expect(() => parseFlags(['--json=yes'], SPECS)).toThrow(/--json takes no value/);
  });
});
