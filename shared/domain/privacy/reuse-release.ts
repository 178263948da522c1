/**
 * A list matched again against the same partner data may not learn anything the first release
 * did not: two releases of the same true counts under different k would let one be subtracted from
 * the other (a segment suppressed at one k, the total released at the other). So a re-run is
 * built from the earlier released result alone: a larger k suppresses more, a smaller k cannot
 * bring back what was suppressed. No new noise is drawn and no budget is spent.
 */
import type { MatchResult, SegmentResult } from '../result/result-schema.ts';

export function reuseRelease(earlier: MatchResult, k: number, now: Date): MatchResult {
  const effectiveK = Math.max(k, earlier.privacy.k);
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
  // The derived-count rule again, over what this release shows.
  if (matched !== null && segments.some((s) => s.matched === null)) {
    const remainder = matched - segments.reduce((sum, s) => sum + (s.matched ?? 0), 0);
    if (remainder >= 0 && remainder < effectiveK) {
      matched = null;
      matchedSuppressedReason = 'derived-count';
    }
  }
  const withoutTotal = matched === null;
  return {
    ...earlier,
    matched,
    ...(matchedSuppressedReason ? { matchedSuppressedReason } : {}),
    segments: withoutTotal ? segments.map((s) => ({ ...s, share: null, affinity: null })) : segments,
    privacy: { ...earlier.privacy, k: effectiveK },
    generatedAt: now.toISOString(),
  };
}
