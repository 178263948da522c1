/**
 * The console's entry: reads /console/config.json (where the API is, how to sign in), keeps the
 * bearer token for this tab only (sessionStorage), and shows the page of the signed-in role.
 * Locally the embedded stack signs in with its dev tokens (pasted, or from a link `npm start`
 * prints, whose #token= fragment never reaches a server); in AWS with the Cognito user pool.
 */
import { advertiserPage } from './advertiser-page.ts';
import { ConsoleApi } from './api.ts';
import { type CognitoAuth, finishSignIn, startSignIn } from './cognito-pkce.ts';
import { h, message } from './dom.ts';
import { identityOf } from './identity.ts';
import { partnerPage } from './partner-page.ts';

interface ConsoleConfig {
  /** Base URL of the API ('' = this origin). */
  apiUrl: string;
  auth: { kind: 'dev' } | CognitoAuth;
}

const TOKEN = 'onboard.token';

function signOut(): void {
  sessionStorage.removeItem(TOKEN);
  location.assign(location.pathname);
}

function signInPage(root: HTMLElement, config: ConsoleConfig, problem?: string): void {
  const auth = config.auth;
  const token = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  root.replaceChildren(
    h('h1', {}, 'Sign in to audience onboarding'),
    ...(problem ? [message('error', problem)] : []),
    auth.kind === 'cognito'
      ? h(
          'section',
          { class: 'card' },
          h('p', {}, 'Sign in with your company account.'),
          h('button', { type: 'button', class: 'primary', onclick: () => void startSignIn(auth) }, 'Sign in'),
        )
      : h(
          'form',
          {
            class: 'card',
            onsubmit: (e: Event) => {
              e.preventDefault();
              const value = token.value.trim();
              if (!identityOf(value))
                return signInPage(
                  root,
                  config,
                  'That is not a dev token: copy one from the output of npm start.',
                );
              sessionStorage.setItem(TOKEN, value);
              void boot();
            },
          },
          h(
            'p',
            {},
            'Local embedded stack: use a sign-in link printed by ',
            h('code', {}, 'npm start'),
            ', or paste one of its dev tokens.',
          ),
          h('div', { class: 'field' }, h('label', { for: 'token' }, 'Dev token'), token),
          h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
        ),
  );
}

async function boot(): Promise<void> {
  const root = document.getElementById('main') as HTMLElement;
  const account = document.getElementById('account') as HTMLElement;
  let config: ConsoleConfig;
  try {
    config = (await (await fetch('/console/config.json')).json()) as ConsoleConfig;
  } catch {
    root.replaceChildren(message('error', 'The console cannot load its settings. Reload the page.'));
    return;
  }
  const fragment = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fragment) {
    sessionStorage.setItem(TOKEN, fragment);
    history.replaceState(null, '', location.pathname);
  }
  if (config.auth.kind === 'cognito') {
    try {
      const idToken = await finishSignIn(config.auth, new URL(location.href));
      if (idToken) sessionStorage.setItem(TOKEN, idToken);
    } catch (error) {
      return signInPage(root, config, (error as Error).message);
    }
  }
  const token = sessionStorage.getItem(TOKEN);
  const me = token ? identityOf(token) : undefined;
  if (!token || !me) {
    account.replaceChildren();
    return signInPage(root, config);
  }
  account.replaceChildren(
    h('span', {}, `${me.tenantId} (${me.role})`),
    h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'),
  );
  const api = new ConsoleApi(config.apiUrl, token, () => {
    sessionStorage.removeItem(TOKEN);
    signInPage(root, config, 'Your sign-in has expired: sign in again.');
  });
  document.title = me.role === 'partner' ? 'Partner audiences · Onboard' : 'Audience match · Onboard';
  if (me.role === 'advertiser') await advertiserPage(root, api, me);
  else if (me.role === 'partner') await partnerPage(root, api, me);
  else
    root.replaceChildren(
      h('h1', {}, 'Operator'),
      h('p', {}, 'Operators work with the CLI: npx onboard --help.'),
    );
}

void boot();
