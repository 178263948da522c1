/**
 * `onboard login` and `logout` against a local stand-in of the Cognito API (AWS JSON 1.1 over
 * HTTP, see test/support/cognito-stand-in.ts) and of the API behind its JWT authorizer: the CLI
 * runs as a child process (`node bin/onboard.js`), signs in with a password or SRP and the TOTP
 * code, keeps its tokens in an owner-only file keyed by API URL, refreshes them, uses them, says
 * what to do when the API refuses them, and forgets and revokes them on logout.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../cdk/handlers.ts';
import type { Session } from '../../cli/token-store.ts';
import { type CognitoStandIn, startCognitoStandIn } from '../support/cognito-stand-in.ts';

const USER = {
  username: 'ana@brand.example',
  sub: '7d1c0a52-5f7e-4c38-9a55-0f0e3c1b2a77',
  password: 'Correct-Horse-9!',
  totpCode: '246810',
};

let cognito: CognitoStandIn;
let api: Server;
let apiUrl = '';
let home = '';
const apiSeen: (string | undefined)[] = [];

beforeAll(async () => {
  cognito = await startCognitoStandIn(USER);
  // The API behind its JWT authorizer: only tokens Cognito issued and did not revoke pass.
  api = createServer((req, res) => {
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    apiSeen.push(token);
    if (!token || !cognito.validIdTokens().has(token)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
      return res.end('{"message":"Unauthorized"}');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        partners: [{ partnerId: 'northwind', profile: 'basic', baseSize: null, segments: [] }],
      }),
    );
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  await cognito?.stop();
  await new Promise<void>((resolve) => api?.close(() => resolve()));
});

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

beforeEach(() => {
  if (home) rmSync(home, { recursive: true, force: true });
  home = mkdtempSync(join(tmpdir(), 'onboard-login-'));
  cognito.expiresIn = 3600;
  cognito.calls.length = 0;
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function onboard(args: string[], input = '', extraEnv: Record<string, string> = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    ONBOARD_DATA_DIR: join(home, 'no-stack'),
    ONBOARD_USER_POOL_ID: cognito.userPoolId,
    ONBOARD_CLIENT_ID: cognito.clientId,
    ONBOARD_COGNITO_ENDPOINT: cognito.endpoint,
    ...extraEnv,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/onboard.js'), ...args], { cwd: home, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const tokenPath = () => join(home, 'config', 'onboard', 'tokens.json');
const sessions = () =>
  (JSON.parse(readFileSync(tokenPath(), 'utf8')) as { sessions: Record<string, Session> }).sessions;
const apiKey = () => apiUrl.replace(/\/$/, '');
const ops = () =>
  cognito.calls.map(
    (c) =>
      `${c.operation}${c.body.AuthFlow ? ` ${c.body.AuthFlow}` : ''}${c.body.ChallengeName ? ` ${c.body.ChallengeName}` : ''}`,
  );

const login = (extra: string[] = [], input = `${USER.password}\n`) =>
  onboard(['login', '--api-url', apiUrl, '--username', USER.username, ...extra], input);

describe('onboard login', () => {
  it('signs in with the password and the TOTP code and keeps the tokens owner-only, keyed by API URL', async () => {
    const run = await login(['--totp-code', USER.totpCode]);
    expect(run.stderr).toContain(`signed in to ${apiUrl} as ${USER.username}`);
    expect(run.code).toBe(0);
    expect(ops()).toEqual(['InitiateAuth USER_PASSWORD_AUTH', 'RespondToAuthChallenge SOFTWARE_TOKEN_MFA']);
    expect(cognito.calls[1]?.body).toMatchObject({
      ClientId: cognito.clientId,
      // As Cognito does: the challenge names the user by USER_ID_FOR_SRP, which answers it.
      ChallengeResponses: { USERNAME: USER.sub, SOFTWARE_TOKEN_MFA_CODE: USER.totpCode },
      Session: expect.stringMatching(/^mfa-/),
    });
    expect(statSync(tokenPath()).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'config', 'onboard')).mode & 0o777).toBe(0o700);
    const session = sessions()[apiKey()];
    expect(session).toMatchObject({
      userPoolId: cognito.userPoolId,
      clientId: cognito.clientId,
      region: 'eu-west-1',
      username: USER.username,
      idToken: expect.stringMatching(/^id-/),
      accessToken: expect.stringMatching(/^access-/),
      refreshToken: expect.stringMatching(/^refresh-/),
    });
    expect(Date.parse(session?.expiresAt ?? '') - Date.now()).toBeGreaterThan(3500_000);
    expect(readFileSync(tokenPath(), 'utf8')).not.toContain(USER.password);

    // A command with this API URL and no token uses the session's ID token.
    const partners = await onboard(['partners', '--api-url', apiUrl]);
    expect(partners.stdout).toMatch(/^northwind\s+basic/m);
    expect(partners.code).toBe(0);
    expect(apiSeen.at(-1)).toBe(session?.idToken);
  });

  it('signs in with SRP (the password never sent) and asks for the code when no flag gives it', async () => {
    const run = await login(['--srp'], `${USER.password}\n${USER.totpCode}\n`);
    expect(run.stderr).toContain('signed in');
    expect(run.code).toBe(0);
    expect(ops()).toEqual([
      'InitiateAuth USER_SRP_AUTH',
      'RespondToAuthChallenge PASSWORD_VERIFIER',
      'RespondToAuthChallenge SOFTWARE_TOKEN_MFA',
    ]);
    expect(JSON.stringify(cognito.calls)).not.toContain(USER.password);
    expect(cognito.calls[1]?.body.ChallengeResponses).toMatchObject({ USERNAME: USER.sub });
    expect(sessions()[apiKey()]?.idToken).toMatch(/^id-/);
  });

  it('refuses a wrong password (SRP or not) or a wrong code with one line and keeps nothing', async () => {
    for (const [extra, input] of [
      [['--srp', '--totp-code', USER.totpCode], 'Wrong-Horse-9!\n'],
      [['--totp-code', USER.totpCode], 'Wrong-Horse-9!\n'],
      [['--totp-code', '000000'], `${USER.password}\n`],
    ] as const) {
      const run = await login([...extra], input);
      expect(run.code, run.stderr).not.toBe(0);
      expect(run.stderr.trim()).toBe('onboard: login-refused: The user name, password or code was refused.');
      expect(existsSync(tokenPath())).toBe(false);
    }
  });

  it('says where the pool and client ids come from when none is given', async () => {
    const run = await onboard(
      ['login', '--api-url', apiUrl, '--username', USER.username],
      `${USER.password}\n`,
      {
        ONBOARD_USER_POOL_ID: '',
        ONBOARD_CLIENT_ID: '',
      },
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('ONBOARD_USER_POOL_ID and ONBOARD_CLIENT_ID');
  });

  it('refreshes tokens about to expire with the refresh token, and keeps the refresh token', async () => {
    cognito.expiresIn = 60; // under the 5-minute margin: the next command refreshes first
    await login(['--totp-code', USER.totpCode]);
    const before = sessions()[apiKey()] as Session;
    cognito.calls.length = 0;
    const run = await onboard(['partners', '--api-url', apiUrl]);
    expect(run.code, run.stderr).toBe(0);
    expect(ops()).toEqual(['InitiateAuth REFRESH_TOKEN_AUTH']);
    expect(cognito.calls[0]?.body.AuthParameters).toEqual({ REFRESH_TOKEN: before.refreshToken });
    const after = sessions()[apiKey()] as Session;
    expect(after.idToken).not.toBe(before.idToken);
    expect(after.refreshToken).toBe(before.refreshToken);
    expect(apiSeen.at(-1)).toBe(after.idToken);
    expect(statSync(tokenPath()).mode & 0o777).toBe(0o600);
  });

  it('says exactly what to do when the API refuses the token (expired or revoked)', async () => {
    await login(['--totp-code', USER.totpCode]);
    cognito.revokeAll();
    const run = await onboard(['partners', '--api-url', apiUrl]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('the token expired or was refused, run `onboard login`');
    // A token given by hand gets the same line.
    const byHand = await onboard(['partners', '--api-url', apiUrl, '--token', 'stale.jwt.token']);
    expect(byHand.stderr).toContain('the token expired or was refused, run `onboard login`');
  });

  it('logs out: revokes the refresh token, removes the tokens, and signs out everywhere on request', async () => {
    await login(['--totp-code', USER.totpCode]);
    const session = sessions()[apiKey()] as Session;
    cognito.calls.length = 0;
    const run = await onboard(['logout', '--api-url', apiUrl]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`signed out of ${apiUrl}`);
    expect(cognito.calls).toEqual([
      { operation: 'RevokeToken', body: { Token: session.refreshToken, ClientId: cognito.clientId } },
    ]);
    expect(existsSync(tokenPath())).toBe(false);
    expect(cognito.validIdTokens().has(session.idToken)).toBe(false);

    await login(['--totp-code', USER.totpCode]);
    const second = sessions()[apiKey()] as Session;
    cognito.calls.length = 0;
    await onboard(['logout', '--api-url', apiUrl, '--everywhere']);
    expect(cognito.calls.map((c) => c.operation)).toEqual(['GlobalSignOut', 'RevokeToken']);
    expect(cognito.calls[0]?.body).toEqual({ AccessToken: second.accessToken });
    expect(existsSync(tokenPath())).toBe(false);
  });

  it('removes the tokens even when Cognito cannot be reached, and says so', async () => {
    await login(['--totp-code', USER.totpCode]);
    // The session keeps the endpoint it signed in with: point it at a closed port.
    const file = JSON.parse(readFileSync(tokenPath(), 'utf8')) as { sessions: Record<string, Session> };
    (file.sessions[apiKey()] as Session).endpoint = 'http://127.0.0.1:9';
    writeFileSync(tokenPath(), JSON.stringify(file));
    const run = await onboard(['logout', '--api-url', apiUrl]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('warning: could not revoke the refresh token');
    expect(run.stderr).toContain(`signed out of ${apiUrl}`);
    expect(existsSync(tokenPath())).toBe(false);
  });
});
