/**
 * A local stand-in of the Cognito Identity Provider API at the HTTP level: one POST endpoint
 * speaking AWS JSON 1.1 (`X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>`, errors as
 * `{"__type": ...}` with status 400), for InitiateAuth (USER_PASSWORD_AUTH, USER_SRP_AUTH,
 * REFRESH_TOKEN_AUTH), RespondToAuthChallenge (PASSWORD_VERIFIER, SOFTWARE_TOKEN_MFA),
 * GlobalSignOut and RevokeToken. Its SRP side is written here on its own from the protocol (not
 * from the CLI's module), so the two check each other. One user, TOTP required, as the pool is.
 */
import { createHash, createHmac, getDiffieHellman, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const N = BigInt(`0x${getDiffieHellman('modp15').getPrime('hex')}`);
const g = 2n;

const hex = (n: bigint) => {
  const h = n.toString(16);
  const even = h.length % 2 === 1 ? `0${h}` : h;
  return '89abcdef'.includes(even[0] as string) ? `00${even}` : even;
};
const H = (...parts: string[]) =>
  createHash('sha256')
    .update(Buffer.from(parts.join(''), 'hex'))
    .digest('hex');
const pow = (b: bigint, e: bigint): bigint => {
  let r = 1n;
  let x = b % N;
  let k = e;
  while (k > 0n) {
    if (k % 2n === 1n) r = (r * x) % N;
    x = (x * x) % N;
    k /= 2n;
  }
  return r;
};

/** The fields of the requests the stand-in reads (AWS JSON 1.1 bodies). */
interface RequestBody {
  ClientId?: string;
  AuthFlow?: string;
  AuthParameters?: Record<string, string>;
  ChallengeName?: string;
  ChallengeResponses?: Record<string, string>;
  Session?: string;
  Token?: string;
  AccessToken?: string;
}

export interface StandInUser {
  username: string;
  /** Cognito's USER_ID_FOR_SRP (the user's sub when signing in with an e-mail alias). */
  sub: string;
  password: string;
  totpCode: string;
}

export interface CognitoCall {
  operation: string;
  body: Record<string, unknown>;
}

export interface CognitoStandIn {
  endpoint: string;
  userPoolId: string;
  clientId: string;
  calls: CognitoCall[];
  /** Seconds the next tokens live (ExpiresIn). */
  expiresIn: number;
  /** Id tokens the stand-in issued and did not revoke: the API stand-in accepts only these. */
  validIdTokens(): Set<string>;
  revokeAll(): void;
  stop(): Promise<void>;
}

export async function startCognitoStandIn(user: StandInUser): Promise<CognitoStandIn> {
  const poolName = 'StandIn1';
  const userPoolId = `eu-west-1_${poolName}`;
  const clientId = 'standinclient0123456789';
  const salt = randomBytes(16).toString('hex');
  const x = BigInt(
    `0x${H(hex(BigInt(`0x${salt}`)), createHash('sha256').update(`${poolName}${user.sub}:${user.password}`).digest('hex'))}`,
  );
  const verifier = pow(g, x);
  const k = BigInt(`0x${H(hex(N), hex(g))}`);
  const srpSessions = new Map<string, { A: bigint; b: bigint; B: bigint }>();
  const mfaSessions = new Set<string>();
  const refreshTokens = new Map<string, { idTokens: Set<string>; accessTokens: Set<string> }>();
  const calls: CognitoCall[] = [];

  const fail = (type: string, message: string) => ({ status: 400, body: { __type: type, message } });
  const tokens = (refreshToken?: string) => {
    const rt = refreshToken ?? `refresh-${randomUUID()}`;
    const family = refreshTokens.get(rt) ?? { idTokens: new Set<string>(), accessTokens: new Set<string>() };
    refreshTokens.set(rt, family);
    const idToken = `id-${randomUUID()}`;
    const accessToken = `access-${randomUUID()}`;
    family.idTokens.add(idToken);
    family.accessTokens.add(accessToken);
    return {
      AuthenticationResult: {
        IdToken: idToken,
        AccessToken: accessToken,
        ...(refreshToken ? {} : { RefreshToken: rt }),
        ExpiresIn: standIn.expiresIn,
        TokenType: 'Bearer',
      },
      ChallengeParameters: {},
    };
  };
  const mfaChallenge = () => {
    const session = `mfa-${randomUUID()}`;
    mfaSessions.add(session);
    return {
      ChallengeName: 'SOFTWARE_TOKEN_MFA',
      Session: session,
      ChallengeParameters: { USER_ID_FOR_SRP: user.sub },
    };
  };

  function handle(operation: string, body: RequestBody): { status: number; body: unknown } {
    if (operation !== 'GlobalSignOut' && body.ClientId !== clientId)
      return fail('ResourceNotFoundException', 'No such client.');
    if (operation === 'InitiateAuth') {
      const p = body.AuthParameters ?? {};
      if (body.AuthFlow === 'USER_PASSWORD_AUTH') {
        if (p.USERNAME !== user.username || p.PASSWORD !== user.password)
          return fail('NotAuthorizedException', 'Incorrect username or password.');
        return { status: 200, body: mfaChallenge() };
      }
      if (body.AuthFlow === 'USER_SRP_AUTH') {
        if (p.USERNAME !== user.username)
          return fail('NotAuthorizedException', 'Incorrect username or password.');
        const A = BigInt(`0x${p.SRP_A}`);
        if (A % N === 0n) return fail('InvalidParameterException', 'Bad A.');
        const b = BigInt(`0x${randomBytes(64).toString('hex')}`);
        const B = (k * verifier + pow(g, b)) % N;
        const secretBlock = randomBytes(48).toString('base64');
        srpSessions.set(secretBlock, { A, b, B });
        return {
          status: 200,
          body: {
            ChallengeName: 'PASSWORD_VERIFIER',
            ChallengeParameters: {
              SALT: salt,
              SRP_B: B.toString(16),
              SECRET_BLOCK: secretBlock,
              USER_ID_FOR_SRP: user.sub,
              USERNAME: user.sub,
            },
          },
        };
      }
      if (body.AuthFlow === 'REFRESH_TOKEN_AUTH') {
        if (!p.REFRESH_TOKEN || !refreshTokens.has(p.REFRESH_TOKEN))
          return fail('NotAuthorizedException', 'Invalid Refresh Token');
        return { status: 200, body: tokens(p.REFRESH_TOKEN) };
      }
      return fail('InvalidParameterException', `Auth flow ${body.AuthFlow} is not enabled for the client.`);
    }
    if (operation === 'RespondToAuthChallenge') {
      const r = body.ChallengeResponses ?? {};
      if (body.ChallengeName === 'PASSWORD_VERIFIER') {
        const block = r.PASSWORD_CLAIM_SECRET_BLOCK ?? '';
        const srp = srpSessions.get(block);
        srpSessions.delete(block);
        if (!srp || r.USERNAME !== user.sub)
          return fail('NotAuthorizedException', 'Incorrect username or password.');
        const u = BigInt(`0x${H(hex(srp.A), hex(srp.B))}`);
        const S = pow((srp.A * pow(verifier, u)) % N, srp.b);
        const prk = createHmac('sha256', Buffer.from(hex(u), 'hex'))
          .update(Buffer.from(hex(S), 'hex'))
          .digest();
        const key = createHmac('sha256', prk).update('Caldera Derived Key\u0001').digest().subarray(0, 16);
        const expected = createHmac('sha256', key)
          .update(poolName)
          .update(user.sub)
          .update(Buffer.from(block, 'base64'))
          .update(String(r.TIMESTAMP))
          .digest('base64');
        const timestampOk = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [1-9]\d? \d{2}:\d{2}:\d{2} UTC \d{4}$/.test(
          String(r.TIMESTAMP),
        );
        if (expected !== r.PASSWORD_CLAIM_SIGNATURE || !timestampOk)
          return fail('NotAuthorizedException', 'Incorrect username or password.');
        return { status: 200, body: mfaChallenge() };
      }
      if (body.ChallengeName === 'SOFTWARE_TOKEN_MFA') {
        if (!body.Session || !mfaSessions.delete(body.Session))
          return fail('NotAuthorizedException', 'Invalid session for the user.');
        if (r.USERNAME !== user.username && r.USERNAME !== user.sub)
          return fail('NotAuthorizedException', 'Wrong user.');
        if (r.SOFTWARE_TOKEN_MFA_CODE !== user.totpCode)
          return fail('CodeMismatchException', 'Invalid code received for user');
        return { status: 200, body: tokens() };
      }
      return fail('InvalidParameterException', `Unexpected challenge ${body.ChallengeName}.`);
    }
    if (operation === 'RevokeToken') {
      if (!body.Token || !refreshTokens.has(body.Token))
        return fail('UnsupportedTokenTypeException', 'Not a refresh token.');
      refreshTokens.delete(body.Token);
      return { status: 200, body: {} };
    }
    if (operation === 'GlobalSignOut') {
      const owner = [...refreshTokens.values()].some((f) => f.accessTokens.has(body.AccessToken ?? ''));
      if (!owner) return fail('NotAuthorizedException', 'Access Token has been revoked');
      refreshTokens.clear();
      return { status: 200, body: {} };
    }
    return { status: 400, body: { __type: 'UnknownOperationException' } };
  }

  const server: Server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const target = String(req.headers['x-amz-target'] ?? '');
    const [service, operation = ''] = target.split('.');
    const body = text ? (JSON.parse(text) as RequestBody) : {};
    const answer =
      req.method === 'POST' &&
      service === 'AWSCognitoIdentityProviderService' &&
      String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')
        ? handle(operation, body)
        : { status: 400, body: { __type: 'SerializationException', message: 'Not AWS JSON 1.1.' } };
    calls.push({ operation, body: body as Record<string, unknown> });
    res.writeHead(answer.status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': randomUUID(),
    });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const standIn: CognitoStandIn = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    userPoolId,
    clientId,
    calls,
    expiresIn: 3600,
    validIdTokens: () => new Set([...refreshTokens.values()].flatMap((f) => [...f.idTokens])),
    revokeAll: () => refreshTokens.clear(),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return standIn;
}
