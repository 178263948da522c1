import { describe, expect, it } from 'vitest';
import { DomainError } from '../../shared/domain/errors.ts';
import type { AudienceSnapshot, SegmentInfo } from '../../shared/domain/model.ts';
import {
  type ApplyPrivacyInput,
  applyPrivacy,
  matchSensitivity2,
  releaseNoisy,
} from '../../shared/domain/privacy/apply-privacy.ts';
import { publishCatalogCounts } from '../../shared/domain/privacy/catalog-release.ts';
import {
  DEFAULT_PRIVACY_SETTINGS,
  type PrivacySettings,
  parsePrivacySettings,
  privacySettingsFromEnv,
  resolveK,
} from '../../shared/domain/privacy/privacy-params.ts';
import { reuseRelease } from '../../shared/domain/privacy/reuse-release.ts';
import { MatchResultSchema } from '../../shared/domain/result/result-schema.ts';
import { seededWords } from '../support/seeded-words.ts';

const segment = (segmentId: string, publishedSize: number | null = 10_000): SegmentInfo => ({
  segmentId,
  name: `Segment ${segmentId}`,
  description: '',
  size: publishedSize ?? 0,
  version: 1,
  publishedSize,
});

const snapshotOf = (
  segments: SegmentInfo[],
  publishedBaseSize: number | null = 100_000,
): AudienceSnapshot => ({
  partnerId: 'partner-1',
  profile: 'basic',
  segments,
  baseSize: publishedBaseSize ?? 0,
  publishedBaseSize,
});

const listSummary = {
  rows: 5200,
  valid: 5100,
  invalid: 100,
  invalidByReason: { 'email-no-at': 60, empty: 40 },
  duplicates: 100,
  distinct: 5000,
};

const noNoise: PrivacySettings = parsePrivacySettings({ unsafeNoiseOffForTests: true });
const budget = {
  period: '2025-01',
  renewsAt: '2025-02-01T00:00:00.000Z',
  rhoSpent: 0.01,
  advertiserLeft: 0.39,
  advertiserAllowance: 0.4,
  partnerLeft: 0.99,
};

const tallyOf = (matched: number, perSegment: Record<string, number>) => ({ matched, perSegment });

function run(overrides: Partial<ApplyPrivacyInput> & Pick<ApplyPrivacyInput, 'tally' | 'snapshot'>) {
  return applyPrivacy({
    listSummary,
    settings: noNoise,
    now: new Date('2025-01-02T03:04:05.000Z'),
    ...overrides,
  });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  return undefined;
}

describe('privacy settings', () => {
  it('defaults to k 50, lists of 1000, rho 0.01 a match, 0.4 per advertiser and 1 per partner a month', () => {
    expect(DEFAULT_PRIVACY_SETTINGS).toEqual({
      minSegmentSize: 50,
      minListSize: 1000,
      rhoPerMatch: 0.01,
      rhoPerAdvertiserPartner: 0.4,
      rhoPerPartner: 1,
      rhoPerCatalog: 0.01,
      rhoCatalogPerPartner: 0.2,
      budgetPeriod: 'month',
      rounding: 'none',
      unsafeNoiseOffForTests: false,
    });
  });

  it('refuses every out-of-range setting with its name, its value and the allowed range', () => {
    expect(() => privacySettingsFromEnv({ MIN_SEGMENT_SIZE: '19' })).toThrow(
      'MIN_SEGMENT_SIZE=19 is out of range: allowed a whole number from 20 to 200',
    );
    expect(() => privacySettingsFromEnv({ MIN_SEGMENT_SIZE: '201' })).toThrow(/MIN_SEGMENT_SIZE=201/);
    expect(() => privacySettingsFromEnv({ RHO_PER_MATCH: '0' })).toThrow(
      'RHO_PER_MATCH=0 is out of range: allowed a number from 0.0001 to 1',
    );
    expect(() => privacySettingsFromEnv({ BUDGET_PERIOD: 'year' })).toThrow(
      'BUDGET_PERIOD=year is out of range: allowed one of day, week, month, quarter',
    );
    expect(() => privacySettingsFromEnv({ UNSAFE_NOISE_OFF_FOR_TESTS: 'maybe' })).toThrow(/true or false/);
    expect(() => privacySettingsFromEnv({ RHO_PER_MATCH: '0.5', RHO_PER_ADVERTISER_PARTNER: '0.4' })).toThrow(
      /RHO_PER_MATCH=0.5 exceeds RHO_PER_ADVERTISER_PARTNER=0.4/,
    );
    expect(() => privacySettingsFromEnv({ RHO_PER_ADVERTISER_PARTNER: '2' })).toThrow(
      /exceeds RHO_PER_PARTNER=1/,
    );
    expect(codeOf(() => parsePrivacySettings({ minSegmentSize: 19 }))).toBe('invalid-privacy-settings');
    // The first version's variables are refused, never silently ignored (a stack would run with noise).
    expect(() => privacySettingsFromEnv({ NOISE_ENABLED: 'false' })).toThrow(
      /NOISE_ENABLED is no longer read: noise is always on; test stacks turn it off with UNSAFE_NOISE_OFF_FOR_TESTS=true/,
    );
    expect(() => privacySettingsFromEnv({ EPSILON_BUDGET: '10' })).toThrow(/use RHO_PER_ADVERTISER_PARTNER/);
    expect(privacySettingsFromEnv({ MIN_SEGMENT_SIZE: '20' }).minSegmentSize).toBe(20);
  });

  it('lets a request raise k, never lower it, and never above 200', () => {
    expect(resolveK(50)).toBe(50);
    expect(resolveK(50, 200)).toBe(200);
    expect(codeOf(() => resolveK(50, 49))).toBe('min-segment-size-below-floor');
    expect(codeOf(() => resolveK(50, 201))).toBe('min-segment-size-above-max');
    expect(codeOf(() => resolveK(50, 60.5))).toBe('invalid-min-segment-size');
  });
});

