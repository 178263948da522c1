/**
 * Where the CLI talks to: --api-url/--token, else ONBOARD_API_URL/ONBOARD_TOKEN; an API URL without
 * a token uses the `onboard login` session of that URL (refreshed as needed); else the embedded
 * stack started by `onboard dev` (its URL and dev tokens are in .onboard/stack.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Role } from '../shared/domain/principal.ts';
import { ApiClient } from './api-client.ts';
import { UserError } from './failure.ts';
import { freshIdToken } from './login.ts';
import { readSession } from './token-store.ts';

export interface ConnectionFlags {
  apiUrl?: string;
  token?: string;
  /** Which embedded-stack tenant to act as, when no token is given. */
  tenant?: string;
}

interface StackFile {
  apiUrl: string;
  tokens: { token: string; tenantId: string; role: Role }[];
}

export function connect(flags: ConnectionFlags, role: Role, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const apiUrl = flags.apiUrl ?? env.ONBOARD_API_URL;
  const token = flags.token ?? env.ONBOARD_TOKEN;
  if (apiUrl && !URL.canParse(apiUrl))
    throw new UserError(`ONBOARD_API_URL is not a URL (${apiUrl}): set it to the API's address.`);
  if (apiUrl && token) return new ApiClient(apiUrl, token);
  if (apiUrl && readSession(apiUrl, env)) return new ApiClient(apiUrl, () => freshIdToken(apiUrl, env));
  const stackPath = join(resolve(env.ONBOARD_DATA_DIR ?? '.onboard'), 'stack.json');
  if (!existsSync(stackPath)) {
    if (apiUrl) return new ApiClient(apiUrl, token);
    throw new UserError(
      'No API to talk to: start the embedded stack with `npm start`, or set ONBOARD_API_URL and ONBOARD_TOKEN.',
    );
  }
  let stack: StackFile;
  try {
    stack = JSON.parse(readFileSync(stackPath, 'utf8')) as StackFile;
  } catch {
    throw new UserError(`${stackPath} cannot be read: restart the embedded stack with \`npm start\`.`);
  }
  const dev = stack.tokens.find((t) => t.role === role && (!flags.tenant || t.tenantId === flags.tenant));
  if (!token && !dev)
    throw new UserError(
      `The embedded stack has no ${role} token${flags.tenant ? ` for ${flags.tenant}` : ''}.`,
    );
  return new ApiClient(apiUrl ?? stack.apiUrl, token ?? dev?.token);
}
