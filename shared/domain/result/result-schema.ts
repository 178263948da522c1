/**
 * The Result: the only thing about people that ever leaves the service.
 * The schema is the contract of the JSON download and of `GET /v1/matches/{id}`.
 */
import { z } from 'zod';
import { RoundingSchema } from '../privacy/privacy-params.ts';
import { AFFINITY_DEFINITION, SHARE_DEFINITION } from './result-glossary.ts';

const count = z.number().int().nonnegative();

/**
 * Why a value is withheld. Both are decided on noisy values only: `below-k` when the noisy count is
 * under k, `rounding-edge` when rounding the noisy count would take it under k.
 */
export const SUPPRESSION_REASONS = ['below-k', 'rounding-edge'] as const;
export const SuppressionReasonSchema = z.enum(SUPPRESSION_REASONS);
export type SuppressionReason = z.infer<typeof SuppressionReasonSchema>;

/** Totals of the advertiser's own list (its own data, released exactly). */
export const ListSummarySchema = z.object({
  rows: count,
  valid: count,
  invalid: count,
  invalidByReason: z.record(z.string(), count),
  duplicates: count,
  /** Distinct list people (by primary identifier): what the minimum list size is checked against. */
  distinct: count,
  /** Distinct list people holding an identifier of each kind (the denominators of the per-kind rates). */
  byKind: z.record(z.string(), count).optional(),
});
export type ListSummary = z.infer<typeof ListSummarySchema>;

export const SegmentResultSchema = z.object({
  segmentId: z.string(),
  name: z.string(),
  /** Released (noisy, rounded) count; null when suppressed. */
  matched: count.nullable(),
  suppressed: z.boolean(),
  reason: SuppressionReasonSchema.optional(),
  /** matched / matched total; null when either is withheld. */
  share: z.number().min(0).nullable().describe(SHARE_DEFINITION),
  /** Affinity index (share of matched over share of the partner base) x 100, rounded. */
  affinity: z.number().int().min(0).nullable().describe(AFFINITY_DEFINITION),
});
export type SegmentResult = z.infer<typeof SegmentResultSchema>;

/** Partner people matched through one identifier kind (released under the same rules as a segment). */
export const KindResultSchema = z.object({
  kind: z.enum(['email', 'phone']),
  /** Released (noisy, rounded) count of partner people hit through an identifier of this kind. */
  matched: count.nullable(),
  suppressed: z.boolean(),
  reason: SuppressionReasonSchema.optional(),
  /** matched over the list people holding an identifier of this kind; null when withheld. */
  matchRate: z.number().min(0).max(1).nullable(),
});
export type KindResult = z.infer<typeof KindResultSchema>;

export const PrivacyAppliedSchema = z.object({
  k: z.number().int().positive(),
  noise: z.object({
    /** `none` only on test stacks run with the unsafe setting: no guarantee then. */
    mechanism: z.enum(['discrete-gaussian', 'none']),
    /** zCDP rho this match spent (0 when replayed or noise is off). */
    rho: z.number().nonnegative(),
    /** Standard deviation parameter of the discrete Gaussian (0 when noise is off). */
    sigma: z.number().nonnegative(),
    /** Squared L2 sensitivity: the released counts one partner person can move by 1. */
    sensitivity2: z.number().int().positive(),
  }),
  rounding: RoundingSchema,
  /** Budgets after this match; null when noise is off. */
  budget: z
    .object({
      /** The period the spend was charged to, e.g. `2026-11`. */
      period: z.string(),
      /** When the period ends and budgets renew (UTC). */
      renewsAt: z.iso.datetime(),
      rhoSpent: z.number().nonnegative(),
      /** This advertiser's budget against this partner, left in the period. */
      advertiserLeft: z.number().nonnegative(),
      advertiserAllowance: z.number().nonnegative(),
      /** The partner-wide budget (all advertisers), left in the period. */
      partnerLeft: z.number().nonnegative(),
    })
    .nullable(),
});
export type PrivacyApplied = z.infer<typeof PrivacyAppliedSchema>;

export const MatchResultSchema = z.object({
  list: ListSummarySchema,
  /** Released matched total (people of the list in at least one segment); null when withheld. */
  matched: count.nullable(),
  matchedSuppressedReason: SuppressionReasonSchema.optional(),
  /** Released matched total over the list's distinct valid identifiers; null when the total is withheld. */
  matchRate: z
    .number()
    .min(0)
    .max(1)
    .nullable()
    .describe(
      "match rate: the released matched total over the list's distinct valid identifiers; null when the total is withheld.",
    ),
  segments: z.array(SegmentResultSchema),
  /** Per identifier kind of the catalog; absent from results released before kinds existed. */
  byKind: z.array(KindResultSchema).optional(),
  privacy: PrivacyAppliedSchema,
  partner: z.object({ partnerId: z.string(), profile: z.enum(['basic', 'google', 'uid2']) }),
  generatedAt: z.iso.datetime(),
  /**
   * Set on a replay (the same list against the same partner data again): the match whose release
   * this one repeats. A replay draws no new noise and spends no budget.
   */
  replayOf: z.string().optional(),
});
export type MatchResult = z.infer<typeof MatchResultSchema>;
