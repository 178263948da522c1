/**
 * The k-threshold end to end, with noise off (the unsafe test setting) so counts are exact: a
 * segment with exactly k matched is released with k, one with k − 1 is suppressed (below-k,
 * matched null); the matched total is a release like any other; a request raising k to k + 1
 * suppresses the k segment. With noise off nothing stops arithmetic on exact counts: that is what
 * the noise is for (test/privacy/guarantee-attacks.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/api-client.ts';
import { type MatchView, runMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import {
  bySegment,
  exactCountScenario,
  http,
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from './helpers.ts';

const K = 20;

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: String(K),
    SHARD_COUNT: '4',
  });
});

afterAll(async () => {
  await t?.stop();
});

type Result = NonNullable<MatchView['result']>;

describe('k-threshold with disjoint segments', () => {
  const scenario = exactCountScenario({
    base: 0,
    listSize: 200,
    segments: [
      { segmentId: 'at-k', listMatches: K, others: 80 },
      { segmentId: 'below-k', listMatches: K - 1, others: 80 },
      { segmentId: 'large', listMatches: 60, others: 80 },
      { segmentId: 'none', listMatches: 0, others: 80 },
    ],
  });
  let advertiser: ApiClient;
  let atK: Result;

  beforeAll(async () => {
    const report = await seedPartner(t.client('thr-disjoint', 'partner'), 'thr-disjoint', scenario.segments);
    expect(report.status).toBe('SUCCEEDED');
    advertiser = t.client('thr-adv-1', 'advertiser');
  });

  it('releases exactly k, suppresses k − 1 (below-k, matched null), and releases the total', async () => {
    const { match } = await runMatch(advertiser, {
      partnerId: 'thr-disjoint',
      list: { text: scenario.listText },
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    atK = match.result as Result;
    expect(atK.privacy).toMatchObject({ k: K, noise: { mechanism: 'none', rho: 0 }, budget: null });
    expect(atK.list).toMatchObject({ rows: 200, valid: 200, distinct: 200, duplicates: 0 });
    const seg = bySegment(match);
    expect(seg['at-k']).toMatchObject({ matched: K, suppressed: false });
    expect(seg['at-k']).not.toHaveProperty('reason');
    expect(seg['below-k']).toMatchObject({
      matched: null,
      suppressed: true,
      reason: 'below-k',
      share: null,
      affinity: null,
    });
    expect(seg.none).toMatchObject({ matched: null, suppressed: true, reason: 'below-k' });
    expect(seg.large).toMatchObject({ matched: 60, suppressed: false });
    expect(atK.matched).toBe(99);
    expect(atK.matchRate).toBe(0.495);
    expect(seg.large).toMatchObject({ share: 0.6061 });
  });

  it('the CSV download shows the suppressed cells empty, with their reason', async () => {
    const { matches } = await advertiser.get<{ matches: { matchId: string; minSegmentSize: number }[] }>(
      '/v1/matches',
    );
    const matchId = matches[0]?.matchId as string;
    const { url } = await advertiser.get<{ url: string }>(`/v1/matches/${matchId}/download?format=csv`);
    const text = await (await fetch(url)).text();
    expect(text).toMatch(/"below-k","[^"]*","","true","below-k","",""/);
    expect(text).toMatch(/"at-k","[^"]*","20","false","","0.202",/);
    // One tidy table: the summary and the privacy block are in the JSON only.
    expect(text).not.toContain('matched_total');
  });

  it('a request may ask for k itself, but not less', async () => {
    const token = t.token('thr-adv-1', 'advertiser');
    const res = await http(t, 'POST', '/v1/matches', {
      token,
      body: { listId: 'whatever', partnerId: 'thr-disjoint', minSegmentSize: K - 1 },
    });
    expect(res.status).toBe(422);
    expect(res.json.code).toBe('min-segment-size-below-floor');
  });

  it('raising k to k + 1 suppresses the segment of exactly k', async () => {
    const { match } = await runMatch(advertiser, {
      partnerId: 'thr-disjoint',
      list: { text: scenario.listText },
      minSegmentSize: K + 1,
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    const result = match.result as Result;
    expect(result.privacy.k).toBe(K + 1);
    const seg = bySegment(match);
    expect(seg['at-k']).toMatchObject({ matched: null, suppressed: true, reason: 'below-k' });
    expect(seg['below-k']).toMatchObject({ matched: null, suppressed: true, reason: 'below-k' });
    expect(seg.large).toMatchObject({ matched: 60, suppressed: false });
    const listed = await advertiser.get<{ matches: { matchId: string; minSegmentSize: number }[] }>(
      '/v1/matches',
    );
    expect(listed.matches.find((m) => m.matchId === match.matchId)?.minSegmentSize).toBe(K + 1);
  });
});

describe('matched total released when it bounds nothing', () => {
  it('overlapping segments: total − released is negative, so the total and shares are released', async () => {
    // a: list people 0..39, b: 20..59 (overlapping a), c: 0..9 (suppressed, inside a); others outside the list.
    const segments: SeedSegment[] = [
      { segmentId: 'a', name: 'A', people: [...range(10_000, 40), ...range(900_000, 50)] },
      { segmentId: 'b', name: 'B', people: [...range(10_020, 40), ...range(900_050, 50)] },
      { segmentId: 'c', name: 'C', people: [...range(10_000, 10), ...range(900_100, 50)] },
    ];
    expect((await seedPartner(t.client('thr-overlap', 'partner'), 'thr-overlap', segments)).status).toBe(
      'SUCCEEDED',
    );
    const list = `${range(10_000, 150).map(personEmail).join('\n')}\n`;
    const { match } = await runMatch(t.client('thr-adv-2', 'advertiser'), {
      partnerId: 'thr-overlap',
      list: { text: list },
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    const result = match.result as Result;
    const seg = bySegment(match);
    expect(seg.a).toMatchObject({ matched: 40, suppressed: false, share: 0.6667 });
    expect(seg.b).toMatchObject({ matched: 40, suppressed: false, share: 0.6667 });
    expect(seg.c).toMatchObject({ matched: null, suppressed: true, reason: 'below-k', share: null });
    expect(result.matched).toBe(60);
    expect(result.matchedSuppressedReason).toBeUndefined();
    // Affinity: share of the list's matched over share of the partner base (a has 90 of 210 members).
    expect(seg.a?.affinity).toBe(Math.round((40 / 60 / (90 / 210)) * 100));
  });

  it('no segment suppressed: the total is released exactly', async () => {
    const scenario = exactCountScenario({
      base: 20_000,
      listSize: 120,
      segments: [
        { segmentId: 'x', listMatches: K, others: 10 },
        { segmentId: 'y', listMatches: 30, others: 10 },
      ],
    });
    expect((await seedPartner(t.client('thr-all', 'partner'), 'thr-all', scenario.segments)).status).toBe(
      'SUCCEEDED',
    );
    const { match } = await runMatch(t.client('thr-adv-3', 'advertiser'), {
      partnerId: 'thr-all',
      list: { text: scenario.listText },
      quiet: true,
    });
    expect(match.result?.matched).toBe(K + 30);
    expect(bySegment(match).x).toMatchObject({ matched: K, share: 0.4 });
  });
});
