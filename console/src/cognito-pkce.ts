/**
 * Signing in with the Cognito user pool from the browser: the authorization code grant with PKCE
 * (S256) and a state check, no client secret, no implicit flow. The ID token carries the tenant and
 * role claims the API's JWT authorizer accepts.
 */
export interface CognitoAuth {
  kind: 'cognito';
  /** The hosted sign-in domain, e.g. https://<prefix>.auth.<region>.amazoncognito.com */
  domain: string;
  clientId: string;
  /** Exactly one of the app client's callback URLs; default: this page's origin and `/`. */
  redirectUri?: string;
}

const PENDING = 'onboard.pkce';

const redirectUri = (auth: CognitoAuth) => auth.redirectUri ?? `${location.origin}/`;

function base64Url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function codeChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/** The authorize URL (and what to keep until the callback). */
export async function authorizeUrl(
  auth: CognitoAuth,
): Promise<{ url: string; verifier: string; state: string }> {
  const verifier = base64Url(crypto.getRandomValues(new Uint8Array(48)));
  const state = base64Url(crypto.getRandomValues(new Uint8Array(16)));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: auth.clientId,
    redirect_uri: redirectUri(auth),
    scope: 'openid email',
    state,
    code_challenge_method: 'S256',
    code_challenge: await codeChallenge(verifier),
  });
  return { url: `${auth.domain}/oauth2/authorize?${query}`, verifier, state };
}

export async function startSignIn(auth: CognitoAuth): Promise<void> {
  const { url, verifier, state } = await authorizeUrl(auth);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  location.assign(url);
}

/** On the callback: exchanges the code for tokens; undefined when this is not a callback. */
export async function finishSignIn(auth: CognitoAuth, here: URL): Promise<string | undefined> {
  const code = here.searchParams.get('code');
  if (!code) return undefined;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? '{}') as {
    verifier?: string;
    state?: string;
  };
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', here.pathname);
  if (!pending.verifier || pending.state !== here.searchParams.get('state'))
    throw new Error('The sign-in could not be verified; sign in again.');
  const response = await fetch(`${auth.domain}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: auth.clientId,
      code,
      redirect_uri: redirectUri(auth),
      code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new Error('The sign-in failed; sign in again.');
  return ((await response.json()) as { id_token?: string }).id_token;
}
