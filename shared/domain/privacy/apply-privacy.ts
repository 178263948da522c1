/**
 * Turns true counts (a reduced tally) into the releasable Result, once, after all shards are
 * reduced. The whole release is one run of the discrete Gaussian mechanism (docs/privacy.md):
 *
 * - every count that can be released (the matched total, then each segment in catalog order) gets
 *   its own exact discrete Gaussian noise, whether it ends up shown or not;
 * - the noise is scaled to the counts one partner person can move: the total and every segment of
 *   the snapshot, a public number that does not depend on anybody's data;
 * - everything else is computed from the noisy counts alone (post-processing): the k-threshold,
 *   rounding, shares, affinities (over the catalog's published noisy sizes) and the match rate.
 *   No decision on true data reaches the result.
 * - the minimum list size is a check on the advertiser's own list, made before anything is spent.
 */
import { DomainError } from '../errors.ts';
import type { ShardTally } from '../matching/match-shard.ts';
import { type AudienceSnapshot, catalogKinds, type IdentifierKind } from '../model.ts';
import type { RandomWords } from '../ports.ts';
import type {
  KindResult,
  ListSummary,
  MatchResult,
  SegmentResult,
  SuppressionReason,
} from '../result/result-schema.ts';
import { MatchResultSchema } from '../result/result-schema.ts';
import {
  createDiscreteGaussianSampler,
  cryptoRandomWords,
  discreteGaussianSigma2,
  rationalValue,
} from './noise.ts';
import { type PrivacySettings, resolveK, roundingBase } from './privacy-params.ts';

export interface ApplyPrivacyInput {
  /** True counts of the whole list (shards reduced); `byKind` when the partner holds several kinds. */
  tally: Pick<ShardTally, 'matched' | 'perSegment'> & Partial<Pick<ShardTally, 'byKind'>>;
  /** The snapshot the match read: its segments, and their published sizes for affinities. */
  snapshot: AudienceSnapshot;
  listSummary: ListSummary;
  settings: PrivacySettings;
  /** k asked for by the request: may raise the deployment's k, never lower it. */
  requestedK?: number;
  /** The budgets after this match's spend (from the ledger); required unless noise is off. */
  budget?: NonNullable<MatchResult['privacy']['budget']>;
  /** Random source for the noise (default: the platform CSPRNG). */
  random?: RandomWords;
  /** Clock, for reproducible results in tests. */
  now?: Date;
}

/** Refuses a list with fewer distinct valid identifiers than the deployment minimum (rule 2). */
export function assertListSize(listSummary: Pick<ListSummary, 'distinct'>, minListSize: number): void {
  if (listSummary.distinct < minListSize) {
    throw new DomainError(
      'list-too-small',
      `The list has ${listSummary.distinct} distinct valid identifiers; the minimum is ${minListSize}.`,
      422,
    );
  }
}

/**
 * The identifier kinds whose counts a match against this snapshot releases: every kind of the
 * catalog when it holds several (partner people matched through email, through phone), none when
 * it holds one (its count would be the matched total again). A public property of the catalog.
 */
export function releasedKinds(snapshot: Pick<AudienceSnapshot, 'segments'>): IdentifierKind[] {
  const kinds = catalogKinds(snapshot.segments);
  return kinds.length > 1 ? kinds : [];
}

/**
 * The squared L2 sensitivity of a match's release: one partner person is counted at most once in
 * the total, once in each segment of the snapshot and once in each released per-kind count
 * (however many of its identifiers were hit). The snapshot's segments and kinds are public (the
 * catalog), so the noise scale reveals nothing about anybody.
 */
export function matchSensitivity2(snapshot: Pick<AudienceSnapshot, 'segments'>): number {
  return snapshot.segments.length + 1 + releasedKinds(snapshot).length;
}

/** The discrete Gaussian's sigma^2 for a match against this snapshot at this rho. */
export function matchSigma2(snapshot: Pick<AudienceSnapshot, 'segments'>, rho: number) {
  return discreteGaussianSigma2(matchSensitivity2(snapshot), rho);
}

/** Round half up to the nearest multiple of base. */
export function roundTo(value: number, base: number): number {
  return base === 1 ? value : Math.floor(value / base + 0.5) * base;
}

interface Released {
  value: number | null;
  reason?: SuppressionReason;
}

/** The k-threshold and rounding, on a noisy count only. */
export function releaseNoisy(noisy: number, k: number, base: number): Released {
  const clamped = Math.max(0, noisy);
  if (clamped < k) return { value: null, reason: 'below-k' };
  const rounded = roundTo(clamped, base);
  if (rounded < k) return { value: null, reason: 'rounding-edge' };
  return { value: rounded };
}