describe('applyPrivacy with noise off (unsafe test setting): the post-processing, exactly', () => {
  const snapshot = snapshotOf([segment('a', 20_000), segment('b', 5_000), segment('c')]);

  it('releases counts of k and more, suppresses counts under k (below-k), and says why', () => {
    const r = run({ tally: tallyOf(400, { a: 300, b: 50, c: 49 }), snapshot });
    expect(r.matched).toBe(400);
    expect(r.segments.map((s) => [s.segmentId, s.matched, s.reason])).toEqual([
      ['a', 300, undefined],
      ['b', 50, undefined],
      ['c', null, 'below-k'],
    ]);
    expect(r.privacy).toMatchObject({ k: 50, noise: { mechanism: 'none', rho: 0, sigma: 0 }, budget: null });
  });

  it('keeps the matched total even when segments are suppressed: no derived-count decision on true data', () => {
    const r = run({ tally: tallyOf(130, { a: 80, b: 50, c: 0 }), snapshot });
    expect(r.matched).toBe(130);
    expect(r.matchedSuppressedReason).toBeUndefined();
  });

  it('computes shares over the released total and affinities over the published catalog sizes', () => {
    const r = run({ tally: tallyOf(1000, { a: 500, b: 100, c: 60 }), snapshot });
    const a = r.segments.find((s) => s.segmentId === 'a');
    // share 0.5; the catalog says 20,000 of 100,000 (0.2): affinity 250.
    expect(a).toMatchObject({ share: 0.5, affinity: 250 });
    expect(r.matchRate).toBe(0.2);
  });

  it('gives no affinity where the catalog published no size', () => {
    const r = run({
      tally: tallyOf(1000, { a: 500, b: 100, c: 60 }),
      snapshot: snapshotOf([segment('a', null), segment('b'), segment('c')]),
    });
    expect(r.segments.find((s) => s.segmentId === 'a')).toMatchObject({ share: 0.5, affinity: null });
  });

  it('withholds the total, the match rate, shares and affinities together when the total is under k', () => {
    const r = run({ tally: tallyOf(49, { a: 49, b: 0, c: 0 }), snapshot });
    expect(r).toMatchObject({ matched: null, matchedSuppressedReason: 'below-k', matchRate: null });
    expect(r.segments.every((s) => s.share === null && s.affinity === null)).toBe(true);
  });

  it('refuses a list under the minimum size before anything else', () => {
    expect(
      codeOf(() => run({ tally: tallyOf(0, {}), snapshot, listSummary: { ...listSummary, distinct: 999 } })),
    ).toBe('list-too-small');
  });
});

