import { describe, expect, it } from 'vitest';
import { type BudgetView, budgetNotice } from '../../cli/budget-notice.ts';

const view = (matchesLeft: number, left: number): BudgetView => ({
  partnerId: 'p1',
  noise: true,
  period: '2026-11',
  renewsAt: '2026-12-01T00:00:00.000Z',
  rhoPerMatch: 0.01,
  advertiser: { allowance: 0.4, granted: 0, spent: 0.4 - left, left },
  partnerLeft: 0.9,
  matchesLeft,
});

describe('the budget notice of onboard match', () => {
  it('says what a match costs, what is left and when it renews, before any work', () => {
    expect(budgetNotice('p1', view(39, 0.39))).toEqual([
      'budget 2026-11 against p1: a match costs rho 0.01; 0.39 of 0.4 left (39 matches, partner-wide 0.9 left), renews 2026-12-01',
    ]);
  });

  it('warns when three matches or fewer are left, and says replays are free when none is', () => {
    expect(budgetNotice('p1', view(3, 0.03))[1]).toBe(
      'warning: the privacy budget is running low: 3 matches left until 2026-12-01',
    );
    expect(budgetNotice('p1', view(1, 0.01))[1]).toContain('1 match left');
    expect(budgetNotice('p1', view(0, 0))[1]).toContain('no match is left this period');
    expect(budgetNotice('p1', view(4, 0.04))).toHaveLength(1);
  });
});
