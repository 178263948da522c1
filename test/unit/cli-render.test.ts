import { describe, expect, it } from 'vitest';
import {
  renderIngestReport,
  renderMatches,
  renderPartners,
  renderSegmentTable,
  renderTable,
} from '../../cli/render.ts';
import {
  AFFINITY_DEFINITION,
  reasonInWords,
  SHARE_DEFINITION,
} from '../../shared/domain/result/result-glossary.ts';
import type { MatchResult } from '../../shared/domain/result/result-schema.ts';

const result: MatchResult = {
  list: { rows: 2100, valid: 2000, invalid: 100, invalidByReason: {}, duplicates: 0, distinct: 2000 },
  matched: 700,
  matchRate: 0.2,
  segments: [
    {
      segmentId: 'auto',
      name: 'Auto intenders',
      matched: 400,
      suppressed: false,
      share: 0.5714,
      affinity: 97,
    },
    {
      segmentId: 'vinyl',
      name: 'Vinyl',
      matched: null,
      suppressed: true,
      reason: 'below-k',
      share: null,
      affinity: null,
    },
  ],
  privacy: {
    k: 50,
    noise: { mechanism: 'discrete-gaussian', rho: 0.01, sigma: 12.247, sensitivity2: 3 },
    rounding: 'none',
    budget: {
      period: '2025-01',
      renewsAt: '2025-02-01T00:00:00.000Z',
      rhoSpent: 0.01,
      advertiserLeft: 0.39,
      advertiserAllowance: 0.4,
      partnerLeft: 0.99,
    },
  },
  partner: { partnerId: 'northwind-data', profile: 'google' },
  generatedAt: '2025-01-02T03:04:05.000Z',
};

describe('renderTable', () => {
  it('starts with a header and a rule, aligns numbers right', () => {
    const lines = renderTable(
      ['name', 'n'],
      [
        ['a', '1'],
        ['bbb', '1,000'],
      ],
      [1],
    ).split('\n');
    expect(lines).toEqual(['name      n', '----  -----', 'a         1', 'bbb   1,000']);
  });
});

describe('renderSegmentTable', () => {
  const text = renderSegmentTable(result);
  const lines = text.split('\n');

  it('has a header, one row per segment, the withheld reason code in its own column', () => {
    expect(lines[0]).toMatch(/^segment\s+matched\s+share\s+affinity\s+withheld$/);
    expect(lines[2]).toMatch(/^Auto intenders\s+400\s+57\.1 %\s+97$/);
    expect(lines[3]).toMatch(/^Vinyl\s+—\s+—\s+—\s+below-k$/);
    expect(text).toContain("matched 700 of the list's 2,000 distinct people");
  });

  it('explains every withheld value in plain words and defines share and affinity', () => {
    expect(lines).toContain(`withheld, below-k: ${reasonInWords('below-k', 50)}.`);
    expect(lines).toContain(SHARE_DEFINITION);
    expect(lines).toContain(AFFINITY_DEFINITION);
    expect(lines.slice(-2)).toEqual([
      'privacy: k = 50, discrete Gaussian noise (sigma 12.247), rho 0.01, rounding none',
      'budget 2025-01: spent rho 0.01, 0.39 of 0.4 left against this partner (renews 2025-02-01)',
    ]);
    expect(text).not.toContain('replay');
  });

  it('explains a withheld total, and the share and affinity it takes with it', () => {
    const withoutTotal = renderSegmentTable({
      ...result,
      matched: null,
      matchedSuppressedReason: 'below-k',
      segments: result.segments.map((s) => ({ ...s, share: null, affinity: null })),
    });
    expect(withoutTotal).toContain('matched total withheld (below-k); the list has 2,000 distinct people');
    expect(withoutTotal).toMatch(/^Auto intenders\s+400\s+—\s+—\s+total-withheld$/m);
    expect(withoutTotal).toContain(`withheld, below-k: ${reasonInWords('below-k', 50)}.`);
    expect(withoutTotal).toContain(`withheld, total-withheld: ${reasonInWords('total-withheld', 50)}.`);
  });

  it('announces a replay: which match it repeats, no new noise, no budget spent', () => {
    const replay = renderSegmentTable({ ...result, replayOf: '0abc-earlier' });
    expect(replay).toContain('replay of match 0abc-earlier');
    expect(replay).toContain('no budget spent');
    expect(replay).not.toContain('budget left');
    expect(replay).toContain('as released by 0abc-earlier');
  });
});

describe('lists', () => {
  it('the partner catalog has a header, the kinds, profile, base size, sizes and descriptions', () => {
    const lines = renderPartners([
      {
        partnerId: 'northwind-data',
        profile: 'google',
        kinds: ['email', 'phone'],
        baseSize: 150_000,
        segments: [
          { segmentId: 'auto', name: 'Auto', description: 'in market', kinds: ['email'], size: 36000 },
          { segmentId: 'tiny', name: 'Tiny', description: '', kinds: ['email'], size: null },
        ],
      },
      { partnerId: 'contoso-media', profile: 'basic', kinds: [], baseSize: null, segments: [] },
    ]).split('\n');
    expect(lines[0]).toMatch(/^partner\s+profile\s+kinds\s+segment\s+name\s+people\s+description$/);
    // Published sizes are noisy and rounded: shown as approximate; none under k.
    expect(lines[2]).toMatch(/^northwind-data\s+google\s+email\+phone\s+\(all segments\)\s+~150,000$/);
    expect(lines[3]).toMatch(/^\s+email\s+auto\s+Auto\s+~36,000\s+in market$/);
    expect(lines[4]).toMatch(/^\s+email\s+tiny\s+Tiny\s+—$/);
    expect(lines[5]).toMatch(/^contoso-media\s+basic\s+\(all segments\)\s+—$/);
  });

  it('the match list has a header', () => {
    const lines = renderMatches([
      {
        matchId: 'm2',
        status: 'FAILED',
        partnerId: 'p',
        createdAt: '2025-01-02T03:04:05.000Z',
        code: 'list-too-small',
      },
    ]).split('\n');
    expect(lines[0]).toMatch(/^match\s+status\s+partner\s+created\s+error$/);
    expect(lines[2]).toMatch(/^m2\s+FAILED\s+p\s+2025-01-02T03:04:05.000Z\s+list-too-small$/);
  });

  it('the ingest report lists its segments under a header', () => {
    const text = renderIngestReport({
      audienceId: 'a1',
      status: 'SUCCEEDED',
      report: {
        rowsRead: 3,
        accepted: 3,
        rejected: 0,
        duplicates: 0,
        rejectedByRule: {},
        segments: [{ segmentId: 'auto', members: 3 }],
      },
    });
    expect(text).toMatch(/^segment\s+members$/m);
    expect(text).toMatch(/^auto\s+3$/m);
  });
});