describe('releaseNoisy: the threshold and rounding on a noisy value', () => {
  it('suppresses under k, never rounds a value under k into view nor a value at k out of it', () => {
    expect(releaseNoisy(54, 55, 10)).toEqual({ value: null, reason: 'below-k' });
    expect(releaseNoisy(55, 55, 10)).toEqual({ value: 60 });
    expect(releaseNoisy(-3, 20, 1)).toEqual({ value: null, reason: 'below-k' });
    expect(releaseNoisy(22, 21, 5)).toEqual({ value: null, reason: 'rounding-edge' }); // 22 -> 20 < 21
    expect(releaseNoisy(25, 21, 10)).toEqual({ value: 30 }); // halves round up
  });
});

describe('applyPrivacy with noise (the deployed mechanism)', () => {
  const settings = DEFAULT_PRIVACY_SETTINGS;
  const segments = Array.from({ length: 11 }, (_, i) => segment(`s${i}`));
  const snapshot = snapshotOf(segments);

  it('scales the discrete Gaussian to the segments of the snapshot plus the total: public, not data', () => {
    expect(matchSensitivity2(snapshot)).toBe(12);
    const r = run({ tally: tallyOf(1000, {}), snapshot, settings, budget, random: seededWords(1) });
    // sigma^2 = 12 / (2 * 0.01) = 600
    expect(r.privacy.noise).toEqual({
      mechanism: 'discrete-gaussian',
      rho: 0.01,
      sigma: 24.495,
      sensitivity2: 12,
    });
    expect(r.privacy.budget).toEqual(budget);
  });

  it('refuses to release without the budget the ledger charged', () => {
    expect(codeOf(() => run({ tally: tallyOf(1000, {}), snapshot, settings }))).toBe(
      'privacy-budget-unknown',
    );
  });

  it('draws fresh noise per match and is reproducible from the same words', () => {
    const counts = Object.fromEntries(segments.map((s) => [s.segmentId, 2000]));
    const one = run({ tally: tallyOf(5000, counts), snapshot, settings, budget, random: seededWords('x') });
    const again = run({ tally: tallyOf(5000, counts), snapshot, settings, budget, random: seededWords('x') });
    const other = run({ tally: tallyOf(5000, counts), snapshot, settings, budget, random: seededWords('y') });
    expect(again).toEqual(one);
    expect(other.segments.map((s) => s.matched)).not.toEqual(one.segments.map((s) => s.matched));
    for (const s of one.segments) expect(Math.abs((s.matched as number) - 2000)).toBeLessThan(200);
  });

  it('suppresses on the noisy value: a true count of 0 is sometimes released and a true k sometimes not', () => {
    // sigma 24.5 around k = 50: the decision follows the noise, not the truth.
    let zeroReleased = 0;
    let kSuppressed = 0;
    for (let i = 0; i < 400; i++) {
      const r = run({
        tally: tallyOf(5000, { s0: 0, s1: 50 }),
        snapshot,
        settings: parsePrivacySettings({ minSegmentSize: 20 }),
        budget,
        random: seededWords(`edge-${i}`),
      });
      if (r.segments[0]?.matched !== null) zeroReleased++;
      if (r.segments[1]?.matched === null) kSuppressed++;
    }
    expect(zeroReleased).toBeGreaterThan(0);
    expect(kSuppressed).toBeGreaterThan(0);
  });

  it('every release parses as the Result contract, with only below-k or rounding-edge as reasons', () => {
    const r = run({
      tally: tallyOf(300, { s0: 200, s1: 10 }),
      snapshot,
      settings,
      budget,
      random: seededWords(3),
    });
    expect(MatchResultSchema.parse(r)).toEqual(r);
    for (const s of r.segments) if (s.suppressed) expect(['below-k', 'rounding-edge']).toContain(s.reason);
  });
});