export function applyPrivacy(input: ApplyPrivacyInput): MatchResult {
  const { tally, snapshot, listSummary, settings } = input;
  const k = resolveK(settings.minSegmentSize, input.requestedK);
  assertListSize(listSummary, settings.minListSize);

  const noiseOn = !settings.unsafeNoiseOffForTests;
  const sensitivity2 = matchSensitivity2(snapshot);
  let noise: () => number = () => 0;
  let sigma = 0;
  if (noiseOn) {
    if (!input.budget) {
      throw new DomainError('privacy-budget-unknown', 'The privacy budget of this match was not provided.');
    }
    const sigma2 = matchSigma2(snapshot, settings.rhoPerMatch);
    sigma = Math.sqrt(rationalValue(sigma2));
    const sampler = createDiscreteGaussianSampler(sigma2, input.random ?? cryptoRandomWords);
    noise = () => sampler.sample();
  }

  const base = roundingBase(settings.rounding);
  // Noise for every count in a fixed order (total, then catalog order), released or not.
  const total = releaseNoisy(tally.matched + noise(), k, base);
  const perSegment = snapshot.segments.map((segment) => ({
    segment,
    released: releaseNoisy((tally.perSegment[segment.segmentId] ?? 0) + noise(), k, base),
  }));

  // Then one count per released kind, in kind order.
  const kindCounts = releasedKinds(snapshot).map((kind) => ({
    kind,
    released: releaseNoisy((tally.byKind?.[kind] ?? 0) + noise(), k, base),
  }));

  const matchedTotal = total.value;
  const publishedBase = snapshot.publishedBaseSize ?? null;
  const segments: SegmentResult[] = perSegment.map(({ segment, released }) => {
    const matched = released.value;
    let share: number | null = null;
    let affinity: number | null = null;
    // Ratios of released values only: they exist when both sides are released.
    if (matched !== null && matchedTotal !== null && matchedTotal > 0) {
      const rawShare = Math.min(1, matched / matchedTotal);
      share = round(rawShare, 4);
      const size = segment.publishedSize ?? null;
      if (size !== null && size > 0 && publishedBase !== null && publishedBase > 0) {
        affinity = Math.round((rawShare / Math.min(1, size / publishedBase)) * 100);
      }
    }
    const row: SegmentResult = {
      segmentId: segment.segmentId,
      name: segment.name,
      matched,
      suppressed: matched === null,
      share,
      affinity,
    };
    if (released.reason !== undefined) row.reason = released.reason;
    return row;
  });

  const result: MatchResult = {
    list: {
      rows: listSummary.rows,
      valid: listSummary.valid,
      invalid: listSummary.invalid,
      invalidByReason: { ...listSummary.invalidByReason },
      duplicates: listSummary.duplicates,
      distinct: listSummary.distinct,
      ...(listSummary.byKind ? { byKind: { ...listSummary.byKind } } : {}),
    },
    matched: matchedTotal,
    matchRate:
      matchedTotal !== null && listSummary.distinct > 0
        ? round(Math.min(1, matchedTotal / listSummary.distinct), 4)
        : null,
    segments,
    byKind: byKindResults(snapshot, kindCounts, total, listSummary),
    privacy: {
      k,
      noise: {
        mechanism: noiseOn ? 'discrete-gaussian' : 'none',
        rho: noiseOn ? settings.rhoPerMatch : 0,
        sigma: round(sigma, 3),
        sensitivity2,
      },
      rounding: settings.rounding,
      budget: noiseOn ? (input.budget ?? null) : null,
    },
    partner: { partnerId: snapshot.partnerId, profile: snapshot.profile },
    generatedAt: (input.now ?? new Date()).toISOString(),
  };
  if (total.reason !== undefined) result.matchedSuppressedReason = total.reason;
  // The contract is checked on the way out: a Result that does not parse is never released.
  return MatchResultSchema.parse(result);
}

/**
 * Partner people matched through each kind, and the rate over the list people holding that kind.
 * With one kind in the catalog, its count is the released total (nothing more is released).
 */
function byKindResults(
  snapshot: Pick<AudienceSnapshot, 'segments'>,
  kindCounts: { kind: IdentifierKind; released: Released }[],
  total: Released,
  listSummary: ListSummary,
): KindResult[] {
  const counts =
    kindCounts.length > 0
      ? kindCounts
      : catalogKinds(snapshot.segments).map((kind) => ({ kind, released: total }));
  return counts.map(({ kind, released }) => {
    const listed = listSummary.byKind?.[kind] ?? (kindCounts.length === 0 ? listSummary.distinct : 0);
    const row: KindResult = {
      kind,
      matched: released.value,
      suppressed: released.value === null,
      matchRate:
        released.value !== null && listed > 0 ? round(Math.min(1, released.value / listed), 4) : null,
    };
    if (released.reason !== undefined) row.reason = released.reason;
    return row;
  });
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
