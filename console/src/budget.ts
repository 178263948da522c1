/**
 * The privacy budget against a partner as `GET /v1/partners/{id}/budget` reports it: what a match
 * costs, what this advertiser has left this period, how many matches that is and when it renews.
 */
import type { BudgetView } from '../../cli/budget-notice.ts';

export interface BudgetCheck {
  text: string;
  exhausted: boolean;
}

export function budgetCheck(budget: BudgetView): BudgetCheck {
  if (!budget.noise || budget.matchesLeft === null)
    return { text: 'noise is off on this stack: no privacy budget is spent', exhausted: false };
  const renews = budget.renewsAt.slice(0, 10);
  const left = budget.advertiser.left.toLocaleString('en-US');
  const allowance = (budget.advertiser.allowance + budget.advertiser.granted).toLocaleString('en-US');
  return {
    text: `rho ${left} of ${allowance} left for ${budget.period} (${budget.matchesLeft} matches; a match spends ${budget.rhoPerMatch}), renews ${renews}`,
    exhausted: budget.matchesLeft === 0,
  };
}
