/**
 * Turns true counts (a reduced tally) into the releasable Result, applying PRODUCT.md privacy
 * rules 1 to 5 once, after all shards are reduced:
 *
 * 1. k-threshold after noise and rounding: every released count is at least k.
 * 2. Minimum list size: too small a list is refused before anything is computed.
 * 3. No derived counts: the matched total is withheld when subtracting the released segments from
 *    it would bound the suppressed ones under k; shares and affinities (which reveal the total)
 *    go with it. Rounding cannot lift a value over k or push a released one under it.
 * 4. Difference check: segments flagged by the caller are suppressed.
 * 5. Discrete Laplace noise scaled to the L1 sensitivity, with the epsilon spent from a budget the
 *    caller reads from its ledger (never assumed full).
 */
import { DomainError } from '../errors.ts';
import type { ShardTally } from '../matching/match-shard.ts';
import type { AudienceSnapshot } from '../model.ts';
import type { RandomWords } from '../ports.ts';
import type { ListSummary, MatchResult, SegmentResult, SuppressionReason } from '../result/result-schema.ts';
import { MatchResultSchema } from '../result/result-schema.ts';
import { createDiscreteLaplaceSampler, cryptoRandomWords, discreteLaplaceScale } from './noise.ts';
import { type PrivacySettings, resolveK, roundingBase } from './privacy-params.ts';

/** Float tolerance when comparing epsilons (budgets are sums of decimal fractions). */
const EPSILON_TOLERANCE = 1e-9;

