/**
 * Replays: the same people matched again against the same partner versions get the earlier
 * release back, never new noise, so re-running a list cannot average the noise away. The replay is
 * post-processing of that release alone: a larger k suppresses more, a smaller k cannot bring back
 * what was suppressed, and no budget is spent. Whether a match is a replay depends only on the
 * advertiser's own list and on the catalog versions, never on the partner's people.
 */
import type { MatchResult, SegmentResult } from '../result/result-schema.ts';

export function reuseRelease(
  earlier: MatchResult,
  options: { k: number; now: Date; replayOf: string; budget: MatchResult['privacy']['budget'] },
): MatchResult {
  const effectiveK = Math.max(options.k, earlier.privacy.k);
  const segments: SegmentResult[] = earlier.segments.map((s) =>
    s.matched !== null && s.matched < effectiveK
      ? {
          segmentId: s.segmentId,
          name: s.name,
          matched: null,
          suppressed: true,
          reason: 'below-k',
          share: null,
          affinity: null,
        }
      : { ...s },
  );
  let matched = earlier.matched;
  let matchedSuppressedReason = earlier.matchedSuppressedReason;
  if (matched !== null && matched < effectiveK) {
    matched = null;
    matchedSuppressedReason = 'below-k';
  }
  const byKind = earlier.byKind?.map((row) =>
    row.matched !== null && row.matched < effectiveK
      ? { kind: row.kind, matched: null, suppressed: true, reason: 'below-k' as const, matchRate: null }
      : { ...row },
  );
  const withoutTotal = matched === null;
  return {
    ...earlier,
    matched,
    matchRate: withoutTotal ? null : earlier.matchRate,
    ...(matchedSuppressedReason ? { matchedSuppressedReason } : {}),
    segments: withoutTotal ? segments.map((s) => ({ ...s, share: null, affinity: null })) : segments,
    ...(byKind ? { byKind } : {}),
    privacy: {
      ...earlier.privacy,
      k: effectiveK,
      budget: options.budget ? { ...options.budget, rhoSpent: 0 } : null,
    },
    replayOf: options.replayOf,
    generatedAt: options.now.toISOString(),
  };
}
