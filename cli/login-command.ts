/** `onboard login` and `onboard logout`: the commands over cli/login.ts. */
import type { Command } from 'commander';
import { login, logout, poolSettings } from './login.ts';
import { ask } from './prompt.ts';
import { tokenFile } from './token-store.ts';

interface LoginFlags {
  apiUrl?: string;
  userPoolId?: string;
  clientId?: string;
  cognitoEndpoint?: string;
  username?: string;
  totpCode?: string;
  srp?: boolean;
}

function apiUrlOf(flags: { apiUrl?: string }): string {
  const apiUrl = flags.apiUrl ?? process.env.ONBOARD_API_URL;
  if (!apiUrl)
    throw new Error('Which deployment? Pass --api-url or set ONBOARD_API_URL (the ApiUrl output).');
  return apiUrl;
}

export function addLoginCommands(program: Command): void {
  program
    .command('login')
    .description(
      'Sign in to a deployment (Cognito: password, then the authenticator code) and keep its tokens for this API URL',
    )
    .option('--api-url <url>', 'the deployment (default: ONBOARD_API_URL)')
    .option('--user-pool-id <id>', 'Cognito user pool id (default: ONBOARD_USER_POOL_ID)')
    .option('--client-id <id>', 'Cognito app client id (default: ONBOARD_CLIENT_ID)')
    .option('--username <email>', 'who signs in (default: ONBOARD_USERNAME, else asked)')
    .option('--totp-code <code>', 'the code of the authenticator app (default: asked when Cognito asks)')
    .option('--srp', 'sign in with SRP: the password never leaves this machine')
    .option('--cognito-endpoint <url>', 'Cognito endpoint (default: ONBOARD_COGNITO_ENDPOINT, else AWS)')
    .action(async (o: LoginFlags) => {
      const apiUrl = apiUrlOf(o);
      const pool = poolSettings(o);
      const username = o.username ?? process.env.ONBOARD_USERNAME ?? (await ask('user name: '));
      const password = await ask('password: ', { secret: true });
      const session = await login(apiUrl, pool, {
        username,
        password,
        totpCode: async () => o.totpCode ?? (await ask('authenticator code: ')),
        ...(o.srp ? { srp: true } : {}),
      });
      process.stderr.write(
        `signed in to ${apiUrl} as ${session.username} until ${session.expiresAt} (refreshed on use); tokens in ${tokenFile()}\n`,
      );
    });

  program
    .command('logout')
    .description('Forget the tokens of a deployment and revoke its refresh token')
    .option('--api-url <url>', 'the deployment (default: ONBOARD_API_URL)')
    .option('--everywhere', "also sign this user out of every other device (Cognito's GlobalSignOut)")
    .action(async (o: { apiUrl?: string; everywhere?: boolean }) => {
      const apiUrl = apiUrlOf(o);
      const outcome = await logout(apiUrl, { ...(o.everywhere ? { everywhere: true } : {}) });
      for (const warning of outcome.warnings) process.stderr.write(`warning: ${warning}\n`);
      process.stderr.write(outcome.signedIn ? `signed out of ${apiUrl}\n` : `not signed in to ${apiUrl}\n`);
    });
}
