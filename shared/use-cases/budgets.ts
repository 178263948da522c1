/**
 * Privacy budgets as the users see them: the cost of a match before it runs, the spend of a match
 * against both the advertiser's and the partner-wide account, what is left, and the operator's
 * audited grants. The arithmetic is in integer micro-rho (shared/domain/privacy/budget.ts).
 */
import { DomainError } from '../domain/errors.ts';
import type { Ledger } from '../domain/ports.ts';
import { type Principal, requireRole } from '../domain/principal.ts';
import {
  allowanceOf,
  type Budget,
  type BudgetAccount,
  type BudgetAccountKind,
  budgetExhaustedDetail,
  budgetLeft,
  fromMicro,
  periodEnd,
  periodOf,
  toMicro,
} from '../domain/privacy/budget.ts';
import type { PrivacySettings } from '../domain/privacy/privacy-params.ts';
import type { MatchResult } from '../domain/result/result-schema.ts';
import type { UseCaseContext } from './context.ts';

type BudgetDeps = { ledger: Ledger; settings: PrivacySettings; now(): Date };

export function accountOf(
  deps: Pick<BudgetDeps, 'settings' | 'now'>,
  kind: BudgetAccountKind,
  partnerId: string,
  advertiserId?: string,
): BudgetAccount {
  return {
    kind,
    partnerId,
    ...(kind === 'advertiser-partner' ? { advertiserId } : {}),
    period: periodOf(deps.now(), deps.settings.budgetPeriod),
  };
}

const readAccount = (deps: BudgetDeps, account: BudgetAccount) =>
  deps.ledger.budget(account, allowanceOf(account.kind, deps.settings));

/** Refuses before any work when either account cannot pay for one match (noise on only). */
export async function assertMatchAffordable(deps: BudgetDeps, advertiserId: string, partnerId: string) {
  if (deps.settings.unsafeNoiseOffForTests) return;
  const cost = toMicro(deps.settings.rhoPerMatch);
  for (const kind of ['advertiser-partner', 'partner'] as const) {
    const state = await readAccount(deps, accountOf(deps, kind, partnerId, advertiserId));
    if (budgetLeft(state) < cost) throw exhausted(deps, state, cost);
  }
}

function exhausted(deps: Pick<BudgetDeps, 'settings' | 'now'>, state: Budget, cost: number): DomainError {
  const renewsOn = periodEnd(deps.now(), deps.settings.budgetPeriod).toISOString().slice(0, 10);
  return new DomainError('privacy-budget-exhausted', budgetExhaustedDetail(state, cost, renewsOn));
}

/**
 * Spends one match's rho from the advertiser's account, then from the partner-wide one; if the
 * second refuses, the first is refunded (nothing was released). Idempotent per match. A crash
 * between the two leaves the advertiser charged and the partner not: the safe side.
 */
export async function spendForMatch(
  deps: BudgetDeps,
  advertiserId: string,
  partnerId: string,
  matchId: string,
): Promise<NonNullable<MatchResult['privacy']['budget']>> {
  const cost = toMicro(deps.settings.rhoPerMatch);
  const own = accountOf(deps, 'advertiser-partner', partnerId, advertiserId);
  const shared = accountOf(deps, 'partner', partnerId);
  const ownAfter = await deps.ledger.spend(own, matchId, cost, allowanceOf(own.kind, deps.settings));
  let sharedAfter: Budget;
  try {
    sharedAfter = await deps.ledger.spend(shared, matchId, cost, allowanceOf(shared.kind, deps.settings));
  } catch (error) {
    await deps.ledger.refund(own, matchId, cost);
    throw error;
  }
  return budgetBlock(deps, ownAfter, sharedAfter, cost);
}

/** The budget block of a Result: this period, what was spent, what is left in both accounts. */
export function budgetBlock(
  deps: Pick<BudgetDeps, 'settings' | 'now'>,
  own: Budget,
  shared: Budget,
  cost: number,
): NonNullable<MatchResult['privacy']['budget']> {
  return {
    period: own.account.period,
    renewsAt: periodEnd(deps.now(), deps.settings.budgetPeriod).toISOString(),
    rhoSpent: fromMicro(cost),
    advertiserLeft: fromMicro(budgetLeft(own)),
    advertiserAllowance: fromMicro(own.allowance + own.granted),
    partnerLeft: fromMicro(budgetLeft(shared)),
  };
}

