import { countSteps, runSteps } from '../../scripts/dry-run/step-runner';

describe('the dry-run step runner', () => {
  test('a step that skips is shown and recorded as skipped with its reason, and counted apart from the passed ones', async () => {
    const lines: string[] = [];
    const results = await runSteps(
      [
        { name: 'one', run: async ({ say }) => (say('did one'), { one: 1 }) },
        { name: 'two', run: async ({ skip }) => skip('no Dedicated HSM in the config') },
        { name: 'three', run: async () => undefined },
      ],
      (l) => lines.push(l),
    );
    expect(results.map((r) => [r.name, r.status, r.reason])).toEqual([
      ['one', 'ok', undefined],
      ['two', 'skipped', 'no Dedicated HSM in the config'],
      ['three', 'ok', undefined],
    ]);
    expect(lines).toContain('      skipped: no Dedicated HSM in the config');
    expect(lines.filter((l) => /done in/.test(l))).toHaveLength(2);
    expect(countSteps(results)).toBe('2 passed, 1 skipped');
  });

  test('after a failure the remaining steps are skipped with the failed step as their reason', async () => {
    const results = await runSteps(
      [
        { name: 'fails', run: async () => { throw new Error('boom'); } },
        { name: 'after', run: async () => undefined },
      ],
      () => undefined,
    );
    expect(results[0]).toMatchObject({ status: 'failed', error: 'boom' });
    expect(results[1]).toMatchObject({ status: 'skipped', reason: 'not run: "fails" failed' });
    expect(countSteps(results)).toBe('0 passed, 1 skipped, 1 failed');
  });

  test('seconds are rounded to the millisecond', async () => {
    const [r] = await runSteps([{ name: 'wait', run: () => new Promise((resolve) => setTimeout(resolve, 7)) }], () => undefined);
    expect(Number.isInteger(r.seconds * 1000)).toBe(true);
    expect(String(r.seconds)).toMatch(/^\d+(\.\d{1,3})?$/);
  });
});
