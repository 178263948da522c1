/**
 * What a match will cost, said before any work, and a warning when the budget runs low: an
 * advertiser should never learn that its month's budget is gone from a refused match.
 */
import type { ApiClient } from './api-client.ts';
import type { ResponseOf } from './typed-client.ts';

/** The budget as `GET /v1/partners/{id}/budget` answers it (typed from the API's schema). */
export type BudgetView = ResponseOf<'getBudget'>;

/** Matches left at or under this many get a warning. */
export const LOW_BUDGET_MATCHES = 3;

export function budgetNotice(partnerId: string, b: BudgetView): string[] {
  if (!b.noise || b.matchesLeft === null)
    return [`budget: noise is off on this stack (a test stack): no budget is spent`];
  const lines = [
    `budget ${b.period} against ${partnerId}: a match costs rho ${b.rhoPerMatch}; ${b.advertiser.left} of ${b.advertiser.allowance + b.advertiser.granted} left (${b.matchesLeft} matches, partner-wide ${b.partnerLeft} left), renews ${b.renewsAt.slice(0, 10)}`,
  ];
  if (b.matchesLeft === 0)
    lines.push(`warning: no match is left this period; re-running a list already matched is free (a replay)`);
  else if (b.matchesLeft <= LOW_BUDGET_MATCHES)
    lines.push(
      `warning: the privacy budget is running low: ${b.matchesLeft} match${b.matchesLeft === 1 ? '' : 'es'} left until ${b.renewsAt.slice(0, 10)}`,
    );
  return lines;
}

/**
 * Reads the budget and writes the notice to `write` (stderr in the CLI); never fails the match.
 * `warningsOnly` (stderr is not a terminal: a script) keeps the cost line out of its output and
 * still says when the budget runs low.
 */
export async function announceBudget(
  client: ApiClient,
  partnerId: string,
  write: (line: string) => void,
  options: { warningsOnly?: boolean } = {},
): Promise<BudgetView | undefined> {
  try {
    const view = await client.call('getBudget', { params: { id: partnerId } });
    const lines = budgetNotice(partnerId, view);
    for (const line of options.warningsOnly ? lines.filter((l) => l.startsWith('warning:')) : lines)
      write(line);
    return view;
  } catch {
    return undefined;
  }
}
