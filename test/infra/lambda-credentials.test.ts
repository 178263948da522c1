import * as nodeChain from '@aws-sdk/credential-provider-node';
import { afterEach, describe, expect, it } from 'vitest';
import * as lean from '../../cdk/bundling/lambda-credentials.ts';

const SAVED = { ...process.env };
const CREDENTIAL_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
];
const clearCredentialEnv = () => {
  for (const name of CREDENTIAL_ENV) delete process.env[name];
};
afterEach(() => {
  clearCredentialEnv();
  Object.assign(process.env, SAVED);
});

describe('the Lambda credential chain swapped into the bundles', () => {
  it('exports what @aws-sdk/credential-provider-node exports (the clients import defaultProvider)', () => {
    const names = (m: object) => Object.keys(m).filter((k) => k !== 'default' && k !== 'LambdaProviderInit');
    expect(names(lean).sort()).toEqual(names(nodeChain).sort());
  });

  it('reads the execution-role credentials Lambda puts in the environment', async () => {
    clearCredentialEnv();
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.AWS_SESSION_TOKEN = 'session';
    const creds = await lean.defaultProvider()();
    expect(creds).toMatchObject({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'session',
    });
  });

  it('fails with a CredentialsProviderError (not a profile or SSO lookup) when there are none', async () => {
    clearCredentialEnv();
    await expect(lean.defaultProvider()()).rejects.toMatchObject({
      name: 'CredentialsProviderError',
      message: expect.stringContaining('environment or the container endpoint'),
    });
  });

  it('refreshes expiring credentials five minutes early, like the Node chain', () => {
    const soon = { accessKeyId: 'a', secretAccessKey: 'b', expiration: new Date(Date.now() + 60_000) };
    const later = { ...soon, expiration: new Date(Date.now() + 3_600_000) };
    for (const creds of [soon, later, { accessKeyId: 'a', secretAccessKey: 'b' }]) {
      expect(lean.credentialsTreatedAsExpired(creds)).toBe(nodeChain.credentialsTreatedAsExpired(creds));
      expect(lean.credentialsWillNeedRefresh(creds)).toBe(nodeChain.credentialsWillNeedRefresh(creds));
    }
  });
});
