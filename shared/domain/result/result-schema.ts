/**
 * The Result: the only thing about people that ever leaves the service (PRODUCT.md "Result").
 * The schema is the contract of the JSON download and of `GET /v1/matches/{id}`.
 */
import { z } from 'zod';
import { RoundingSchema } from '../privacy/privacy-params.ts';

const count = z.number().int().nonnegative();

export const SUPPRESSION_REASONS = ['below-k', 'difference-check', 'derived-count', 'rounding-edge'] as const;
export const SuppressionReasonSchema = z.enum(SUPPRESSION_REASONS);
export type SuppressionReason = z.infer<typeof SuppressionReasonSchema>;

/** Totals of the advertiser's own list (its own data, released exactly). */
export const ListSummarySchema = z.object({
  rows: count,
  valid: count,
  invalid: count,
  invalidByReason: z.record(z.string(), count),
  duplicates: count,
  /** Distinct valid identifiers: what the minimum list size is checked against. */
  distinct: count,
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
  share: z.number().min(0).nullable(),
  /** Affinity index (share of matched over share of the partner base) x 100, rounded. */
  affinity: z.number().int().min(0).nullable(),
});
export type SegmentResult = z.infer<typeof SegmentResultSchema>;

export const PrivacyAppliedSchema = z.object({
  k: z.number().int().positive(),
  noise: z.object({
    mechanism: z.enum(['discrete-laplace', 'none']),
    /** Epsilon spent by this match (0 when noise is off). */
    epsilon: z.number().nonnegative(),
    /** L1 sensitivity the noise is scaled to: segments one person can count in, plus the total. */
    sensitivity: z.number().int().positive(),
  }),
  rounding: RoundingSchema,
  /** Budget of this advertiser and partner after this match; null when noise is off. */
  budget: z
    .object({ epsilonSpent: z.number().nonnegative(), epsilonLeft: z.number().nonnegative() })
    .nullable(),
});
export type PrivacyApplied = z.infer<typeof PrivacyAppliedSchema>;

export const MatchResultSchema = z.object({
  list: ListSummarySchema,
  /** Released matched total (people of the list in at least one segment); null when withheld. */
  matched: count.nullable(),
  matchedSuppressedReason: SuppressionReasonSchema.optional(),
  segments: z.array(SegmentResultSchema),
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
