/** The audit trail, readable by the tenant itself and by the operator. */
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';
import type { UseCaseContext } from './context.ts';

export async function readAudit(ctx: UseCaseContext, principal: Principal, tenantId?: string) {
  const target = tenantId ?? principal.tenantId;
  if (target !== principal.tenantId && principal.role !== 'admin') {
    throw new DomainError('forbidden', "Only the operator reads another tenant's audit trail.");
  }
  return { entries: await ctx.ledger.auditTrail(target) };
}
