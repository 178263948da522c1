/**
 * Dev bearer tokens for the embedded stack: each maps to the claims a Cognito JWT would carry
 * (tenant and role). They stand in for the JWT authorizer only; the handlers see the same claims.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Role } from '../shared/domain/principal.ts';

export interface DevToken {
  token: string;
  tenantId: string;
  role: Role;
}

/** The tenants a fresh embedded stack knows. */
export const DEFAULT_DEV_TENANTS: readonly Omit<DevToken, 'token'>[] = [
  { tenantId: 'acme-retail', role: 'advertiser' },
  { tenantId: 'globex-brands', role: 'advertiser' },
  { tenantId: 'northwind-data', role: 'partner' },
  { tenantId: 'contoso-media', role: 'partner' },
  { tenantId: 'operator', role: 'admin' },
];

export class DevTokens {
  private readonly byToken = new Map<string, DevToken>();

  constructor(tokens: Iterable<DevToken> = []) {
    for (const t of tokens) this.byToken.set(t.token, t);
  }

  /** Loads the tokens file, creating tokens for the default tenants on first use. */
  static loadOrCreate(path: string): DevTokens {
    const tokens = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DevToken[]) : [];
    const store = new DevTokens(tokens);
    let added = false;
    for (const t of DEFAULT_DEV_TENANTS) {
      if (!store.find(t.tenantId, t.role)) {
        store.issue(t.tenantId, t.role);
        added = true;
      }
    }
    if (added || !existsSync(path))
      writeFileSync(path, JSON.stringify(store.all(), null, 2), { mode: 0o600 });
    return store;
  }

  issue(tenantId: string, role: Role): DevToken {
    const token: DevToken = {
      token: `dev_${role}_${tenantId}_${randomBytes(12).toString('hex')}`,
      tenantId,
      role,
    };
    this.byToken.set(token.token, token);
    return token;
  }

  find(tenantId: string, role: Role): DevToken | undefined {
    return [...this.byToken.values()].find((t) => t.tenantId === tenantId && t.role === role);
  }

  resolve(token: string): DevToken | undefined {
    return this.byToken.get(token);
  }

  all(): DevToken[] {
    return [...this.byToken.values()];
  }
}
