/**
 * The Result in plain words, in one place: what share and affinity mean, and why a value is
 * withheld. The CLI's footnotes, the CSV's `reason_text` column and the README say the same thing
 * because they all read it from here.
 */
import type { MatchResult, SegmentResult } from './result-schema.ts';

export const SHARE_DEFINITION =
  'share: the part of all matched people (people of your list found in at least one segment) who are in the segment; segments overlap, so shares can add up to more than 100 %.';

export const AFFINITY_DEFINITION =
  "affinity: how common the segment is among your matched people compared with the partner's whole base, x 100: 100 = as common, 200 = twice as common, 50 = half as common.";

/**
 * Why a value is withheld, by reason code (the codes of the JSON and of the CSV's `reason`
 * column). Keyed by string, not by the schema's enum, so reasons can come and go with the privacy
 * rules; a unit test checks that every code the schema can carry has its words here.
 */
const REASON_WORDS: Readonly<Record<string, (k: number) => string>> = {
  'below-k': (k) => `fewer than k = ${k} people after noise: a count this small could single people out`,
  'rounding-edge': (k) => `rounded to the release step, it would fall under k = ${k}`,
  'total-withheld': () => 'share and affinity are ratios to the matched total, which is withheld',
  'base-size-unknown': () =>
    "the partner's catalog publishes no size for this segment or its base (under k, or its catalog budget was spent), so affinity cannot be computed",
};

/** The reason codes that have words. */
export const WORDED_REASONS: readonly string[] = Object.keys(REASON_WORDS);

/** Why a value was withheld, in words. */
export function reasonInWords(reason: string, k: number): string {
  const words = REASON_WORDS[reason];
  return words ? words(k) : `withheld by the privacy rules (${reason})`;
}

/** What a segment row withholds, and why (code and words); undefined when it shows every value. */
export interface Withheld {
  /** The withheld columns: `matched share affinity`, `share affinity` or `affinity`. */
  values: string;
  reason: string;
  words: string;
}

export function withheldOf(segment: SegmentResult, result: MatchResult): Withheld | undefined {
  const k = result.privacy.k;
  if (segment.matched === null) {
    const reason = segment.reason ?? 'below-k';
    return { values: 'matched share affinity', reason, words: reasonInWords(reason, k) };
  }
  if (segment.share === null && result.matched === null) {
    const total = result.matchedSuppressedReason ?? 'below-k';
    return {
      values: 'share affinity',
      reason: 'total-withheld',
      words: `${reasonInWords('total-withheld', k)} (${reasonInWords(total, k)})`,
    };
  }
  if (segment.share === null) {
    return { values: 'share affinity', reason: 'total-withheld', words: reasonInWords('total-withheld', k) };
  }
  if (segment.affinity === null) {
    return { values: 'affinity', reason: 'base-size-unknown', words: reasonInWords('base-size-unknown', k) };
  }
  return undefined;
}
