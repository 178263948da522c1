/**
 * The credential chain of the Lambda bundles, swapped in for `@aws-sdk/credential-provider-node`
 * by esbuild's alias (HOUSE_ESBUILD_OPTIONS), like the lean zod.
 *
 * Every SDK client's runtimeConfig imports the Node default chain, and with it SSO, profile files,
 * `credential_process`, web identity, the `aws login` provider and IMDS, together with the STS, SSO,
 * SSO-OIDC and sign-in clients they use: about 80 KiB of every bundle, none of which can yield
 * credentials in Lambda. A function's execution-role credentials arrive as environment variables
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); where a compute platform serves
 * them from a container endpoint instead (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI),
 * the HTTP provider reads them. Those two links, in the default chain's order, are kept.
 *
 * Only the bundles use this module; tests, the CLI and the embedded stack keep the full chain.
 * test/infra/lambda-credentials.test.ts checks the exports and the two links.
 */

import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { CredentialsProviderError } from '@smithy/core/config';

/** What the clients pass (their whole config); only `logger` is read here. */
export interface LambdaProviderInit {
  readonly logger?: { debug?: (...content: unknown[]) => void };
  readonly [key: string]: unknown;
}

const ENV_CONTAINER = [
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
] as const;

/** Same as credential-provider-node: expiring credentials are refreshed 5 minutes early. */
export const credentialsWillNeedRefresh = (credentials?: AwsCredentialIdentity): boolean =>
  credentials?.expiration !== undefined;
export const credentialsTreatedAsExpired = (credentials?: AwsCredentialIdentity): boolean =>
  credentials?.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300_000;

export const defaultProvider = (init: LambdaProviderInit = {}): AwsCredentialIdentityProvider => {
  let cached: Promise<AwsCredentialIdentity> | undefined;
  const resolve = async (): Promise<AwsCredentialIdentity> => {
    if (process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) {
      init.logger?.debug?.('lambda-credentials: fromEnv');
      return fromEnv(init as Parameters<typeof fromEnv>[0])();
    }
    if (ENV_CONTAINER.some((name) => process.env[name])) {
      init.logger?.debug?.('lambda-credentials: fromHttp');
      return fromHttp(init as Parameters<typeof fromHttp>[0])();
    }
    throw new CredentialsProviderError(
      'No credentials: the Lambda bundle reads them from the environment or the container endpoint only',
      { tryNextLink: false, logger: init.logger as never },
    );
  };
  return async (options?: { forceRefresh?: boolean }) => {
    const current = cached ? await cached.catch(() => undefined) : undefined;
    if (!cached || !current || options?.forceRefresh || credentialsTreatedAsExpired(current)) {
      cached = resolve();
    }
    return cached;
  };
};
