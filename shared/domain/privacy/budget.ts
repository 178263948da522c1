/**
 * Privacy budgets (rule 5): zCDP rho in exact integer micro-units, accounts renewed per period,
 * and the (epsilon, delta) a rho amounts to.
 *
 * Three accounts hold against a partner's people in each period:
 * - `advertiser-partner`: what one advertiser may spend against one partner;
 * - `partner`: what all advertisers together may spend against it (so extra tenants buy nothing);
 * - `catalog`: what the partner's published catalog sizes may spend.
 * zCDP composes by addition, so one person of the partner's data is protected per period by
 * rho = partner allowance + catalog allowance (+ operator grants), whatever the number of tenants.
 */
import type { BudgetPeriod, PrivacySettings } from './privacy-params.ts';

/** One rho is a million micro-rho: budgets are added and compared in integers, never floats. */
export const MICRO_PER_RHO = 1_000_000;

export type MicroRho = number;

export function toMicro(rho: number): MicroRho {
  return Math.round(rho * MICRO_PER_RHO);
}

export function fromMicro(micro: MicroRho): number {
  return micro / MICRO_PER_RHO;
}

export type BudgetAccountKind = 'advertiser-partner' | 'partner' | 'catalog';

export interface BudgetAccount {
  kind: BudgetAccountKind;
  partnerId: string;
  /** For `advertiser-partner` accounts only. */
  advertiserId?: string;
  /** The period the account covers, e.g. `2026-11` (month), `2026-W48`, `2026-Q4`, `2026-11-30`. */
  period: string;
}

/** An account's state in one period, in micro-rho. */
export interface Budget {
  account: BudgetAccount;
  /** The deployment's allowance for the period, fixed when the account is first used. */
  allowance: MicroRho;
  /** Added by the operator through the audited grant route. */
  granted: MicroRho;
  spent: MicroRho;
}

export function budgetLeft(budget: Budget): MicroRho {
  return Math.max(0, budget.allowance + budget.granted - budget.spent);
}

const ACCOUNT_IN_WORDS: Readonly<Record<BudgetAccountKind, string>> = {
  'advertiser-partner': 'Your privacy budget against this partner',
  partner: "This partner's privacy budget across all advertisers",
  catalog: "This partner's catalog budget",
};

/** Why a spend of `cost` was refused, in words (no personal data: an account, a period, amounts). */
export function budgetExhaustedDetail(state: Budget, cost: MicroRho, renewsOn?: string): string {
  return `${ACCOUNT_IN_WORDS[state.account.kind]} is spent for ${state.account.period}: rho ${fromMicro(budgetLeft(state))} left of ${fromMicro(state.allowance + state.granted)}, and this needs ${fromMicro(cost)}. It renews ${renewsOn ? `on ${renewsOn}` : 'with the next period'}; only the operator can grant more before then.`;
}

/** The deployment's allowance of an account kind, per period. */
export function allowanceOf(kind: BudgetAccountKind, settings: PrivacySettings): MicroRho {
  switch (kind) {
    case 'advertiser-partner':
      return toMicro(settings.rhoPerAdvertiserPartner);
    case 'partner':
      return toMicro(settings.rhoPerPartner);
    case 'catalog':
      return toMicro(settings.rhoCatalogPerPartner);
  }
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The period (UTC) a moment falls in. Weeks are ISO weeks. */
export function periodOf(at: Date, period: BudgetPeriod): string {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth() + 1;
  switch (period) {
    case 'day':
      return `${y}-${pad(m)}-${pad(at.getUTCDate())}`;
    case 'month':
      return `${y}-${pad(m)}`;
    case 'quarter':
      return `${y}-Q${Math.floor((m - 1) / 3) + 1}`;
    case 'week': {
      // ISO week: the week with the year's first Thursday is week 1.
      const d = new Date(Date.UTC(y, at.getUTCMonth(), at.getUTCDate()));
      const day = d.getUTCDay() || 7;
      d.setUTCDate(d.getUTCDate() + 4 - day);
      const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
      const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
      return `${d.getUTCFullYear()}-W${pad(week)}`;
    }
  }
}

/** When the period a moment falls in ends (UTC): the budgets renew then. */
export function periodEnd(at: Date, period: BudgetPeriod): Date {
  const y = at.getUTCFullYear();
  const mo = at.getUTCMonth();
  switch (period) {
    case 'day':
      return new Date(Date.UTC(y, mo, at.getUTCDate() + 1));
    case 'month':
      return new Date(Date.UTC(y, mo + 1, 1));
    case 'quarter':
      return new Date(Date.UTC(y, Math.floor(mo / 3) * 3 + 3, 1));
    case 'week': {
      const day = at.getUTCDay() || 7;
      return new Date(Date.UTC(y, mo, at.getUTCDate() + 8 - day));
    }
  }
}

/**
 * The epsilon of (epsilon, delta)-DP that rho-zCDP implies, by the conversion of Canonne, Kamath and
 * Steinke (2020, Corollary 13): epsilon = inf over alpha > 1 of
 * alpha rho + (log(1 / delta) + (alpha - 1) log(1 - 1 / alpha) - log(alpha)) / (alpha - 1).
 * Tighter than the classic rho + 2 sqrt(rho log(1 / delta)), which it never exceeds.
 */
export function zcdpToEpsilon(rho: number, delta: number): number {
  if (rho <= 0) return 0;
  const classic = rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
  let best = classic;
  // The objective is convex in alpha: a golden-section search over a wide bracket.
  const f = (alpha: number) =>
    alpha * rho +
    (Math.log(1 / delta) + (alpha - 1) * Math.log(1 - 1 / alpha) - Math.log(alpha)) / (alpha - 1);
  let lo = 1 + 1e-9;
  let hi = 1 + (4 * Math.log(1 / delta)) / rho;
  const g = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 200; i++) {
    const a = hi - g * (hi - lo);
    const b = lo + g * (hi - lo);
    if (f(a) < f(b)) hi = b;
    else lo = a;
  }
  best = Math.min(best, f((lo + hi) / 2));
  return Math.max(0, best);
}

/**
 * The best balanced accuracy any test can reach in telling two neighbouring worlds apart (one
 * person in or out) from releases that are (epsilon, delta)-DP for every delta: from
 * P(false alarm) + e^epsilon P(miss) >= 1 - delta and its mirror, accuracy is at most
 * (e^epsilon + delta) / (1 + e^epsilon); minimised over delta.
 */
export function maxAttackAccuracy(rho: number): number {
  if (rho <= 0) return 0.5;
  let best = 1;
  for (let exponent = -12; exponent <= -0.05; exponent += 0.05) {
    const delta = 10 ** exponent;
    const e = Math.exp(zcdpToEpsilon(rho, delta));
    best = Math.min(best, (e + delta) / (1 + e));
  }
  return best;
}
