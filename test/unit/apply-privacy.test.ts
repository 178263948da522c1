import { describe, expect, it } from 'vitest';
import { DomainError } from '../../shared/domain/errors.ts';
import type { ShardTally } from '../../shared/domain/matching/match-shard.ts';
import type { AudienceSnapshot, SegmentInfo } from '../../shared/domain/model.ts';
import {
  type ApplyPrivacyInput,
  applyPrivacy,
  noiseSensitivity,
} from '../../shared/domain/privacy/apply-privacy.ts';
import {
  DEFAULT_PRIVACY_SETTINGS,
  type PrivacySettings,
  parsePrivacySettings,
  resolveK,
} from '../../shared/domain/privacy/privacy-params.ts';
import { MatchResultSchema } from '../../shared/domain/result/result-schema.ts';
import { seededWords } from '../support/seeded-words.ts';

const segment = (segmentId: string, size = 10_000): SegmentInfo => ({
  segmentId,
  name: `Segment ${segmentId}`,
  description: '',
  size,
  version: 1,
});

const snapshotOf = (segments: SegmentInfo[], baseSize = 100_000): AudienceSnapshot => ({
  partnerId: 'partner-1',
  profile: 'basic',
  segments,
  baseSize,
});

const listSummary = {
  rows: 5200,
  valid: 5100,
  invalid: 100,
  invalidByReason: { 'email-no-at': 60, empty: 40 },
  duplicates: 100,
  distinct: 5000,
};

const noNoise: PrivacySettings = parsePrivacySettings({ noise: { enabled: false } });

const tallyOf = (
  matched: number,
  perSegment: Record<string, number>,
  maxSegmentsPerPerson = 1,
): ShardTally => ({
  distinct: listSummary.distinct,
  matched,
  perSegment,
  maxSegmentsPerPerson,
});

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
  it('defaults to k 50, lists of 1000, noise on with epsilon 1 and a budget of 10, no rounding', () => {
    expect(DEFAULT_PRIVACY_SETTINGS).toEqual({
      minSegmentSize: 50,
      minListSize: 1000,
      noise: { enabled: true, epsilonPerMatch: 1, budgetPerPartner: 10 },
      rounding: 'none',
    });
  });

  it('refuses a deployment k outside 20..200 with a typed error', () => {
    expect(codeOf(() => parsePrivacySettings({ minSegmentSize: 19 }))).toBe('invalid-privacy-settings');
    expect(codeOf(() => parsePrivacySettings({ minSegmentSize: 201 }))).toBe('invalid-privacy-settings');
    expect(codeOf(() => parsePrivacySettings({ noise: { epsilonPerMatch: 5, budgetPerPartner: 2 } }))).toBe(
      'invalid-privacy-settings',
    );
    expect(parsePrivacySettings({ minSegmentSize: 20 }).minSegmentSize).toBe(20);
  });

  it('lets a request raise k, never lower it, and never above 200', () => {
    expect(resolveK(50)).toBe(50);
    expect(resolveK(50, 50)).toBe(50);
    expect(resolveK(50, 200)).toBe(200);
    expect(codeOf(() => resolveK(50, 49))).toBe('min-segment-size-below-floor');
    expect(codeOf(() => resolveK(50, 201))).toBe('min-segment-size-above-max');
    expect(codeOf(() => resolveK(50, 60.5))).toBe('invalid-min-segment-size');
  });
});

