import { describe, expect, it } from 'vitest';
import {
  AFFINITY_DEFINITION,
  reasonInWords,
  SHARE_DEFINITION,
  WORDED_REASONS,
  withheldOf,
} from '../../shared/domain/result/result-glossary.ts';
import { type MatchResult, SUPPRESSION_REASONS } from '../../shared/domain/result/result-schema.ts';

const result: MatchResult = {
  list: { rows: 2000, valid: 2000, invalid: 0, invalidByReason: {}, duplicates: 0, distinct: 2000 },
  matched: 300,
  matchRate: 0.2,
  segments: [
    { segmentId: 'a', name: 'A', matched: 200, suppressed: false, share: 0.6667, affinity: 130 },
    {
      segmentId: 'b',
      name: 'B',
      matched: null,
      suppressed: true,
      reason: 'rounding-edge',
      share: null,
      affinity: null,
    },
    { segmentId: 'c', name: 'C', matched: 90, suppressed: false, share: 0.3, affinity: null },
  ],
  privacy: {
    k: 80,
    noise: { mechanism: 'none', rho: 0, sigma: 0, sensitivity2: 4 },
    rounding: 'none',
    budget: null,
  },
  partner: { partnerId: 'p', profile: 'basic' },
  generatedAt: '2025-01-02T03:04:05.000Z',
};

describe('the result glossary', () => {
  it('has words, naming k, for every suppression reason the Result can carry', () => {
    for (const reason of SUPPRESSION_REASONS) {
      expect(WORDED_REASONS).toContain(reason);
      const words = reasonInWords(reason, 80);
      expect(words).not.toContain(reason);
      expect(words).toMatch(/k = 80|total/);
    }
  });

  it('falls back to the code for a reason it does not know, never to nothing', () => {
    expect(reasonInWords('something-new', 50)).toBe('withheld by the privacy rules (something-new)');
  });

  it('defines share and affinity in plain words', () => {
    expect(SHARE_DEFINITION).toMatch(/^share: .*matched people/);
    expect(AFFINITY_DEFINITION).toMatch(/^affinity: .*100 = as common/);
  });

  it('says what a segment withholds and why', () => {
    const [a, b, c] = result.segments as [
      MatchResult['segments'][number],
      MatchResult['segments'][number],
      MatchResult['segments'][number],
    ];
    expect(withheldOf(a, result)).toBeUndefined();
    expect(withheldOf(b, result)).toEqual({
      values: 'matched share affinity',
      reason: 'rounding-edge',
      words: reasonInWords('rounding-edge', 80),
    });
    expect(withheldOf(c, result)).toMatchObject({ values: 'affinity', reason: 'base-size-unknown' });
    const withoutTotal: MatchResult = {
      ...result,
      matched: null,
      matchedSuppressedReason: 'below-k',
      segments: result.segments.map((s) => ({ ...s, share: null, affinity: null })),
    };
    const shareless = withheldOf(withoutTotal.segments[0] as MatchResult['segments'][number], withoutTotal);
    expect(shareless).toMatchObject({ values: 'share affinity', reason: 'total-withheld' });
    expect(shareless?.words).toContain(reasonInWords('below-k', 80));
  });
});
