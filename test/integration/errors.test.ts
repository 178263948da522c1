/**
 * Every error path of the API, each with its status, its stable problem code and the RFC 9457
 * content type; and the asynchronous failures (match FAILED, list FAILED, ingest FAILED) with a
 * clear code. Noise is on in this file's stack with a tiny budget, to exhaust it.
 */

import { request } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/api-client.ts';
import { type IngestReportView, runMatch, waitForMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { ROUTES } from '../../shared/api/routes.ts';
import {
  exactCountScenario,
  http,
  listKeys,
  putTo,
  type RawResponse,
  range,
  readObject,
  seedPartner,
  sha256Hex,
  startTestStack,
  type TestStack,
} from './helpers.ts';

const PARTNER = 'err-partner';
const ADV = 'err-adv';

let t: TestStack;
let advToken: string;
let partnerToken: string;
let advertiser: ApiClient;
let partner: ApiClient;

const scenario = exactCountScenario({
  base: 0,
  listSize: 150,
  segments: [
    { segmentId: 'big-a', listMatches: 80, others: 40 },
    { segmentId: 'big-b', listMatches: 60, others: 40 },
  ],
});

function expectProblem(res: RawResponse, status: number, code: string) {
  expect(res.status, res.text).toBe(status);
  expect(res.contentType).toBe('application/problem+json');
  expect(res.json).toMatchObject({
    status,
    code,
    type: expect.stringContaining(code),
    title: expect.any(String),
    detail: expect.any(String),
  });
  expect(res.json.detail.length).toBeGreaterThan(0);
}

/** A hashed list, uploaded and ready to match. */
async function readyList(token: string, emails: readonly string[], profile = 'google'): Promise<string> {
  const created = await http(t, 'POST', '/v1/lists', {
    token,
    body: { format: 'hashed', profile, kind: 'email' },
  });
  expect(created.status).toBe(201);
  expect(await putTo(created.json.upload, `${emails.map(sha256Hex).join('\n')}\n`)).toBe(200);
  return created.json.listId;
}

beforeAll(async () => {
  t = await startTestStack({
    RHO_PER_ADVERTISER_PARTNER: '0.02',
    RHO_PER_MATCH: '0.01',
    MIN_LIST_SIZE: '100',
    SHARD_COUNT: '4',
  });
  advToken = t.token(ADV, 'advertiser');
  partnerToken = t.token(PARTNER, 'partner');
  advertiser = t.client(ADV, 'advertiser');
  partner = t.client(PARTNER, 'partner');
  const report = await seedPartner(partner, PARTNER, scenario.segments);
  expect(report.status).toBe('SUCCEEDED');
});

afterAll(async () => {
  await t?.stop();
});

describe('authentication and authorization', () => {
  it('401 unauthorized problem without a token, before the function is invoked, with the Bearer challenge', async () => {
    const res = await http(t, 'GET', '/v1/matches');
    expectProblem(res, 401, 'unauthorized');
    expect(res.json.instance).toBe('/v1/matches');
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('401 with an unknown token or a non-bearer scheme', async () => {
    for (const authorization of [
      'Bearer dev_advertiser_nobody_000000',
      'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
      `Token ${advToken}`,
    ]) {
      const res = await http(t, 'POST', '/v1/lists', { headers: { authorization }, body: {} });
      expectProblem(res, 401, 'unauthorized');
      expect(res.headers.get('www-authenticate'), authorization).toBe('Bearer');
    }
  });

  it('401 problem from the function itself when the claims are missing or malformed', async () => {
    const { handler } = await import('../../lambdas/api.ts');
    const event = (claims?: Record<string, string>) =>
      ({
        version: '2.0',
        routeKey: '$default',
        rawPath: '/v1/matches',
        rawQueryString: '',
        headers: {},
        requestContext: {
          http: {
            method: 'GET',
            path: '/v1/matches',
            protocol: 'HTTP/1.1',
            sourceIp: '127.0.0.1',
            userAgent: 'test',
          },
          requestId: 'test',
          ...(claims ? { authorizer: { jwt: { claims, scopes: [] } } } : {}),
        },
        isBase64Encoded: false,
      }) as unknown as APIGatewayProxyEventV2;
    for (const claims of [
      undefined,
      { 'custom:tenant_id': 'x/../y', 'custom:role': 'advertiser' },
      { 'custom:tenant_id': 'acme', 'custom:role': 'root' },
    ]) {
      const out = (await handler(event(claims))) as APIGatewayProxyStructuredResultV2;
      expect(out.statusCode).toBe(401);
      expect(out.headers?.['content-type']).toBe('application/problem+json');
      expect(out.headers?.['www-authenticate']).toBe('Bearer');
      expect(JSON.parse(out.body ?? '{}')).toMatchObject({ status: 401, code: 'unauthorized' });
    }
  });

  it('403 forbidden: a partner starting a match, an advertiser uploading partner audiences', async () => {
    expectProblem(
      await http(t, 'POST', '/v1/matches', {
        token: partnerToken,
        body: { listId: 'x', partnerId: PARTNER },
      }),
      403,
      'forbidden',
    );
    expectProblem(
      await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
        token: advToken,
        body: { profile: 'google', segments: [{ segmentId: 's', name: 'S' }] },
      }),
      403,
      'forbidden',
    );
    expectProblem(await http(t, 'GET', '/v1/matches', { token: partnerToken }), 403, 'forbidden');
    expectProblem(await http(t, 'POST', '/v1/lists', { token: partnerToken, body: {} }), 403, 'forbidden');
    // Another tenant's audit trail is for the operator only.
    expectProblem(
      await http(t, 'GET', '/v1/audit?tenant=someone-else', { token: advToken }),
      403,
      'forbidden',
    );
  });
});

describe('routing and request validation', () => {
  it('404 not-found on an unknown route, with the path as instance', async () => {
    const res = await http(t, 'GET', '/v1/nope', { token: advToken });
    expectProblem(res, 404, 'not-found');
    expect(res.json.instance).toBe('/v1/nope');
    expectProblem(await http(t, 'GET', '/v2/matches', { token: advToken }), 404, 'not-found');
  });

  it('405 method-not-allowed on a known path with the wrong method', async () => {
    expectProblem(await http(t, 'DELETE', '/v1/matches', { token: advToken }), 405, 'method-not-allowed');
    expectProblem(
      await http(t, 'PUT', '/v1/lists', { token: advToken, body: {} }),
      405,
      'method-not-allowed',
    );
    expectProblem(
      await http(t, 'POST', '/v1/matches/abc', { token: advToken, body: {} }),
      405,
      'method-not-allowed',
    );
  });

  it('400 invalid-request with errors[] naming each bad field', async () => {
    const res = await http(t, 'POST', '/v1/matches', {
      token: advToken,
      body: { listId: 'bad id!', partnerId: 42, minSegmentSize: 'fifty', extra: true },
    });
    expectProblem(res, 400, 'invalid-request');
    const paths = (res.json.errors as { path: string; message: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body.listId', 'body.partnerId', 'body.minSegmentSize']));
    for (const e of res.json.errors) expect(e.message).toEqual(expect.any(String));
    // Path parameters and query strings are validated too.
    const q = await http(t, 'GET', '/v1/matches/abc/download?format=xlsx', { token: advToken });
    expectProblem(q, 400, 'invalid-request');
    expect(q.json.errors[0].path).toBe('query.format');
    const p = await http(t, 'GET', `/v1/matches/${encodeURIComponent('-starts-with-dash')}`, {
      token: advToken,
    });
    expectProblem(p, 400, 'invalid-request');
    expect(p.json.errors[0].path).toBe('path.id');
    // Segment ids must be unique in a partner declaration.
    const dup = await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
      token: partnerToken,
      body: {
        profile: 'google',
        segments: [
          { segmentId: 'a', name: 'A' },
          { segmentId: 'a', name: 'A again' },
        ],
      },
    });
    expectProblem(dup, 400, 'invalid-request');
  });

  it('400 invalid-cursor for any cursor the server did not issue; the issued one pages on', async () => {
    const token = t.token('cursor-adv', 'advertiser');
    for (const cursor of [
      '0',
      'AAAA',
      Buffer.from('match#').toString('base64url'),
      Buffer.from('list#0abc-def').toString('base64url'),
      Buffer.from('match#a#b').toString('base64url'),
      Buffer.from('match#-dash').toString('base64url'),
      // Not canonical: the same bytes as an issued cursor, one padding character more.
      `${Buffer.from('match#abc').toString('base64url')}A`,
    ]) {
      const res = await http(t, 'GET', `/v1/matches?cursor=${encodeURIComponent(cursor)}`, { token });
      expectProblem(res, 400, 'invalid-cursor');
    }
    // Outside the cursor alphabet: a schema failure of the query.
    expectProblem(await http(t, 'GET', '/v1/matches?cursor=%25', { token }), 400, 'invalid-request');
    // A cursor the server issued still works (one match to page over).
    const issued = Buffer.from('match#zzzzzzzzz-any').toString('base64url');
    const page = await http(t, 'GET', `/v1/matches?limit=1&cursor=${issued}`, { token });
    expect(page.status, page.text).toBe(200);
    expect(page.json).toEqual({ matches: [] });
  });

  it('400 invalid-request (not a 500) for a malformed percent-encoding in an id, on every route with one', async () => {
    const idRoutes = ROUTES.filter((r) => r.path.includes('{'));
    expect(idRoutes.length).toBeGreaterThanOrEqual(6);
    for (const route of idRoutes) {
      for (const bad of ['%', '%ZZ', '%E0%A4%A', '%C0']) {
        const path = route.path.replace(/\{\w+\}/g, (m) => (m === '{id}' ? bad : 'ok-id'));
        const token = route.roles?.includes('advertiser') ? advToken : partnerToken;
        const res = await http(t, route.method, path, {
          token,
          ...(route.method === 'POST' ? { body: { profile: 'google', segments: [] } } : {}),
        });
        expectProblem(res, 400, 'invalid-request');
        expect(res.json.errors, `${route.method} ${path}`).toContainEqual({
          path: 'path.id',
          message: 'malformed percent-encoding',
        });
      }
    }
    const res = await http(t, 'GET', `/v1/partners/${PARTNER}/audiences/%ZZ`, { token: partnerToken });
    expectProblem(res, 400, 'invalid-request');
    expect(res.json.errors).toEqual([{ path: 'path.audienceId', message: 'malformed percent-encoding' }]);
  });

  it('400 invalid-json', async () => {
    expectProblem(
      await http(t, 'POST', '/v1/lists', {
        token: advToken,
        rawBody: '{"format": "hashed",',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid-json',
    );
  });

  it('415 unsupported-media-type', async () => {
    expectProblem(
      await http(t, 'POST', '/v1/lists', {
        token: advToken,
        rawBody: 'format=hashed',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      415,
      'unsupported-media-type',
    );
    expectProblem(
      await http(t, 'POST', '/v1/lists', {
        token: advToken,
        rawBody: '{}',
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'unsupported-media-type',
    );
  });

  it('413 body-too-large above 64 KiB', async () => {
    const body = JSON.stringify({ format: 'hashed', column: 'x'.repeat(70 * 1024) });
    expectProblem(
      await http(t, 'POST', '/v1/lists', {
        token: advToken,
        rawBody: body,
        headers: { 'content-type': 'application/json' },
      }),
      413,
      'body-too-large',
    );
  });

  it('413 (not a 500) for a body over the local bridge limit of 1 MiB', async () => {
    // BUG: local/http-bridge.ts readBody throws past 1 MiB and the catch answers 500 `internal`
    // (and leaves the unread body on a kept-alive socket). API Gateway answers 413 for an
    // oversized payload; so should the bridge. A fresh socket, so no other test shares it.
    const body = Buffer.from(JSON.stringify({ format: 'hashed', column: 'x'.repeat(2 * 1024 * 1024) }));
    const status = await new Promise<number | 'reset'>((resolve) => {
      const url = new URL('/v1/lists', t.stack.apiUrl);
      const req = request(
        url,
        {
          method: 'POST',
          agent: false,
          headers: {
            authorization: `Bearer ${advToken}`,
            'content-type': 'application/json',
            'content-length': String(body.length),
            connection: 'close',
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', () => resolve('reset'));
      req.end(body);
    });
    expect(status).toBe(413);
  });
});

describe('match refusals', () => {
  it('422 min-segment-size-below-floor and min-segment-size-above-max; 400 for a non-integer', async () => {
    expectProblem(
      await http(t, 'POST', '/v1/matches', {
        token: advToken,
        body: { listId: 'any', partnerId: PARTNER, minSegmentSize: 49 },
      }),
      422,
      'min-segment-size-below-floor',
    );
    expectProblem(
      await http(t, 'POST', '/v1/matches', {
        token: advToken,
        body: { listId: 'any', partnerId: PARTNER, minSegmentSize: 201 },
      }),
      422,
      'min-segment-size-above-max',
    );
    expectProblem(
      await http(t, 'POST', '/v1/matches', {
        token: advToken,
        body: { listId: 'any', partnerId: PARTNER, minSegmentSize: 50.5 },
      }),
      400,
      'invalid-request',
    );
  });

  it('409 list-not-ready when the list was never PUT', async () => {
    const created = await http(t, 'POST', '/v1/lists', { token: advToken, body: { profile: 'google' } });
    expect(created.status).toBe(201);
    expect(created.json.upload).toMatchObject({
      method: 'PUT',
      headers: { 'content-type': expect.any(String) },
    });
    expect(Date.parse(created.json.upload.expiresAt) - Date.now()).toBeLessThanOrEqual(15 * 60_000 + 5_000);
    expectProblem(
      await http(t, 'POST', '/v1/matches', {
        token: advToken,
        body: { listId: created.json.listId, partnerId: PARTNER },
      }),
      409,
      'list-not-ready',
    );
  });

  it('404 partner-not-found for an unknown partner', async () => {
    const listId = await readyList(advToken, scenario.listPeople.map(personEmail));
    expectProblem(
      await http(t, 'POST', '/v1/matches', {
        token: advToken,
        body: { listId, partnerId: 'no-such-partner' },
      }),
      404,
      'partner-not-found',
    );
  });

  it('422 profile-mismatch: a list hashed with another profile, an upload declaring another profile', async () => {
    const listId = await readyList(advToken, scenario.listPeople.map(personEmail), 'basic');
    expectProblem(
      await http(t, 'POST', '/v1/matches', { token: advToken, body: { listId, partnerId: PARTNER } }),
      422,
      'profile-mismatch',
    );
    expectProblem(
      await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
        token: partnerToken,
        body: { profile: 'basic', segments: [{ segmentId: 'big-a', name: 'A' }] },
      }),
      422,
      'profile-mismatch',
    );
  });

  it('404 not-found on unknown ids', async () => {
    expectProblem(
      await http(t, 'GET', '/v1/matches/00000000-0000-0000-0000-000000000000', { token: advToken }),
      404,
      'not-found',
    );
    expectProblem(
      await http(t, 'GET', '/v1/matches/unknown/download?format=json', { token: advToken }),
      404,
      'not-found',
    );
    expectProblem(await http(t, 'GET', '/v1/lists/unknown', { token: advToken }), 404, 'not-found');
    expectProblem(
      await http(t, 'POST', '/v1/matches', {
        token: advToken,
        body: { listId: 'unknown', partnerId: PARTNER },
      }),
      404,
      'not-found',
    );
    expectProblem(
      await http(t, 'GET', `/v1/partners/${PARTNER}/audiences/unknown`, { token: partnerToken }),
      404,
      'not-found',
    );
  });

  it('a list under the minimum size: match FAILED with list-too-small, no budget spent; download is match-not-finished', async () => {
    const token = t.token('small-adv', 'advertiser');
    const client = t.client('small-adv', 'advertiser');
    const listId = await readyList(token, range(0, 60).map(personEmail));
    const started = await http(t, 'POST', '/v1/matches', { token, body: { listId, partnerId: PARTNER } });
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({ matchId: expect.any(String), status: 'QUEUED' });
    const match = await waitForMatch(client, started.json.matchId, true);
    expect(match.status).toBe('FAILED');
    expect(match.code).toBe('list-too-small');
    expect(match.detail).toMatch(/60 distinct/);
    expect(match.result).toBeUndefined();
    const budget = await client.get<{ advertiser: { spent: number; left: number } }>(
      `/v1/partners/${PARTNER}/budget`,
    );
    expect(budget.advertiser).toMatchObject({ spent: 0, left: 0.02 });
    for (const format of ['csv', 'json']) {
      expectProblem(
        await http(t, 'GET', `/v1/matches/${match.matchId}/download?format=${format}`, { token }),
        409,
        'match-not-finished',
      );
    }
    await t.stack.idle(); // the audit entry is written just after the status flips to FAILED
    const { entries } = await client.get<{ entries: { matchId: string; event: string; code?: string }[] }>(
      '/v1/audit',
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ matchId: match.matchId, event: 'match-refused', code: 'list-too-small' }),
    );
  });

  it('403 privacy-budget-exhausted on the third match once rho 0.02 of 0.02 is spent', async () => {
    const token = t.token('budget-adv', 'advertiser');
    const client = t.client('budget-adv', 'advertiser');
    // Different lists: the same list again would be a replay of the first result, free of charge.
    const first = await runMatch(client, {
      partnerId: PARTNER,
      list: { text: scenario.listText },
      quiet: true,
    });
    expect(first.match.status).toBe('SUCCEEDED');
    expect(first.match.result?.privacy.noise.mechanism).toBe('discrete-gaussian');
    expect(first.match.result?.privacy.budget).toMatchObject({ rhoSpent: 0.01, advertiserLeft: 0.01 });
    const second = await runMatch(client, {
      partnerId: PARTNER,
      list: { text: `${scenario.listText}${range(5000, 60).map(personEmail).join('\n')}\n` },
      quiet: true,
    });
    expect(second.match.status).toBe('SUCCEEDED');
    expect(second.match.result?.privacy.budget).toMatchObject({ rhoSpent: 0.01, advertiserLeft: 0 });

    const listId = await readyList(token, scenario.listPeople.map(personEmail));
    const third = await http(t, 'POST', '/v1/matches', { token, body: { listId, partnerId: PARTNER } });
    expectProblem(third, 403, 'privacy-budget-exhausted');
    const budget = await client.get<Record<string, unknown>>(`/v1/partners/${PARTNER}/budget`);
    await t.stack.idle();
    const { entries } = await client.get<{ entries: { event: string; rhoSpent: number }[] }>('/v1/audit');
    expect(entries.filter((e) => e.event === 'match-released').map((e) => e.rhoSpent)).toEqual([0.01, 0.01]);
    expect(budget).toMatchObject({
      advertiser: { allowance: 0.02, granted: 0, spent: 0.02, left: 0 },
      rhoPerMatch: 0.01,
      matchesLeft: 0,
      noise: true,
    });
    // Another advertiser's budget against the same partner is its own.
    const other = await t
      .client('other-budget-adv', 'advertiser')
      .get<Record<string, unknown>>(`/v1/partners/${PARTNER}/budget`);
    expect(other).toMatchObject({ advertiser: { spent: 0, left: 0.02 }, matchesLeft: 2 });
  });
});

describe('hostile uploads', () => {
  async function rawList(
    bytes: Uint8Array,
  ): Promise<{ listId: string; view: { status: string; code?: string; detail?: string } }> {
    const created = await http(t, 'POST', '/v1/lists', {
      token: advToken,
      body: { format: 'raw', profile: 'google', kind: 'email' },
    });
    expect(created.status).toBe(201);
    expect(await putTo(created.json.upload, bytes)).toBe(200);
    await t.stack.idle();
    const view = await advertiser.get<{ status: string; code?: string; detail?: string }>(
      `/v1/lists/${created.json.listId}`,
    );
    return { listId: created.json.listId, view };
  }

  it('a binary raw list (zip bytes with NULs) is FAILED with a clear code, deleted, and cannot be matched', async () => {
    const zip = Buffer.concat([
      Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00]),
      Buffer.alloc(64, 0),
      Buffer.from('a@example.com\n'),
    ]);
    const { listId, view } = await rawList(zip);
    expect(view.status).toBe('FAILED');
    expect(view.code).toBe('binary-content');
    expect(view.detail).toMatch(/binary content/);
    expect(await listKeys(t, 'UPLOADS_BUCKET', 'raw/')).toEqual([]);
    const res = await http(t, 'POST', '/v1/matches', {
      token: advToken,
      body: { listId, partnerId: PARTNER },
    });
    expectProblem(res, 409, 'list-failed');
    expect(res.json.detail).toContain('binary-content');
  });

  it('raw emails uploaded as a "hashed" list: the match FAILS with invalid-input and the upload is deleted at once', async () => {
    const token = t.token('raw-as-hashed', 'advertiser');
    const client = t.client('raw-as-hashed', 'advertiser');
    const created = await http(t, 'POST', '/v1/lists', {
      token,
      body: { format: 'hashed', profile: 'google', kind: 'email' },
    });
    const emails = range(0, 150).map(personEmail);
    expect(await putTo(created.json.upload, `${emails.join('\n')}\n`)).toBe(200);
    expect(await listKeys(t, 'UPLOADS_BUCKET', `lists/raw-as-hashed/`)).toHaveLength(1);
    const started = await http(t, 'POST', '/v1/matches', {
      token,
      body: { listId: created.json.listId, partnerId: PARTNER },
    });
    const match = await waitForMatch(client, started.json.matchId, true);
    expect(match.status).toBe('FAILED');
    expect(match.code).toBe('invalid-input');
    expect(match.detail).toMatch(/150 rows .* look like raw emails or phone numbers/);
    expect(match.detail).not.toContain('@');
    expect(await listKeys(t, 'UPLOADS_BUCKET', 'lists/raw-as-hashed/')).toEqual([]);
  });

  it('one stray raw email among 200 hashes is skipped and counted, and erased from the stored list', async () => {
    const token = t.token('stray-row', 'advertiser');
    const client = t.client('stray-row', 'advertiser');
    const created = await http(t, 'POST', '/v1/lists', {
      token,
      body: { format: 'hashed', profile: 'google', kind: 'email' },
    });
    const hashes = range(0, 200).map((n) => sha256Hex(personEmail(n)));
    const stray = 'someone.unhashed@example.com';
    expect(
      await putTo(
        created.json.upload,
        `${[...hashes.slice(0, 100), stray, ...hashes.slice(100)].join('\n')}\n`,
      ),
    ).toBe(200);
    const started = await http(t, 'POST', '/v1/matches', {
      token,
      body: { listId: created.json.listId, partnerId: PARTNER },
    });
    const match = await waitForMatch(client, started.json.matchId, true);
    expect(match.status, `${match.code}: ${match.detail}`).toBe('SUCCEEDED');
    expect(match.result?.list).toMatchObject({
      rows: 201,
      valid: 200,
      invalid: 1,
      invalidByReason: { 'raw-identifier': 1 },
    });
    // The stored list (kept for other matches) no longer holds the raw value; its hashes remain.
    const keys = await listKeys(t, 'UPLOADS_BUCKET', 'lists/stray-row/');
    expect(keys).toHaveLength(1);
    const stored = await readObject(t, 'UPLOADS_BUCKET', keys[0] as string);
    expect(stored).not.toContain('@');
    expect(stored.split('\n').filter(Boolean)).toHaveLength(200);
  });

  it('a UTF-16 raw list (with a BOM) is FAILED with a clear code and deleted', async () => {
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`${range(0, 200).map(personEmail).join('\r\n')}\r\n`, 'utf16le'),
    ]);
    const { view } = await rawList(utf16);
    expect(view.status).toBe('FAILED');
    expect(view.code).toBe('unsupported-encoding');
    expect(await listKeys(t, 'UPLOADS_BUCKET', 'raw/')).toEqual([]);
  });

  it('a segment id named like an Object.prototype member is refused with invalid-request', async () => {
    for (const segmentId of ['constructor', 'toString', '__proto__']) {
      const res = await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
        token: partnerToken,
        body: { profile: 'google', segments: [{ segmentId, name: 'Reserved' }] },
      });
      expectProblem(res, 400, 'invalid-request');
    }
  });

  it('a drop PUT again after its ingest ended is deleted, and the report stays as it was', async () => {
    const created = await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
      token: partnerToken,
      body: { profile: 'google', segments: [{ segmentId: 'big-b', name: 'B' }] },
    });
    const csv = `sha256,segment_id\n${scenario.segments[1]?.people.map((n) => `${sha256Hex(personEmail(n))},big-b`).join('\n')}\n`;
    expect(await putTo(created.json.upload, csv)).toBe(200);
    await t.stack.idle();
    const first = await partner.get<IngestReportView>(
      `/v1/partners/${PARTNER}/audiences/${created.json.audienceId}`,
    );
    expect(first.status).toBe('SUCCEEDED');
    expect(await putTo(created.json.upload, csv)).toBe(200);
    await t.stack.idle();
    expect(await listKeys(t, 'PARTNER_DROPS_BUCKET', 'audiences/')).toEqual([]);
    const again = await partner.get<IngestReportView>(
      `/v1/partners/${PARTNER}/audiences/${created.json.audienceId}`,
    );
    expect(again.report).toEqual(first.report);
  });

  it('a partner file with the wrong header: ingest FAILED with a clear code and detail, nothing changed', async () => {
    type Catalogs = {
      partners: { partnerId: string; segments: { segmentId: string; name: string; size: number }[] }[];
    };
    const bigA = (c: Catalogs) =>
      c.partners.find((p) => p.partnerId === PARTNER)?.segments.find((s) => s.segmentId === 'big-a');
    const before = bigA(await partner.get<Catalogs>('/v1/partners'));
    expect(before).toMatchObject({ name: 'big-a' });
    const created = await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
      token: partnerToken,
      body: { profile: 'google', segments: [{ segmentId: 'big-a', name: 'A replaced' }] },
    });
    expect(created.status).toBe(201);
    const csv = `hash,segment\n${range(0, 100)
      .map((n) => `${sha256Hex(personEmail(n))},big-a`)
      .join('\n')}\n`;
    expect(await putTo(created.json.upload, csv)).toBe(200);
    await t.stack.idle();
    const report = await partner.get<IngestReportView>(
      `/v1/partners/${PARTNER}/audiences/${created.json.audienceId}`,
    );
    expect(report.status).toBe('FAILED');
    expect(report.code).toBe('invalid-input');
    expect(report.detail).toMatch(/sha256|column|header/i);
    expect(report.report).toBeUndefined();
    expect(await listKeys(t, 'PARTNER_DROPS_BUCKET', 'audiences/')).toEqual([]);
    // The catalog still holds the original big-a, with the size published for it (noisy, drawn once).
    expect(bigA(await partner.get<Catalogs>('/v1/partners'))).toEqual(before);
  });

  it('a partner file with a sha256 column but no segment_id column: FAILED with invalid-input', async () => {
    const created = await http(t, 'POST', `/v1/partners/${PARTNER}/audiences`, {
      token: partnerToken,
      body: { profile: 'google', segments: [{ segmentId: 'big-b', name: 'B' }] },
    });
    expect(await putTo(created.json.upload, `sha256\n${sha256Hex(personEmail(1))}\n`)).toBe(200);
    await t.stack.idle();
    const report = await partner.get<IngestReportView>(
      `/v1/partners/${PARTNER}/audiences/${created.json.audienceId}`,
    );
    expect(report).toMatchObject({ status: 'FAILED', code: 'invalid-input' });
    expect(report.detail).toMatch(/segment_id/);
  });
});
