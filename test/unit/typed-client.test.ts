/**
 * The CLI's typed client: each operation is called by its operationId, with the method and path of
 * the route table, its path parameters encoded and its query appended, and typed from the zod
 * schemas (the `@ts-expect-error` lines fail `tsc --noEmit` if a wrong call ever type-checks).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { ApiClient, ApiError, TOKEN_REFUSED } from '../../cli/api-client.ts';
import { operationPath, type ResponseOf } from '../../cli/typed-client.ts';
import { ROUTES } from '../../shared/api/routes.ts';

const seen: { method: string; url: string; authorization?: string; body: string }[] = [];
let answer: { status: number; body: unknown } = { status: 200, body: {} };
const server = createServer(async (req: IncomingMessage, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
});
let baseUrl = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('the typed client', () => {
  it('fills and encodes path parameters and appends the query, from the route table', () => {
    const route = ROUTES.find((r) => r.operationId === 'getMatchDownload');
    expect(route?.path).toBe('/v1/matches/{id}/download');
    expect(
      operationPath(route as (typeof ROUTES)[number], { params: { id: 'a/b c' }, query: { format: 'json' } }),
    ).toBe('/v1/matches/a%2Fb%20c/download?format=json');
    expect(() => operationPath(route as (typeof ROUTES)[number])).toThrow(/path parameter id is missing/);
  });

  it('sends each operation with its method, path, body and token', async () => {
    const client = new ApiClient(baseUrl, 't0ken');
    answer = { status: 200, body: { matches: [], nextCursor: 'c2' } };
    const page = await client.call('listMatches', { query: { cursor: 'c1', limit: 5 } });
    expect(page.nextCursor).toBe('c2');
    answer = { status: 202, body: { matchId: 'm1', status: 'QUEUED' } };
    const started = await client.call('startMatch', { body: { listId: 'l1', partnerId: 'p1' } });
    expect(started.matchId).toBe('m1');
    answer = { status: 200, body: { partners: [] } };
    await client.call('listPartners');
    expect(seen.slice(-3)).toEqual([
      { method: 'GET', url: '/v1/matches?cursor=c1&limit=5', authorization: 'Bearer t0ken', body: '' },
      {
        method: 'POST',
        url: '/v1/matches',
        authorization: 'Bearer t0ken',
        body: '{"listId":"l1","partnerId":"p1"}',
      },
      { method: 'GET', url: '/v1/partners', authorization: 'Bearer t0ken', body: '' },
    ]);
  });

  it('asks a token source before each request (a signed-in session refreshes there)', async () => {
    let n = 0;
    const client = new ApiClient(baseUrl, async () => `fresh-${++n}`);
    answer = { status: 200, body: { partners: [] } };
    await client.call('listPartners');
    await client.call('listPartners');
    expect(seen.slice(-2).map((s) => s.authorization)).toEqual(['Bearer fresh-1', 'Bearer fresh-2']);
  });

  it('says the token expired or was refused when the API answers 401 to a token', async () => {
    answer = { status: 401, body: { message: 'Unauthorized' } };
    const error = await new ApiClient(baseUrl, 'old')
      .call('getMatch', { params: { id: 'm1' } })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, code: 'unauthorized' });
    expect((error as ApiError).detail).toContain(TOKEN_REFUSED);
    expect(TOKEN_REFUSED).toBe('the token expired or was refused, run `onboard login`');
  });

  it('types each call from the zod schemas of its route', () => {
    expectTypeOf<ResponseOf<'getMatch'>['status']>().toEqualTypeOf<
      'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED'
    >();
    expectTypeOf<ResponseOf<'getBudget'>['matchesLeft']>().toEqualTypeOf<number | null>();
    expectTypeOf<ResponseOf<'getMatchDownload'>['url']>().toEqualTypeOf<string>();
    const client = new ApiClient(baseUrl, undefined);
    const never = () => {
      // @ts-expect-error an operation that does not exist
      void client.call('getMatches');
      // @ts-expect-error getMatch needs its path parameter
      void client.call('getMatch');
      // @ts-expect-error startMatch needs a body with listId and partnerId
      void client.call('startMatch', { body: { listId: 'l1' } });
      // @ts-expect-error listPartners takes no path parameter
      void client.call('listPartners', { params: { id: 'x' } });
    };
    expect(typeof never).toBe('function');
  });
});
