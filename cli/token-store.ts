/**
 * Where `onboard login` keeps its sessions: one JSON file, owner-only (0600, in a 0700 folder), in
 * the user's config folder (`$XDG_CONFIG_HOME/onboard/`, else `~/.config/onboard/`), one session
 * per API URL. Written whole to a temporary file and renamed, so a reader never sees half a file.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Cognito user pool and app client a session signed in to, and where its API is. */
export interface PoolSettings {
  userPoolId: string;
  clientId: string;
  region: string;
  /** Set only when the Cognito endpoint was overridden (a test stand-in, a private endpoint). */
  endpoint?: string;
}

export interface Session extends PoolSettings {
  username: string;
  /** The bearer token of the API: it carries the tenant and role claims. */
  idToken: string;
  accessToken: string;
  refreshToken: string;
  /** When the id and access tokens expire (ISO 8601). */
  expiresAt: string;
}

interface StoreFile {
  version: 1;
  sessions: Record<string, Session>;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'onboard');
}

export function tokenFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'tokens.json');
}

/** The key of an API URL: scheme, host and path, without a trailing slash or a trailing /v1. */
export function apiKey(apiUrl: string): string {
  const url = new URL(apiUrl);
  const path = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

function read(env: NodeJS.ProcessEnv): StoreFile {
  const file = tokenFile(env);
  if (!existsSync(file)) return { version: 1, sessions: {} };
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StoreFile>;
  return { version: 1, sessions: parsed.sessions ?? {} };
}

function write(store: StoreFile, env: NodeJS.ProcessEnv): void {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const file = tokenFile(env);
  if (Object.keys(store.sessions).length === 0) {
    rmSync(file, { force: true });
    return;
  }
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

export function readSession(apiUrl: string, env: NodeJS.ProcessEnv = process.env): Session | undefined {
  return read(env).sessions[apiKey(apiUrl)];
}

export function saveSession(apiUrl: string, session: Session, env: NodeJS.ProcessEnv = process.env): void {
  const store = read(env);
  store.sessions[apiKey(apiUrl)] = session;
  write(store, env);
}

/** Removes the session of an API; the file goes when it holds no session any more. */
export function removeSession(apiUrl: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const store = read(env);
  const key = apiKey(apiUrl);
  if (!store.sessions[key]) return false;
  delete store.sessions[key];
  write(store, env);
  return true;
}
