/** The audit trail and the privacy budget, readable by the tenant itself and by the operator. */
import { DomainError } from '../domain/errors.ts';
import { type Principal, requireRole } from '../domain/principal.ts';
import type { UseCaseContext } from './context.ts';

export async function readAudit(ctx: UseCaseContext, principal: Principal, tenantId?: string) {
  const target = tenantId ?? principal.tenantId;
  if (target !== principal.tenantId && principal.role !== 'admin') {
    throw new DomainError('forbidden', "Only the operator reads another tenant's audit trail.");
  }
  return { entries: await ctx.ledger.auditTrail(target) };
}

export async function readBudget(ctx: UseCaseContext, principal: Principal, partnerId: string) {
  requireRole(principal, 'advertiser');
  const noise = ctx.settings.noise;
  const state = await ctx.ledger.budget(principal.tenantId, partnerId, noise.budgetPerPartner);
  return {
    partnerId,
    epsilonSpent: state.epsilonSpent,
    epsilonBudget: state.epsilonBudget,
    epsilonLeft: Math.max(0, Math.round((state.epsilonBudget - state.epsilonSpent) * 1e9) / 1e9),
    epsilonPerMatch: noise.epsilonPerMatch,
    noise: noise.enabled,
  };
}
