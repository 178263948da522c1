/** The small rules of `onboard login`: Cognito's SRP encodings, the session key of an API URL, where the pool comes from. */
import { describe, expect, it } from 'vitest';
import { poolSettings } from '../../cli/login.ts';
import { padHex, srpTimestamp } from '../../cli/srp.ts';
import { apiKey, tokenFile } from '../../cli/token-store.ts';

describe('SRP encodings as Cognito reads them', () => {
  it('pads hex to whole bytes with a 00 before a set top bit', () => {
    expect(padHex(0xfn)).toBe('0f');
    expect(padHex(0x7fn)).toBe('7f');
    expect(padHex(0x80n)).toBe('0080');
    expect(padHex(0x1234n)).toBe('1234');
    expect(padHex(0xabcn)).toBe('0abc');
  });

  it('writes the timestamp with an unpadded day of month, in UTC', () => {
    expect(srpTimestamp(new Date('2026-11-03T07:05:09Z'))).toBe('Tue Nov 3 07:05:09 UTC 2026');
    expect(srpTimestamp(new Date('2026-01-25T23:59:00Z'))).toBe('Sun Jan 25 23:59:00 UTC 2026');
  });
});

describe('sessions and pools', () => {
  it('keys a session by the API URL without a trailing slash or /v1', () => {
    const key = 'https://abc.execute-api.eu-west-1.amazonaws.com';
    for (const url of [key, `${key}/`, `${key}/v1`, `${key}/v1/`]) expect(apiKey(url)).toBe(key);
    expect(apiKey('http://127.0.0.1:8080/prod/')).toBe('http://127.0.0.1:8080/prod');
  });

  it('keeps the tokens under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(tokenFile({ XDG_CONFIG_HOME: '/x/cfg' })).toBe('/x/cfg/onboard/tokens.json');
    expect(tokenFile({})).toMatch(/\/\.config\/onboard\/tokens\.json$/);
  });

  it('takes the pool and client from flags over the environment, and the region from the pool id', () => {
    const env = { ONBOARD_USER_POOL_ID: 'eu-west-1_Env123', ONBOARD_CLIENT_ID: 'envclient' };
    expect(poolSettings({}, env)).toEqual({
      userPoolId: 'eu-west-1_Env123',
      clientId: 'envclient',
      region: 'eu-west-1',
    });
    expect(poolSettings({ userPoolId: 'us-gov-west-1_Flag9', clientId: 'flag' }, env)).toMatchObject({
      region: 'us-gov-west-1',
      clientId: 'flag',
    });
    expect(() => poolSettings({}, {})).toThrow(/ONBOARD_USER_POOL_ID and ONBOARD_CLIENT_ID/);
    expect(() => poolSettings({ userPoolId: 'nopool', clientId: 'c' }, {})).toThrow(/not a user pool id/);
  });
});
