/**
 * An out-of-range privacy setting stops the embedded stack at start, with the setting, its value
 * and the allowed range, before any server listens: never a stack that answers 500 on every route.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedStack } from '../../local/embedded-stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'onboard-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the embedded stack refuses bad privacy settings at start', () => {
  it.each([
    [
      { MIN_SEGMENT_SIZE: '19' },
      'MIN_SEGMENT_SIZE=19 is out of range: allowed a whole number from 20 to 200',
    ],
    [
      { MIN_SEGMENT_SIZE: '201' },
      'MIN_SEGMENT_SIZE=201 is out of range: allowed a whole number from 20 to 200',
    ],
    [{ RHO_PER_MATCH: '2' }, 'RHO_PER_MATCH=2 is out of range: allowed a number from 0.0001 to 1'],
    [
      { BUDGET_PERIOD: 'fortnight' },
      'BUDGET_PERIOD=fortnight is out of range: allowed one of day, week, month, quarter',
    ],
  ])('%j', async (env, message) => {
    await expect(startEmbeddedStack({ dataDir: join(dir, 'data'), ephemeral: true, env })).rejects.toThrow(
      message,
    );
    // Nothing was started or written: the check runs before the data directory is made.
    expect(readdirSync(dir)).toEqual([]);
  });
});