describe('reuseRelease: a replay is post-processing of the earlier release', () => {
  const snapshot = snapshotOf([segment('a'), segment('b')]);
  const earlier = run({ tally: tallyOf(500, { a: 300, b: 70 }), snapshot });

  it('returns the same values, marks the replay and spends nothing', () => {
    const r = reuseRelease(earlier, { k: 50, now: new Date('2025-02-01T00:00:00Z'), replayOf: 'm1', budget });
    expect(r.segments.map((s) => s.matched)).toEqual([300, 70]);
    expect(r).toMatchObject({ matched: 500, replayOf: 'm1', privacy: { budget: { rhoSpent: 0 } } });
  });

  it('a higher k suppresses more; a lower k brings nothing back', () => {
    const higher = reuseRelease(earlier, { k: 80, now: new Date(), replayOf: 'm1', budget: null });
    expect(higher.segments.map((s) => [s.matched, s.reason])).toEqual([
      [300, undefined],
      [null, 'below-k'],
    ]);
    const back = reuseRelease(higher, { k: 50, now: new Date(), replayOf: 'm1', budget: null });
    expect(back.segments[1]?.matched).toBeNull();
    expect(back.privacy.k).toBe(80);
  });
});

describe('published catalog sizes', () => {
  it('are noisy, rounded to 10, and absent under k', () => {
    const counts = {
      segments: new Map([
        ['big', 12_345],
        ['small', 3],
      ]),
      base: 20_000,
    };
    const published = publishCatalogCounts(counts, { k: 50, rho: 0.01, random: seededWords(4) });
    const big = published.segments.get('big') as number;
    expect(big % 10).toBe(0);
    expect(Math.abs(big - 12_345)).toBeLessThan(200);
    expect(published.segments.get('small')).toBeNull();
    expect((published.base as number) % 10).toBe(0);
  });

  it('3 and 4 people publish the same thing: nothing', () => {
    for (const n of [3, 4]) {
      const p = publishCatalogCounts(
        { segments: new Map([['s', n]]), base: n },
        { k: 50, rho: 0.01, random: seededWords(n) },
      );
      expect(p.segments.get('s')).toBeNull();
      expect(p.base).toBeNull();
    }
  });
});

describe('per identifier kind', () => {
  const both: SegmentInfo[] = [
    { ...segment('a'), kinds: ['email', 'phone'] },
    { ...segment('b'), kinds: ['email'] },
  ];
  const summary = { ...listSummary, byKind: { email: 4000, phone: 1000 } };

  it('releases the partner people matched through each kind under the k-threshold, with its rate', () => {
    const r = applyPrivacy({
      tally: { matched: 700, perSegment: { a: 600, b: 300 }, byKind: { email: 650, phone: 49 } },
      snapshot: snapshotOf(both),
      listSummary: summary,
      settings: noNoise,
    });
    expect(r.byKind).toEqual([
      { kind: 'email', matched: 650, suppressed: false, matchRate: 0.1625 },
      { kind: 'phone', matched: null, suppressed: true, reason: 'below-k', matchRate: null },
    ]);
    expect(r.privacy.noise.sensitivity2).toBe(2 + 1 + 2);
    expect(r.list.byKind).toEqual({ email: 4000, phone: 1000 });
    // A replay at a higher k post-processes the per-kind counts too.
    const again = reuseRelease(r, { k: 700, now: new Date(), replayOf: 'm1', budget: null });
    expect(again.byKind?.[0]).toMatchObject({ kind: 'email', matched: null, suppressed: true });
  });

  it('draws noise for each kind count after the total and the segments, in kind order', () => {
    const tally = { matched: 700, perSegment: { a: 600, b: 300 }, byKind: { email: 650, phone: 400 } };
    const r = applyPrivacy({
      tally,
      snapshot: snapshotOf(both),
      listSummary: summary,
      settings: DEFAULT_PRIVACY_SETTINGS,
      budget,
      random: seededWords(7),
    });
    expect(r.privacy.noise.sensitivity2).toBe(5);
    expect(r.byKind?.map((k) => k.kind)).toEqual(['email', 'phone']);
    // Noisy, not the true counts (a sigma of 15.8: equal to both true values by chance only rarely).
    expect(r.byKind?.map((k) => k.matched)).not.toEqual([650, 400]);
  });

  it('a partner of one kind releases no kind count of its own: its row is the total again', () => {
    const r = applyPrivacy({
      tally: { matched: 700, perSegment: { a: 600 }, byKind: { email: 700, phone: 0 } },
      snapshot: snapshotOf([segment('a')]),
      listSummary,
      settings: noNoise,
    });
    expect(r.privacy.noise.sensitivity2).toBe(2);
    expect(r.byKind).toEqual([{ kind: 'email', matched: 700, suppressed: false, matchRate: 0.14 }]);
  });
});