export interface ApplyPrivacyInput {
  /** True counts of the whole list (shards reduced). */
  tally: ShardTally;
  /**
   * The snapshot the match read. When the store knows `maxSegmentsPerMember` (a bound over the
   * partner's whole base, independent of the list), the noise is scaled to it.
   */
  snapshot: AudienceSnapshot;
  listSummary: ListSummary;
  settings: PrivacySettings;
  /** k asked for by the request: may raise the deployment's k, never lower it. */
  requestedK?: number;
  /** Epsilon for this match: at most the deployment's epsilon per match (default: exactly it). */
  epsilon?: number;
  /** Budget left for this advertiser and partner, read from the ledger; required when noise is on. */
  budgetLeft?: number;
  /** Random source for the noise (default: the platform CSPRNG). */
  random?: RandomWords;
  /** Segments whose matched set differs from an earlier match by fewer than k people (rule 4). */
  differenceSuppressed?: ReadonlySet<string>;
  /** The matched total itself differs from an earlier match by fewer than k people (rule 4). */
  totalDifferenceSuppressed?: boolean;
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
 * Segments one person can count in, plus one for the matched total. The partner-side bound is
 * preferred: the observed maximum depends on the list itself, so it is only a fallback for stores
 * that cannot provide the bound. Never below 1 segment.
 */
export function noiseSensitivity(
  tally: Pick<ShardTally, 'maxSegmentsPerPerson'>,
  snapshot: { readonly maxSegmentsPerMember?: number },
): number {
  const perPerson = Math.max(1, snapshot.maxSegmentsPerMember ?? 0, tally.maxSegmentsPerPerson);
  return perPerson + 1;
}

/** Round half up to the nearest multiple of base. */
function roundTo(value: number, base: number): number {
  return base === 1 ? value : Math.floor(value / base + 0.5) * base;
}

interface Released {
  value: number | null;
  reason?: SuppressionReason;
}

export function applyPrivacy(input: ApplyPrivacyInput): MatchResult {
  const { tally, snapshot, listSummary, settings } = input;
  const k = resolveK(settings.minSegmentSize, input.requestedK);
  assertListSize(listSummary, settings.minListSize);

  const noiseOn = settings.noise.enabled;
  const sensitivity = noiseSensitivity(tally, snapshot);
  let epsilon = 0;
  let budget: MatchResult['privacy']['budget'] = null;
  let noise: () => number = () => 0;
  if (noiseOn) {
    epsilon = input.epsilon ?? settings.noise.epsilonPerMatch;
    if (
      !(Number.isFinite(epsilon) && epsilon > 0) ||
      epsilon > settings.noise.epsilonPerMatch + EPSILON_TOLERANCE
    ) {
      throw new DomainError(
        'invalid-epsilon',
        `Epsilon must be positive and at most this deployment's ${settings.noise.epsilonPerMatch} per match.`,
      );
    }
    const left = input.budgetLeft;
    if (left === undefined || !Number.isFinite(left)) {
      throw new DomainError('privacy-budget-unknown', 'The privacy budget left was not provided.');
    }
    if (epsilon > left + EPSILON_TOLERANCE) {
      throw new DomainError(
        'privacy-budget-exhausted',
        `The privacy budget for this partner has ${round(Math.max(0, left), 6)} epsilon left; a match needs ${epsilon}.`,
      );
    }
    budget = { epsilonSpent: epsilon, epsilonLeft: round(Math.max(0, left - epsilon), 9) };
    const sampler = createDiscreteLaplaceSampler(
      discreteLaplaceScale(sensitivity, epsilon),
      input.random ?? cryptoRandomWords,
    );
    noise = () => sampler.sample();
  }

  const base = roundingBase(settings.rounding);
  // Noise is drawn for every count, released or not, in a fixed order (total, then catalog order).
  const release = (trueCount: number): Released => {
    const noisy = Math.max(0, trueCount + noise());
    if (noisy < k) return { value: null, reason: 'below-k' };
    const rounded = roundTo(noisy, base);
    if (rounded < k) return { value: null, reason: 'rounding-edge' };
    return { value: rounded };
  };

  // The difference check decides first, whatever the count: had it applied only to counts that
  // passed k, "below-k" against "difference-check" would tell whether the victim is in a segment.
  const differenceHit =
    Boolean(input.totalDifferenceSuppressed) || (input.differenceSuppressed?.size ?? 0) > 0;
  const total = release(tally.matched);
  if (differenceHit) {
    total.value = null;
    total.reason = 'difference-check';
  }
  const perSegment = snapshot.segments.map((segment) => {
    const released = release(tally.perSegment[segment.segmentId] ?? 0);
    if (input.differenceSuppressed?.has(segment.segmentId)) {
      return { segment, released: { value: null, reason: 'difference-check' } satisfies Released };
    }
    return { segment, released };
  });

  // Rule 3: with segments suppressed, total - sum(released) bounds what they hold together. When
  // that remainder is in [0, k) it would reveal a count under k, so the total is withheld; when it
  // is clearly negative (overlapping segments) the bound says nothing. Rounding blurs each released
  // value by up to half a step, so the window widens by that much per value on both sides.
  if (total.value !== null && perSegment.some((s) => s.released.value === null)) {
    const released = perSegment.filter((s) => s.released.value !== null);
    const releasedSum = released.reduce((sum, s) => sum + (s.released.value ?? 0), 0);
    const remainder = total.value - releasedSum;
    const slack = base === 1 ? 0 : Math.ceil(base / 2) * (released.length + 1);
    if (remainder >= -slack && remainder < k + slack) {
      total.value = null;
      total.reason = 'derived-count';
    }
  }

  const matchedTotal = total.value;
  const segments: SegmentResult[] = perSegment.map(({ segment, released }) => {
    const matched = released.value;
    let share: number | null = null;
    let affinity: number | null = null;
    // Shares and affinities are ratios to the total: they reveal it, so they exist only with it.
    if (matched !== null && matchedTotal !== null && matchedTotal > 0) {
      const rawShare = matched / matchedTotal;
      share = round(Math.min(1, rawShare), 4);
      if (segment.size > 0 && snapshot.baseSize > 0) {
        affinity = Math.round((rawShare / (segment.size / snapshot.baseSize)) * 100);
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
    },
    matched: matchedTotal,
    segments,
    privacy: {
      k,
      noise: { mechanism: noiseOn ? 'discrete-laplace' : 'none', epsilon, sensitivity },
      rounding: settings.rounding,
      budget,
    },
    partner: { partnerId: snapshot.partnerId, profile: snapshot.profile },
    generatedAt: (input.now ?? new Date()).toISOString(),
  };
  if (total.reason !== undefined) result.matchedSuppressedReason = total.reason;
  // The contract is checked on the way out: a Result that does not parse is never released.
  return MatchResultSchema.parse(result);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
