/**
 * Who the signed-in user is, read from the bearer token for display and navigation only (the API
 * checks every call itself): a Cognito ID token's `custom:tenant_id` and `custom:role` claims, or
 * a dev token of the embedded stack (`dev_<role>_<tenant>_<24 hex>`).
 */
export type ConsoleRole = 'advertiser' | 'partner' | 'admin';

export interface Identity {
  tenantId: string;
  role: ConsoleRole;
}

const DEV_TOKEN = /^dev_(advertiser|partner|admin)_([A-Za-z0-9][A-Za-z0-9_-]{0,63})_[0-9a-f]{24}$/;
const ROLES: readonly string[] = ['advertiser', 'partner', 'admin'];

function base64UrlJson(part: string): unknown {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export function identityOf(token: string): Identity | undefined {
  const dev = DEV_TOKEN.exec(token);
  if (dev) return { role: dev[1] as ConsoleRole, tenantId: dev[2] as string };
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = base64UrlJson(parts[1] as string) as Record<string, unknown>;
    const tenantId = claims['custom:tenant_id'];
    const role = claims['custom:role'];
    if (typeof tenantId === 'string' && typeof role === 'string' && ROLES.includes(role))
      return { tenantId, role: role as ConsoleRole };
  } catch {
    return undefined;
  }
  return undefined;
}
