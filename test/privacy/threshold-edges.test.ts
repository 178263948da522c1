/**
 * The k-threshold, the minimum list size and the rounding edges (rules 1 and 2), exactly: noise
 * is off here (the unsafe test setting), so every count is the true one and each edge can be hit
 * on purpose. k = 55, released counts rounded to the nearest 10. What noise adds (the threshold
 * decided on noisy values, the attacks that arithmetic on exact counts would allow) is attacked
 * in guarantee-attacks.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/api-client.ts';
import type { MatchView } from '../../cli/flows.ts';
import {
  http,
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import { auditOf, budgetOf, hexLines, matchLines, type Result, segmentsById } from './kit.ts';

const K = 55;
const ROUND = 10;
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    SHARD_COUNT: '4',
    MIN_SEGMENT_SIZE: String(K),
    ROUNDING: 'nearest-10',
  });
  const partners: Record<string, SeedSegment[]> = {
    // Disjoint segments: list people a 0..79, b 100..169, c 200..229, d 300..319, e 400..439.
    deriv: [
      { segmentId: 'a', name: 'A', people: [...range(0, 80), ...range(10_000, 300)] },
      { segmentId: 'b', name: 'B', people: [...range(100, 70), ...range(11_000, 300)] },
      { segmentId: 'c', name: 'C', people: [...range(200, 30), ...range(12_000, 300)] },
      { segmentId: 'd', name: 'D', people: [...range(300, 20), ...range(13_000, 300)] },
      { segmentId: 'e', name: 'E', people: [...range(400, 40), ...range(14_000, 300)] },
    ],
    // Complementary segments: everyone in the base is in exactly one of them.
    compl: [
      { segmentId: 'a', name: 'A', people: range(0, 1_000) },
      { segmentId: 'not-a', name: 'not A', people: range(1_000, 1_000) },
    ],
    // Rounding edges: r55 0..54, r54 100..153, r65 200..264, r64 300..363, two at k: 400..454, 500..554.
    round: [
      { segmentId: 'r55', name: 'exactly k', people: [...range(0, 55), ...range(20_000, 300)] },
      { segmentId: 'r54', name: 'k - 1', people: [...range(100, 54), ...range(21_000, 300)] },
      { segmentId: 'r65', name: 'k + 10 (a half)', people: [...range(200, 65), ...range(22_000, 300)] },
      { segmentId: 'r64', name: 'k + 9', people: [...range(300, 64), ...range(23_000, 300)] },
      { segmentId: 'k1', name: 'k (one)', people: [...range(400, 55), ...range(24_000, 300)] },
      { segmentId: 'k2', name: 'k (two)', people: [...range(500, 55), ...range(25_000, 300)] },
      { segmentId: 'tiny', name: 'a handful', people: [...range(600, 2), ...range(26_000, 300)] },
    ],
  };
  await Promise.all(
    Object.entries(partners).map(async ([id, segments]) => {
      expect((await seedPartner(t.client(id, 'partner'), id, segments)).status).toBe('SUCCEEDED');
    }),
  );
});

afterAll(async () => {
  await t?.stop();
});

/** A fresh attacker (its own tenant, so no history). */
const attacker = (name: string): ApiClient => t.client(`thr-${name}`, 'advertiser');

/** Non-matching people to give a list its bulk. */
const strangers = (count: number) => range(900_000, count);

function succeeded(m: MatchView): Result {
  expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
  return m.result as Result;
}

/** Every released count is at least k and on the rounding grid. */
function expectReleasedCountsSafe(r: Result) {
  for (const value of [r.matched, ...r.segments.map((s) => s.matched)]) {
    if (value === null) continue;
    expect(value).toBeGreaterThanOrEqual(r.privacy.k);
    expect(value % ROUND).toBe(0);
  }
  for (const s of r.segments) {
    expect(s.suppressed).toBe(s.matched === null);
    if (s.suppressed) expect([s.share, s.affinity]).toEqual([null, null]);
  }
  if (r.matched === null) for (const s of r.segments) expect([s.share, s.affinity]).toEqual([null, null]);
}

