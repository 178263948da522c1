/**
 * The rules must not cost honest users their results. With the deployment defaults (noise on,
 * k 50, rho 0.01 a match, 0.4 per advertiser and partner a month), one advertiser runs six
 * genuinely different lists (disjoint people) against one partner whose catalog also holds a
 * segment under k: every match gets its total, its match rate, its shares and every large segment,
 * and the budget left after six is what the view says (34 more this month).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import { budgetOf, hexLines, matchLines, type Result } from './kit.ts';

const PARTNER = 'util-partner';
const LISTS = 6;
const LIST_SIZE = 2_000;
let t: TestStack;

/** Person n of list i is i * 10,000 + n: the lists share nobody. */
const listPeople = (i: number) => range(i * 10_000, LIST_SIZE);

/** Per list: 1,200 in "large", 400 in "medium" (inside large), 10 in "small" (under k). */
const segments: SeedSegment[] = [
  {
    segmentId: 'large',
    name: 'Large',
    people: [...range(0, LISTS).flatMap((i) => listPeople(i).slice(0, 1_200)), ...range(900_000, 2_000)],
  },
  {
    segmentId: 'medium',
    name: 'Medium',
    people: [...range(0, LISTS).flatMap((i) => listPeople(i).slice(800, 1_200)), ...range(910_000, 500)],
  },
  {
    segmentId: 'small',
    name: 'Small',
    people: range(0, LISTS).flatMap((i) => listPeople(i).slice(1_990, 2_000)),
  },
];

beforeAll(async () => {
  t = await startTestStack({ MIN_LIST_SIZE: '1000', SHARD_COUNT: '4' });
  expect((await seedPartner(t.client(PARTNER, 'partner'), PARTNER, segments)).status).toBe('SUCCEEDED');
});

afterAll(async () => {
  await t?.stop();
});

describe('six genuinely different lists of one advertiser, default settings', () => {
  it('every match gets its total, match rate, shares and every large segment, within a few percent', async () => {
    const adv = t.client('util-adv', 'advertiser');
    const results: Result[] = [];
    for (let i = 0; i < LISTS; i++) {
      const m = await matchLines(adv, PARTNER, hexLines(listPeople(i)));
      expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
      results.push(m.result as Result);
    }
    for (const r of results) {
      expect(r.privacy.noise.mechanism).toBe('discrete-gaussian');
      // Matched: the 1,200 of "large" (medium and small are inside it or beside it: 1,210).
      expect(r.matched).not.toBeNull();
      expect(Math.abs((r.matched as number) - 1_210) / 1_210).toBeLessThan(0.1);
      expect(r.matchRate).not.toBeNull();
      const byId = Object.fromEntries(r.segments.map((s) => [s.segmentId, s]));
      expect(byId.large?.matched).not.toBeNull();
      expect(byId.medium?.matched).not.toBeNull();
      expect(Math.abs((byId.large?.matched as number) - 1_200) / 1_200).toBeLessThan(0.1);
      expect(byId.large?.share).not.toBeNull();
      expect(byId.large?.affinity).not.toBeNull();
    }
    // Noise, not a copy: six lists, six different draws.
    expect(new Set(results.map((r) => r.matched)).size).toBeGreaterThan(1);
    expect(await budgetOf(adv, PARTNER)).toMatchObject({
      advertiser: { allowance: 0.4, spent: 0.06, left: 0.34 },
      matchesLeft: 34,
    });
  });
});