/** The current budgets of an advertiser against a partner (for replays and the budget view). */
export async function currentBudgets(deps: BudgetDeps, advertiserId: string, partnerId: string) {
  const own = await readAccount(deps, accountOf(deps, 'advertiser-partner', partnerId, advertiserId));
  const shared = await readAccount(deps, accountOf(deps, 'partner', partnerId));
  return { own, shared };
}

/** GET /v1/partners/{id}/budget: the cost of a match before it runs, and what is left. */
export async function readBudget(ctx: UseCaseContext, principal: Principal, partnerId: string) {
  requireRole(principal, 'advertiser');
  const s = ctx.settings;
  const { own, shared } = await currentBudgets(ctx, principal.tenantId, partnerId);
  const cost = toMicro(s.rhoPerMatch);
  const noise = !s.unsafeNoiseOffForTests;
  const left = Math.min(budgetLeft(own), budgetLeft(shared));
  return {
    partnerId,
    noise,
    period: own.account.period,
    renewsAt: periodEnd(ctx.now(), s.budgetPeriod).toISOString(),
    rhoPerMatch: s.rhoPerMatch,
    advertiser: {
      allowance: fromMicro(own.allowance),
      granted: fromMicro(own.granted),
      spent: fromMicro(own.spent),
      left: fromMicro(budgetLeft(own)),
    },
    partnerLeft: fromMicro(budgetLeft(shared)),
    /** Matches this advertiser can still run against the partner this period. */
    matchesLeft: noise ? Math.floor(left / cost) : null,
  };
}

export interface GrantInput {
  partnerId: string;
  account: BudgetAccountKind;
  advertiserId?: string;
  rho: number;
  reason: string;
}

/**
 * POST /v1/admin/budgets/grants: the operator adds to one account's allowance for the current
 * period. Audited in the operator's trail and in the trail of the tenant it benefits. It widens
 * the guarantee for that period, which docs/privacy.md says how to account for.
 */
export async function grantBudget(ctx: UseCaseContext, principal: Principal, input: GrantInput) {
  requireRole(principal, 'admin');
  if (input.account === 'advertiser-partner' && !input.advertiserId) {
    throw new DomainError(
      'invalid-input',
      'A grant to an advertiser-partner account names the advertiserId.',
    );
  }
  if (input.account !== 'advertiser-partner' && input.advertiserId) {
    throw new DomainError('invalid-input', `A grant to the ${input.account} account takes no advertiserId.`);
  }
  const account = accountOf(ctx, input.account, input.partnerId, input.advertiserId);
  const grantId = ctx.newId();
  const amount = toMicro(input.rho);
  const after = await ctx.ledger.grant(account, grantId, amount, allowanceOf(account.kind, ctx.settings));
  const at = ctx.now().toISOString();
  const entry = {
    matchId: grantId,
    partnerId: input.partnerId,
    at,
    event: 'budget-granted' as const,
    k: ctx.settings.minSegmentSize,
    rhoSpent: input.rho,
    period: account.period,
    rhoLeft: fromMicro(budgetLeft(after)),
    noise: ctx.settings.unsafeNoiseOffForTests ? 'none' : 'discrete-gaussian',
    rounding: ctx.settings.rounding,
    suppressedSegments: 0,
    grant: {
      account: input.account,
      ...(input.advertiserId ? { advertiserId: input.advertiserId } : {}),
      by: principal.tenantId,
      reason: input.reason,
    },
  };
  await ctx.ledger.audit({ ...entry, tenantId: principal.tenantId });
  const beneficiary = input.advertiserId ?? input.partnerId;
  if (beneficiary !== principal.tenantId) await ctx.ledger.audit({ ...entry, tenantId: beneficiary });
  return {
    grantId,
    account: input.account,
    partnerId: input.partnerId,
    ...(input.advertiserId ? { advertiserId: input.advertiserId } : {}),
    period: account.period,
    granted: fromMicro(after.granted),
    left: fromMicro(budgetLeft(after)),
  };
}
