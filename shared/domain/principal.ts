/**
 * Who is calling: a tenant and its role. Every use case takes the principal and checks it itself,
 * so isolation holds whatever route or event reaches the use case.
 */
import { DomainError } from './errors.ts';

export type Role = 'advertiser' | 'partner' | 'admin';
export const ROLES: readonly Role[] = ['advertiser', 'partner', 'admin'];

export interface Principal {
  tenantId: string;
  role: Role;
}

export function requireRole(principal: Principal, ...roles: Role[]): void {
  if (!roles.includes(principal.role)) {
    throw new DomainError('forbidden', `This operation is for ${roles.join(' or ')} accounts.`);
  }
}

/** A partner acts only on its own audiences; the operator (admin) on any. */
export function requirePartnerAccess(principal: Principal, partnerId: string): void {
  requireRole(principal, 'partner', 'admin');
  if (principal.role === 'partner' && principal.tenantId !== partnerId) {
    // Not found rather than forbidden: another partner's existence is not disclosed.
    throw new DomainError('not-found', 'No such partner audience.');
  }
}