describe('applyPrivacy: k-threshold (rule 1)', () => {
  const snapshot = snapshotOf([segment('at-k'), segment('k-minus-1'), segment('empty')]);
  const tally = tallyOf(200, { 'at-k': 50, 'k-minus-1': 49 });

  it('releases a segment of exactly k and suppresses k - 1', () => {
    const result = run({ tally, snapshot });
    expect(result.segments).toEqual([
      { segmentId: 'at-k', name: 'Segment at-k', matched: 50, suppressed: false, share: 0.25, affinity: 250 },
      {
        segmentId: 'k-minus-1',
        name: 'Segment k-minus-1',
        matched: null,
        suppressed: true,
        reason: 'below-k',
        share: null,
        affinity: null,
      },
      {
        segmentId: 'empty',
        name: 'Segment empty',
        matched: null,
        suppressed: true,
        reason: 'below-k',
        share: null,
        affinity: null,
      },
    ]);
    // 200 - 50 = 150 >= k: the total does not bound the suppressed segments under k.
    expect(result.matched).toBe(200);
    expect(result.privacy).toEqual({
      k: 50,
      noise: { mechanism: 'none', epsilon: 0, sensitivity: 2 },
      rounding: 'none',
      budget: null,
    });
    expect(result.list).toEqual(listSummary);
    expect(result.partner).toEqual({ partnerId: 'partner-1', profile: 'basic' });
    expect(result.generatedAt).toBe('2025-01-02T03:04:05.000Z');
    expect(MatchResultSchema.parse(result)).toEqual(result);
  });

  it('applies a k raised by the request', () => {
    const result = run({ tally: tallyOf(200, { 'at-k': 60, 'k-minus-1': 59 }), snapshot, requestedK: 60 });
    expect(result.privacy.k).toBe(60);
    expect(result.segments.map((s) => s.matched)).toEqual([60, null, null]);
  });

  it('rejects a request that lowers k', () => {
    const error = (() => {
      try {
        run({ tally, snapshot, requestedK: 20 });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'min-segment-size-below-floor', status: 422 });
  });

  it('suppresses a matched total under k', () => {
    const result = run({ tally: tallyOf(49, { 'at-k': 49 }), snapshot });
    expect(result.matched).toBeNull();
    expect(result.matchedSuppressedReason).toBe('below-k');
  });

  it('ignores tally entries for segments outside the snapshot', () => {
    const result = run({ tally: tallyOf(500, { 'at-k': 300, ghost: 400 }), snapshot });
    expect(result.segments.map((s) => s.segmentId)).toEqual(['at-k', 'k-minus-1', 'empty']);
  });
});

describe('applyPrivacy: minimum list size (rule 2)', () => {
  const snapshot = snapshotOf([segment('a')]);

  it('refuses a list with fewer distinct valid identifiers than the minimum', () => {
    let error: unknown;
    try {
      run({ tally: tallyOf(100, { a: 100 }), snapshot, listSummary: { ...listSummary, distinct: 999 } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'list-too-small', status: 422 });
    expect((error as DomainError).detail).toBe(
      'The list has 999 distinct valid identifiers; the minimum is 1000.',
    );
  });

  it('accepts a list of exactly the minimum', () => {
    expect(
      run({ tally: tallyOf(100, { a: 100 }), snapshot, listSummary: { ...listSummary, distinct: 1000 } })
        .matched,
    ).toBe(100);
  });
});

describe('applyPrivacy: no derived counts (rule 3)', () => {
  it('withholds the total when total minus the visible disjoint segments gives a suppressed one', () => {
    // Everyone matched is in exactly one of a, b, c; c has 30 people.
    const snapshot = snapshotOf([segment('a'), segment('b'), segment('c')]);
    const result = run({ tally: tallyOf(1030, { a: 600, b: 400, c: 30 }), snapshot });
    expect(result.segments.map((s) => s.matched)).toEqual([600, 400, null]);
    expect(result.matched).toBeNull();
    expect(result.matchedSuppressedReason).toBe('derived-count');
    // Shares and affinities would reveal the total: withheld with it.
    expect(result.segments.map((s) => [s.share, s.affinity])).toEqual([
      [null, null],
      [null, null],
      [null, null],
    ]);
  });

  it('withholds the total for complementary segments A and not-A', () => {
    const snapshot = snapshotOf([segment('car-owner'), segment('not-car-owner')]);
    const result = run({ tally: tallyOf(1000, { 'car-owner': 960, 'not-car-owner': 40 }), snapshot });
    expect(result.segments.map((s) => s.matched)).toEqual([960, null]);
    expect(result.matched).toBeNull();
    expect(result.matchedSuppressedReason).toBe('derived-count');
  });

  it('withholds the total even when the remainder is zero (suppressed segments known to be empty)', () => {
    const snapshot = snapshotOf([segment('a'), segment('b')]);
    const result = run({ tally: tallyOf(500, { a: 500, b: 0 }), snapshot });
    expect(result.matched).toBeNull();
    expect(result.matchedSuppressedReason).toBe('derived-count');
  });

  it('releases the total when the suppressed segments together hold at least k', () => {
    const snapshot = snapshotOf([segment('a'), segment('b'), segment('c')]);
    const result = run({ tally: tallyOf(560, { a: 500, b: 30, c: 30 }), snapshot });
    expect(result.matched).toBe(560);
    expect(result.segments[0]).toMatchObject({ matched: 500, share: 0.8929, affinity: 893 });
  });

  it('releases the total when overlapping segments make the bound vacuous', () => {
    const snapshot = snapshotOf([segment('a'), segment('b'), segment('c')]);
    const result = run({ tally: tallyOf(700, { a: 600, b: 500, c: 10 }, 3), snapshot });
    expect(result.matched).toBe(700);
    expect(result.privacy.noise.sensitivity).toBe(4);
  });

  it('releases the total when nothing is suppressed', () => {
    const snapshot = snapshotOf([segment('a'), segment('b')]);
    expect(run({ tally: tallyOf(1000, { a: 990, b: 60 }, 2), snapshot }).matched).toBe(1000);
  });

  describe('rounding edges', () => {
    const snapshot = snapshotOf([segment('a'), segment('b'), segment('c'), segment('d')]);
    const rounded = { ...noNoise, rounding: 'nearest-10' as const };

    it('never rounds a count under k up to k', () => {
      const result = run({
        tally: tallyOf(2000, { a: 47, b: 55, c: 54, d: 1000 }),
        snapshot,
        settings: rounded,
      });
      expect(result.segments.map((s) => [s.matched, s.reason])).toEqual([
        [null, 'below-k'],
        [60, undefined],
        [50, undefined],
        [1000, undefined],
      ]);
      expect(result.privacy.rounding).toBe('nearest-10');
    });

    it('suppresses a count of at least k that rounds under k', () => {
      const result = run({
        tally: tallyOf(2000, { a: 54, b: 55, c: 64, d: 1000 }),
        snapshot,
        settings: rounded,
        requestedK: 55,
      });
      expect(result.segments.map((s) => [s.matched, s.reason])).toEqual([
        [null, 'below-k'],
        [60, undefined],
        [60, undefined],
        [1000, undefined],
      ]);
      const edge = run({
        tally: tallyOf(2000, { a: 54, b: 56, c: 64, d: 1000 }),
        snapshot,
        settings: { ...noNoise, rounding: 'nearest-5' },
        requestedK: 56,
      });
      // 56 rounds to 55 < 56: released, it would tell a count under k.
      expect(edge.segments[1]).toMatchObject({ matched: null, suppressed: true, reason: 'rounding-edge' });
    });

    it('checks the total against the rounded segments it would be subtracted from', () => {
      // Rounded: total 1090, a 1000, b 60, c suppressed: remainder 30 < k.
      const result = run({ tally: tallyOf(1093, { a: 1004, b: 57, c: 32 }), snapshot, settings: rounded });
      expect(result.matched).toBeNull();
      expect(result.matchedSuppressedReason).toBe('derived-count');
    });
  });
});

describe('applyPrivacy: difference check hook (rule 4)', () => {
  it('suppresses flagged segments and withholds a total that would give them away', () => {
    const snapshot = snapshotOf([segment('a'), segment('b')]);
    const result = run({
      tally: tallyOf(1000, { a: 940, b: 60 }),
      snapshot,
      differenceSuppressed: new Set(['b']),
    });
    expect(result.segments[1]).toEqual({
      segmentId: 'b',
      name: 'Segment b',
      matched: null,
      suppressed: true,
      reason: 'difference-check',
      share: null,
      affinity: null,
    });
    expect(result.matched).toBeNull();
    // Withheld by the difference check itself: any flagged segment takes the total with it.
    expect(result.matchedSuppressedReason).toBe('difference-check');
  });

  it('withholds the total whenever a flagged segment is hidden, even with overlapping segments', () => {
    const snapshot = snapshotOf([segment('a'), segment('b'), segment('c')]);
    const result = run({
      tally: tallyOf(1000, { a: 900, b: 800, c: 300 }, 3),
      snapshot,
      differenceSuppressed: new Set(['c']),
    });
    expect(result.segments.map((s) => s.matched)).toEqual([900, 800, null]);
    expect(result.matched).toBeNull();
  });

  it('suppresses the total when the caller flags it', () => {
    const snapshot = snapshotOf([segment('a')]);
    const result = run({ tally: tallyOf(1000, { a: 900 }), snapshot, totalDifferenceSuppressed: true });
    expect(result.matched).toBeNull();
    expect(result.matchedSuppressedReason).toBe('difference-check');
    expect(result.segments[0]).toMatchObject({ matched: 900, share: null, affinity: null });
  });

  it('gives a flagged segment the difference-check reason even under k, so the reason reveals no count', () => {
    const snapshot = snapshotOf([segment('a'), segment('b')]);
    const result = run({
      tally: tallyOf(1000, { a: 900, b: 10 }),
      snapshot,
      differenceSuppressed: new Set(['b']),
    });
    expect(result.segments[1]).toMatchObject({ matched: null, reason: 'difference-check' });
    expect(result.matched).toBeNull();
    expect(result.matchedSuppressedReason).toBe('difference-check');
  });
});

describe('applyPrivacy: noise and budget (rule 5)', () => {
  const snapshot = snapshotOf([segment('a'), segment('b'), segment('c')]);
  const tally = tallyOf(3000, { a: 1500, b: 1200, c: 48 }, 2);
  const settings = DEFAULT_PRIVACY_SETTINGS;

  it('adds discrete Laplace noise scaled to the sensitivity and spends epsilon from the budget', () => {
    const result = run({ tally, snapshot, settings, budgetLeft: 3.3, random: seededWords('n1') });
    expect(result.privacy.noise).toEqual({ mechanism: 'discrete-laplace', epsilon: 1, sensitivity: 3 });
    expect(result.privacy.budget).toEqual({ epsilonSpent: 1, epsilonLeft: 2.3 });
    const a = result.segments[0]?.matched ?? 0;
    expect(Math.abs(a - 1500)).toBeLessThan(100); // scale 3: |noise| > 100 has probability ~ e^-33
    // Same words, same result; other words, (almost surely) other noise.
    expect(run({ tally, snapshot, settings, budgetLeft: 3.3, random: seededWords('n1') })).toEqual(result);
    const others = ['n2', 'n3', 'n4'].map(
      (seed) =>
        run({ tally, snapshot, settings, budgetLeft: 3.3, random: seededWords(seed) }).segments[0]?.matched,
    );
    expect(new Set([a, ...others]).size).toBeGreaterThan(1);
  });

  it('scales to the partner-side bound on segments per member when the snapshot has it', () => {
    const bounded = { ...snapshot, maxSegmentsPerMember: 7 };
    const result = run({ tally, snapshot: bounded, settings, budgetLeft: 10, random: seededWords('s') });
    expect(result.privacy.noise.sensitivity).toBe(8);
    expect(noiseSensitivity({ maxSegmentsPerPerson: 0 }, {})).toBe(2);
    expect(noiseSensitivity({ maxSegmentsPerPerson: 4 }, { maxSegmentsPerMember: 2 })).toBe(5);
  });

  it('uses a smaller epsilon when the request asks for one, never a larger one', () => {
    const result = run({ tally, snapshot, settings, budgetLeft: 1, epsilon: 0.25, random: seededWords('e') });
    expect(result.privacy.noise.epsilon).toBe(0.25);
    expect(result.privacy.budget).toEqual({ epsilonSpent: 0.25, epsilonLeft: 0.75 });
    expect(codeOf(() => run({ tally, snapshot, settings, budgetLeft: 10, epsilon: 2 }))).toBe(
      'invalid-epsilon',
    );
    expect(codeOf(() => run({ tally, snapshot, settings, budgetLeft: 10, epsilon: 0 }))).toBe(
      'invalid-epsilon',
    );
  });

  it('refuses a match the budget cannot pay for, and never assumes a full budget', () => {
    expect(codeOf(() => run({ tally, snapshot, settings, budgetLeft: 0.5 }))).toBe(
      'privacy-budget-exhausted',
    );
    expect(codeOf(() => run({ tally, snapshot, settings }))).toBe('privacy-budget-unknown');
    // Float sums of decimal spends still allow the last match.
    const left = 10 - 0.1 * 3 - 8.7; // 0.9999999999999982
    const result = run({ tally, snapshot, settings, budgetLeft: left, random: seededWords('f') });
    expect(result.privacy.budget).toEqual({ epsilonSpent: 1, epsilonLeft: 0 });
  });

  it('never releases a noisy count under k', () => {
    const near = tallyOf(2000, { a: 50, b: 51, c: 49 }, 1);
    for (let i = 0; i < 200; i++) {
      const result = run({ tally: near, snapshot, settings, budgetLeft: 10, random: seededWords(`k${i}`) });
      for (const s of result.segments) {
        if (s.matched !== null) expect(s.matched).toBeGreaterThanOrEqual(50);
        else expect(s.suppressed).toBe(true);
      }
    }
  });
});
