/**
 * Sign-in to a deployment: `onboard login` against its Cognito user pool (USER_PASSWORD_AUTH, or
 * USER_SRP_AUTH with `--srp`, then the SOFTWARE_TOKEN_MFA challenge with the authenticator app's
 * code), sessions refreshed with the refresh token before their tokens expire, and `onboard
 * logout` (RevokeToken; GlobalSignOut with `--everywhere`). Cognito's endpoint can be overridden
 * (ONBOARD_COGNITO_ENDPOINT) so a test can talk to a local stand-in.
 */
import {
  type AuthenticationResultType,
  CognitoIdentityProviderClient,
  GlobalSignOutCommand,
  InitiateAuthCommand,
  type InitiateAuthCommandOutput,
  RespondToAuthChallengeCommand,
  type RespondToAuthChallengeCommandOutput,
  RevokeTokenCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { ApiError } from './api-client.ts';
import { cognitoSrp } from './srp.ts';
import { type PoolSettings, readSession, removeSession, type Session, saveSession } from './token-store.ts';

/** The closed list of what can go wrong signing in, each a code the CLI prints. */
export const LOGIN_ERROR_CODES = [
  /** No user pool or app client id: flags or environment. */
  'login-not-configured',
  /** Wrong user name, password or code (Cognito says which it does not, on purpose). */
  'login-refused',
  /** A challenge `onboard login` does not answer (first sign-in, MFA set-up). */
  'login-challenge-unsupported',
  /** Cognito could not be reached or answered something unexpected. */
  'login-unavailable',
  /** The session's refresh token expired or was revoked: sign in again. */
  'session-expired',
] as const;
export type LoginErrorCode = (typeof LOGIN_ERROR_CODES)[number];

export class LoginError extends ApiError {
  constructor(code: LoginErrorCode, detail: string) {
    super(code === 'session-expired' || code === 'login-refused' ? 401 : 0, code, detail);
    this.name = 'LoginError';
  }
}

/** Tokens are refreshed when they have less than this left. */
export const REFRESH_MARGIN_SECONDS = 300;

export interface PoolFlags {
  userPoolId?: string;
  clientId?: string;
  cognitoEndpoint?: string;
}

/** The pool and client from flags, else ONBOARD_USER_POOL_ID and ONBOARD_CLIENT_ID; the region from the pool id. */
export function poolSettings(flags: PoolFlags, env: NodeJS.ProcessEnv = process.env): PoolSettings {
  const userPoolId = flags.userPoolId ?? env.ONBOARD_USER_POOL_ID;
  const clientId = flags.clientId ?? env.ONBOARD_CLIENT_ID;
  if (!userPoolId || !clientId)
    throw new LoginError(
      'login-not-configured',
      'Which user pool? Pass --user-pool-id and --client-id, or set ONBOARD_USER_POOL_ID and ONBOARD_CLIENT_ID (the UserPoolId and UserPoolClientId outputs of the stateful stack).',
    );
  const region = /^([a-z]{2}(?:-[a-z]+)+-\d+)_[A-Za-z0-9]+$/.exec(userPoolId)?.[1];
  if (!region)
    throw new LoginError(
      'login-not-configured',
      `${userPoolId} is not a user pool id (expected REGION_ID, e.g. eu-west-1_AbCdEf123).`,
    );
  const endpoint = flags.cognitoEndpoint ?? env.ONBOARD_COGNITO_ENDPOINT;
  return { userPoolId, clientId, region, ...(endpoint ? { endpoint } : {}) };
}

function cognito(pool: PoolSettings) {
  return new CognitoIdentityProviderClient({
    region: pool.region,
    ...(pool.endpoint ? { endpoint: pool.endpoint } : {}),
    maxAttempts: 2,
  });
}

/** A Cognito failure as one of our codes: refusals say so, everything else is "unavailable". */
function loginFailure(error: unknown, refused: LoginErrorCode, detail: string): LoginError {
  const name = (error as { name?: string }).name ?? '';
  if (
    [
      'NotAuthorizedException',
      'UserNotFoundException',
      'CodeMismatchException',
      'ExpiredCodeException',
    ].includes(name)
  )
    return new LoginError(refused, detail);
  if (name === 'PasswordResetRequiredException' || name === 'UserNotConfirmedException')
    return new LoginError(
      'login-challenge-unsupported',
      'This user must finish its first sign-in or a password reset first (see docs/deploying.md, Users and tenants).',
    );
  return new LoginError(
    'login-unavailable',
    `Cognito did not answer as expected (${name || (error as Error).message}).`,
  );
}

export interface Credentials {
  username: string;
  password: string;
  /** Asked only when Cognito asks for it. */
  totpCode: () => Promise<string>;
  srp?: boolean;
}

function sessionOf(
  pool: PoolSettings,
  username: string,
  result: AuthenticationResultType | undefined,
  refreshToken: string | undefined,
  now: Date,
): Session {
  if (!result?.IdToken || !result.AccessToken || !refreshToken)
    throw new LoginError('login-unavailable', 'Cognito answered without the tokens of a session.');
  return {
    ...pool,
    username,
    idToken: result.IdToken,
    accessToken: result.AccessToken,
    refreshToken,
    expiresAt: new Date(now.getTime() + (result.ExpiresIn ?? 3600) * 1000).toISOString(),
  };
}

/** Signs in (password or SRP, then TOTP) and stores the session for the API URL. */
export async function login(
  apiUrl: string,
  pool: PoolSettings,
  credentials: Credentials,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Session> {
  const client = cognito(pool);
  const refused = 'The user name, password or code was refused.';
  try {
    let answer: InitiateAuthCommandOutput | RespondToAuthChallengeCommandOutput;
    let username = credentials.username;
    if (credentials.srp) {
      const srp = cognitoSrp(pool.userPoolId);
      const started = await client.send(
        new InitiateAuthCommand({
          AuthFlow: 'USER_SRP_AUTH',
          ClientId: pool.clientId,
          AuthParameters: { USERNAME: username, SRP_A: srp.publicA },
        }),
      );
      const p = started.ChallengeParameters ?? {};
      if (
        started.ChallengeName !== 'PASSWORD_VERIFIER' ||
        !p.SALT ||
        !p.SRP_B ||
        !p.SECRET_BLOCK ||
        !p.USER_ID_FOR_SRP
      )
        throw new LoginError(
          'login-unavailable',
          `Cognito answered SRP with ${started.ChallengeName ?? 'no challenge'}.`,
        );
      username = p.USERNAME ?? username;
      const proof = srp.passwordVerifier({
        userIdForSrp: p.USER_ID_FOR_SRP,
        password: credentials.password,
        salt: p.SALT,
        srpB: p.SRP_B,
        secretBlock: p.SECRET_BLOCK,
      });
      answer = await client.send(
        new RespondToAuthChallengeCommand({
          ClientId: pool.clientId,
          ChallengeName: 'PASSWORD_VERIFIER',
          Session: started.Session,
          ChallengeResponses: {
            USERNAME: username,
            PASSWORD_CLAIM_SECRET_BLOCK: p.SECRET_BLOCK,
            PASSWORD_CLAIM_SIGNATURE: proof.signature,
            TIMESTAMP: proof.timestamp,
          },
        }),
      );
    } else {
      answer = await client.send(
        new InitiateAuthCommand({
          AuthFlow: 'USER_PASSWORD_AUTH',
          ClientId: pool.clientId,
          AuthParameters: { USERNAME: username, PASSWORD: credentials.password },
        }),
      );
    }
    if (answer.ChallengeName === 'SOFTWARE_TOKEN_MFA') {
      username = answer.ChallengeParameters?.USER_ID_FOR_SRP ?? username;
      answer = await client.send(
        new RespondToAuthChallengeCommand({
          ClientId: pool.clientId,
          ChallengeName: 'SOFTWARE_TOKEN_MFA',
          Session: answer.Session,
          ChallengeResponses: { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: await credentials.totpCode() },
        }),
      );
    }
    if (answer.ChallengeName)
      throw new LoginError(
        'login-challenge-unsupported',
        `Cognito asks for ${answer.ChallengeName}: finish the first sign-in (new password, authenticator set-up) as docs/deploying.md shows, then run \`onboard login\` again.`,
      );
    const session = sessionOf(
      pool,
      credentials.username,
      answer.AuthenticationResult,
      answer.AuthenticationResult?.RefreshToken,
      new Date(),
    );
    saveSession(apiUrl, session, env);
    return session;
  } catch (error) {
    if (error instanceof LoginError) throw error;
    throw loginFailure(error, 'login-refused', refused);
  }
}

/** The session's ID token, refreshed first (REFRESH_TOKEN_AUTH) when it expires within the margin. */
export async function freshIdToken(
  apiUrl: string,
  env: NodeJS.ProcessEnv = process.env,
  now: () => Date = () => new Date(),
): Promise<string> {
  const session = readSession(apiUrl, env);
  if (!session) throw new LoginError('session-expired', `Not signed in to ${apiUrl}: run \`onboard login\`.`);
  if (Date.parse(session.expiresAt) - now().getTime() > REFRESH_MARGIN_SECONDS * 1000) return session.idToken;
  let answer: InitiateAuthCommandOutput;
  try {
    answer = await cognito(session).send(
      new InitiateAuthCommand({
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        ClientId: session.clientId,
        AuthParameters: { REFRESH_TOKEN: session.refreshToken },
      }),
    );
  } catch (error) {
    throw loginFailure(
      error,
      'session-expired',
      'The session expired or was revoked: the token expired or was refused, run `onboard login`.',
    );
  }
  const { username, refreshToken, ...pool } = session;
  const refreshed = sessionOf(
    {
      userPoolId: pool.userPoolId,
      clientId: pool.clientId,
      region: pool.region,
      ...(pool.endpoint ? { endpoint: pool.endpoint } : {}),
    },
    username,
    answer.AuthenticationResult,
    // Cognito sends a new refresh token only when the client rotates them.
    answer.AuthenticationResult?.RefreshToken ?? refreshToken,
    now(),
  );
  saveSession(apiUrl, refreshed, env);
  return refreshed.idToken;
}

export interface LogoutOutcome {
  signedIn: boolean;
  /** What Cognito could not do (the local tokens are removed anyway). */
  warnings: string[];
}

/** Revokes the refresh token (and with `everywhere`, signs the user out of every device), then forgets the session. */
export async function logout(
  apiUrl: string,
  options: { everywhere?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<LogoutOutcome> {
  const session = readSession(apiUrl, env);
  if (!session) return { signedIn: false, warnings: [] };
  const client = cognito(session);
  const warnings: string[] = [];
  if (options.everywhere) {
    try {
      await client.send(new GlobalSignOutCommand({ AccessToken: session.accessToken }));
    } catch (error) {
      warnings.push(
        `could not sign out everywhere (${(error as Error).name}): the access token may have expired`,
      );
    }
  }
  try {
    await client.send(new RevokeTokenCommand({ Token: session.refreshToken, ClientId: session.clientId }));
  } catch (error) {
    warnings.push(`could not revoke the refresh token (${(error as Error).name}); it expires on its own`);
  }
  removeSession(apiUrl, env);
  return { signedIn: true, warnings };
}
