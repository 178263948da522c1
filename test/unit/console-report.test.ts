import { describe, expect, it } from 'vitest';
import type { BudgetView } from '../../cli/budget-notice.ts';
import { budgetCheck } from '../../console/src/budget.ts';
import { identityOf } from '../../console/src/identity.ts';
import { renderMatchReport } from '../../console/src/match-report.ts';
import { reasonInWords } from '../../console/src/reasons.ts';
import type { MatchView, ReleasedResult } from '../../console/src/released-result.ts';
import { budgetLeft, otherFigures, privacyEntries } from '../../console/src/released-result.ts';

const budget: BudgetView = {
  partnerId: 'p1',
  noise: true,
  period: '2026-11',
  renewsAt: '2026-12-01T00:00:00.000Z',
  rhoPerMatch: 0.01,
  advertiser: { allowance: 0.4, granted: 0, spent: 0.01, left: 0.39 },
  partnerLeft: 0.99,
  matchesLeft: 39,
};

const result: ReleasedResult = {
  list: {
    rows: 1200,
    valid: 1100,
    invalid: 100,
    invalidByReason: { 'no-at-sign': 100 },
    duplicates: 10,
    distinct: 1090,
  },
  matched: 640,
  segments: [
    {
      segmentId: 'a',
      name: 'Auto <b>intenders</b>',
      matched: 420,
      suppressed: false,
      share: 0.656,
      affinity: 131,
    },
    {
      segmentId: 'b',
      name: 'Sailing',
      matched: null,
      suppressed: true,
      reason: 'below-k',
      share: null,
      affinity: null,
    },
  ],
  // A privacy block of another shape (zCDP), and a figure the console has no place for.
  privacy: { k: 50, mechanism: 'discrete-gaussian', rho: 0.05, budget: { rhoSpent: 0.05, rhoLeft: 0.45 } },
  partner: { partnerId: 'northwind-data', profile: 'google' },
  generatedAt: '2026-11-30T10:00:00.000Z',
  matchRate: 0.587,
};
const match = {
  matchId: 'm1',
  listId: 'l1',
  partnerId: 'northwind-data',
  status: 'SUCCEEDED',
  minSegmentSize: 50,
  progress: { phase: 'done', percent: 100, shardsDone: 4, shardsTotal: 4 },
  createdAt: '2026-11-30T10:00:00.000Z',
  updatedAt: '2026-11-30T10:00:00.000Z',
  result,
} satisfies MatchView & { result: ReleasedResult };

describe('console: the forwardable report', () => {
  const html = renderMatchReport(match);

  it('is self-contained: no script, no outside resource, a CSP forbidding both', () => {
    expect(html).not.toMatch(/<script|\s(src|href)=/i);
    expect(html).toContain("default-src 'none'");
  });

  it('escapes names, shows suppressions in words, and renders unknown privacy fields and figures', () => {
    expect(html).toContain('Auto &lt;b&gt;intenders&lt;/b&gt;');
    expect(html).not.toContain('<b>intenders');
    expect(html).toContain('suppressed: fewer people than the minimum segment size (k)');
    expect(html).toContain('discrete-gaussian');
    expect(html).toContain('Budget rho left');
    expect(html).toContain('58.7 %');
    expect(html).toContain('640 of 1,090 distinct');
  });

  it('says why a withheld total is withheld', () => {
    const withheld = renderMatchReport({
      ...match,
      result: { ...result, matched: null, matchedSuppressedReason: 'below-k' },
    });
    expect(withheld).toContain('withheld: fewer people than the minimum segment size (k)');
  });
});

describe('console: generic readers', () => {
  it('words every reason, known or new', () => {
    expect(reasonInWords('rounding-edge')).toContain('rounds to a value under');
    expect(reasonInWords('some-new-reason')).toBe('some new reason');
    expect(reasonInWords('constructor')).toBe('constructor');
  });

  it('flattens any privacy block and finds the budget left', () => {
    expect(privacyEntries(result.privacy)).toContainEqual({ label: 'Budget rho spent', value: '0.05' });
    expect(budgetLeft(result.privacy)).toBe('0.45 (rho left)');
    expect(otherFigures(result)).toEqual([{ label: 'Match rate', value: '58.7 %' }]);
  });

  it('tells an exhausted budget, whatever its unit', () => {
    expect(
      budgetCheck({
        ...budget,
        advertiser: { allowance: 0.4, granted: 0, spent: 0.4, left: 0 },
        matchesLeft: 0,
      }).exhausted,
    ).toBe(true);
    expect(budgetCheck(budget)).toEqual({
      text: 'rho 0.39 of 0.4 left for 2026-11 (39 matches; a match spends 0.01), renews 2026-12-01',
      exhausted: false,
    });
    expect(budgetCheck({ ...budget, noise: false, matchesLeft: null }).exhausted).toBe(false);
  });

  it('reads the signed-in tenant from dev tokens and Cognito ID tokens only', () => {
    expect(identityOf(`dev_partner_contoso-media_${'ab'.repeat(12)}`)).toEqual({
      tenantId: 'contoso-media',
      role: 'partner',
    });
    const payload = Buffer.from(
      JSON.stringify({ 'custom:tenant_id': 'acme-retail', 'custom:role': 'advertiser' }),
    ).toString('base64url');
    expect(identityOf(`e30.${payload}.sig`)).toEqual({ tenantId: 'acme-retail', role: 'advertiser' });
    expect(identityOf('nonsense')).toBeUndefined();
  });
});
