/**
 * The privacy budget against a partner as the API reports it, read generically: whatever the
 * mechanism (epsilon today, rho tomorrow), a `...Left` figure under a `...PerMatch` figure means the
 * next match would be refused.
 */
import { labelOf } from './format.ts';

export interface BudgetCheck {
  text: string;
  exhausted: boolean;
}

export function budgetCheck(budget: Record<string, unknown>): BudgetCheck {
  if (budget.noise === false) return { text: 'noise is off: no privacy budget is spent', exhausted: false };
  const entry = (suffix: RegExp) =>
    Object.entries(budget).find(([key, v]) => suffix.test(key) && typeof v === 'number') as
      | [string, number]
      | undefined;
  const left = entry(/left$/i);
  const perMatch = entry(/permatch$/i);
  const total = entry(/budget$/i);
  if (!left) return { text: 'budget unknown', exhausted: false };
  const exhausted = perMatch !== undefined && left[1] + 1e-9 < perMatch[1];
  const unit = labelOf(left[0]).toLowerCase();
  return {
    text: `${left[1].toLocaleString('en-US')} left${total ? ` of ${total[1].toLocaleString('en-US')}` : ''} (${unit})${perMatch ? `, a match spends ${perMatch[1].toLocaleString('en-US')}` : ''}`,
    exhausted,
  };
}