describe('minimum list size (rule 2)', () => {
  it('a list of 99 distinct people padded to 300 rows with duplicates and junk, under a forged client summary, is refused: FAILED list-too-small, nothing released, no budget spent', async () => {
    const adv = attacker('small');
    const lines = [
      ...hexLines(range(0, 99)),
      ...hexLines(range(0, 99)),
      ...hexLines(range(0, 50)),
      ...Array.from({ length: 52 }, (_, i) => `junk-${i}`),
    ];
    const forged = {
      rows: 5_000,
      valid: 5_000,
      invalid: 0,
      invalidByReason: {},
      duplicates: 0,
      distinct: 5_000,
    };
    const m = await matchLines(adv, 'deriv', lines, { summary: forged });
    expect(m).toMatchObject({ status: 'FAILED', code: 'list-too-small' });
    expect(m.detail).toContain('99 distinct');
    expect(m.result).toBeUndefined();
    const download = await http(t, 'GET', `/v1/matches/${m.matchId}/download?format=json`, {
      token: t.token('thr-small', 'advertiser'),
    });
    expect(download.status).toBe(409);
    expect(download.json.code).toBe('match-not-finished');
    expect(await budgetOf(adv, 'deriv')).toMatchObject({ advertiser: { spent: 0 } });
    expect((await auditOf(adv)).find((e) => e.matchId === m.matchId)).toMatchObject({
      event: 'match-refused',
      code: 'list-too-small',
      rhoSpent: 0,
    });
  });

  it('exactly the minimum (100 distinct valid people) is accepted', async () => {
    expect(
      (await matchLines(attacker('min'), 'deriv', hexLines([...range(0, 80), ...strangers(20)]))).status,
    ).toBe('SUCCEEDED');
  });
});

describe('replays are post-processing of the first release', () => {
  it('the same list again at a raised k (80/70/30 at k 55, then at k 75): the first release again, with more suppressed', async () => {
    const adv = attacker('rerun-k');
    const list = hexLines([...range(0, 80), ...range(100, 70), ...range(200, 30), ...strangers(60)]);
    const first = succeeded(await matchLines(adv, 'deriv', list));
    const second = succeeded(await matchLines(adv, 'deriv', list, { minSegmentSize: 75 }));
    expect(first.matched).toBe(180);
    expect(second).toMatchObject({ matched: 180, replayOf: expect.any(String), privacy: { k: 75 } });
    expect(segmentsById(second).a).toMatchObject({ matched: 80 });
    expect(segmentsById(second).b).toMatchObject({ matched: null, suppressed: true, reason: 'below-k' });
    // Every replay is built from the first release alone: at k 60 it shows what that release showed.
    const third = succeeded(await matchLines(adv, 'deriv', list, { minSegmentSize: 60 }));
    expect(segmentsById(third).b).toMatchObject({ matched: segmentsById(first).b?.matched });
    expect(segmentsById(third).c).toMatchObject({ matched: null, reason: 'below-k' });
  });
});

describe('rounding edges (nearest 10, k = 55)', () => {
  it('exactly k (55) is released as 60, never rounded down under k; k − 1 (54) is suppressed, never shown as 50; halves round up', async () => {
    const r = succeeded(
      await matchLines(
        attacker('round1'),
        'round',
        hexLines([
          ...range(0, 55),
          ...range(100, 54),
          ...range(200, 65),
          ...range(300, 64),
          ...strangers(60),
        ]),
      ),
    );
    const seg = segmentsById(r);
    expect(seg.r55).toMatchObject({ matched: 60, suppressed: false });
    expect(seg.r54).toMatchObject({ matched: null, suppressed: true, reason: 'below-k' });
    expect(seg.r65).toMatchObject({ matched: 70, suppressed: false });
    expect(seg.r64).toMatchObject({ matched: 60, suppressed: false });
    // 238 → 240: the total is a release like any other, never withheld by arithmetic on true counts.
    expect(r.matched).toBe(240);
    expect(r.privacy.rounding).toBe('nearest-10');
    expectReleasedCountsSafe(r);
  });

  it('a value at or over a raised k (61) that rounds under it (64 → 60) is suppressed as rounding-edge', async () => {
    const r = succeeded(
      await matchLines(
        attacker('round2'),
        'round',
        hexLines([...range(0, 55), ...range(200, 65), ...range(300, 64), ...strangers(60)]),
        { minSegmentSize: 61 },
      ),
    );
    const seg = segmentsById(r);
    expect(r.privacy.k).toBe(61);
    expect(seg.r64).toMatchObject({ matched: null, suppressed: true, reason: 'rounding-edge' });
    expect(seg.r65).toMatchObject({ matched: 70, suppressed: false });
    expect(seg.r55).toMatchObject({ matched: null, reason: 'below-k' });
    expectReleasedCountsSafe(r);
  });
});
