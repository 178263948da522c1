/**
 * Isolation (docs/privacy.md, rule 8): an advertiser sees only its own lists, matches and downloads
 * (another's are 404 not-found, never 403, so their existence is not disclosed); a partner only
 * its own audience uploads and ingest reports; and no response anywhere carries a member hash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/api-client.ts';
import { type MatchView, runMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import {
  digestLikeStrings,
  exactCountScenario,
  http,
  memberHashes,
  type RawResponse,
  recordResponses,
  seedPartner,
  sha256Base64,
  sha256Hex,
  startTestStack,
  type TestStack,
} from './helpers.ts';

const P1 = 'iso-p1';
const P2 = 'iso-p2';
const A = 'iso-a';
const B = 'iso-b';

let t: TestStack;
let recorder: ReturnType<typeof recordResponses>;
let a: ApiClient;
let tokenA: string;
let tokenB: string;
let tokenP1: string;
let tokenP2: string;
let matchA: MatchView;
let p1AudienceId: string;

const s1 = exactCountScenario({
  base: 0,
  listSize: 200,
  segments: [
    { segmentId: 'alpha', listMatches: 80, others: 100 },
    { segmentId: 'beta', listMatches: 60, others: 100 },
  ],
});
const s2 = exactCountScenario({
  base: 50_000,
  listSize: 150,
  segments: [{ segmentId: 'gamma', listMatches: 70, others: 100 }],
});

function expectNotFound(res: RawResponse) {
  expect(res.status, res.text).toBe(404);
  expect(res.contentType).toBe('application/problem+json');
  expect(res.json.code).toBe('not-found');
}

beforeAll(async () => {
  t = await startTestStack({ UNSAFE_NOISE_OFF_FOR_TESTS: 'true', MIN_LIST_SIZE: '100', SHARD_COUNT: '4' });
  recorder = recordResponses();
  tokenA = t.token(A, 'advertiser');
  tokenB = t.token(B, 'advertiser');
  tokenP1 = t.token(P1, 'partner');
  tokenP2 = t.token(P2, 'partner');
  a = t.client(A, 'advertiser');
  const r1 = await seedPartner(t.client(P1, 'partner'), P1, s1.segments);
  expect(r1.status).toBe('SUCCEEDED');
  p1AudienceId = r1.audienceId;
  expect((await seedPartner(t.client(P2, 'partner'), P2, s2.segments)).status).toBe('SUCCEEDED');
  matchA = (await runMatch(a, { partnerId: P1, list: { text: s1.listText }, quiet: true })).match;
  expect(matchA.status).toBe('SUCCEEDED');
});

afterAll(async () => {
  recorder?.restore();
  await t?.stop();
});

describe('advertisers', () => {
  it('A sees its own list, match and downloads', async () => {
    expect((await http(t, 'GET', `/v1/lists/${matchA.listId}`, { token: tokenA })).status).toBe(200);
    expect((await http(t, 'GET', `/v1/matches/${matchA.matchId}`, { token: tokenA })).status).toBe(200);
    const dl = await http(t, 'GET', `/v1/matches/${matchA.matchId}/download?format=json`, { token: tokenA });
    expect(dl.status).toBe(200);
    expect((await fetch(dl.json.url)).status).toBe(200);
  });

  it("B gets 404 not-found (not 403) for A's list, match and downloads", async () => {
    expectNotFound(await http(t, 'GET', `/v1/lists/${matchA.listId}`, { token: tokenB }));
    expectNotFound(await http(t, 'GET', `/v1/matches/${matchA.matchId}`, { token: tokenB }));
    for (const format of ['csv', 'json']) {
      expectNotFound(
        await http(t, 'GET', `/v1/matches/${matchA.matchId}/download?format=${format}`, { token: tokenB }),
      );
    }
    // Nor can B match A's list.
    expectNotFound(
      await http(t, 'POST', '/v1/matches', { token: tokenB, body: { listId: matchA.listId, partnerId: P1 } }),
    );
    // The answer for A's ids is the very answer for ids that never existed.
    const ghost = await http(t, 'GET', '/v1/matches/00000000-0000-4000-8000-000000000000', { token: tokenB });
    const real = await http(t, 'GET', `/v1/matches/${matchA.matchId}`, { token: tokenB });
    expect({ ...real.json, instance: undefined }).toEqual({ ...ghost.json, instance: undefined });
  });

  it("GET /v1/matches of B is empty; B's audit trail holds none of A's matches", async () => {
    const mine = await http(t, 'GET', '/v1/matches', { token: tokenB });
    expect(mine.status).toBe(200);
    expect(mine.json).toEqual({ matches: [] });
    const audit = await http(t, 'GET', '/v1/audit', { token: tokenB });
    expect(audit.status).toBe(200);
    expect(audit.json.entries).toEqual([]);
    const ofA = await http(t, 'GET', '/v1/matches', { token: tokenA });
    expect(ofA.json.matches.map((m: { matchId: string }) => m.matchId)).toEqual([matchA.matchId]);
  });

  it("another tenant's audit trail is for the operator only", async () => {
    const denied = await http(t, 'GET', `/v1/audit?tenant=${A}`, { token: tokenB });
    expect(denied.status).toBe(403);
    await t.stack.idle();
    const operator = await http(t, 'GET', `/v1/audit?tenant=${A}`, { token: t.token('operator', 'admin') });
    expect(operator.status).toBe(200);
    expect(operator.json.entries.map((e: { matchId: string }) => e.matchId)).toContain(matchA.matchId);
  });

  it("B's upload ticket is scoped to B's own key space", async () => {
    // An upload ticket is for one key under the caller's tenant. (That a tampered key is refused
    // is S3's SigV4 check: s3rver does not implement it, so it cannot be tested here.)
    const created = await http(t, 'POST', '/v1/lists', { token: tokenB, body: { profile: 'google' } });
    const url = new URL(created.json.upload.url);
    expect(url.pathname).toMatch(new RegExp(`/lists/${B}/${created.json.listId}\\.hashed$`));
    expect(url.pathname).not.toContain(A);
    expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(900);
  });
});

describe('partners', () => {
  it("P2 cannot create uploads for P1 nor read P1's ingest reports (404, not 403)", async () => {
    expectNotFound(
      await http(t, 'POST', `/v1/partners/${P1}/audiences`, {
        token: tokenP2,
        body: { profile: 'google', segments: [{ segmentId: 'alpha', name: 'Hijacked' }] },
      }),
    );
    expectNotFound(await http(t, 'GET', `/v1/partners/${P1}/audiences/${p1AudienceId}`, { token: tokenP2 }));
    // Nor through its own path with P1's audience id.
    expectNotFound(await http(t, 'GET', `/v1/partners/${P2}/audiences/${p1AudienceId}`, { token: tokenP2 }));
    // P1 reads its own report; the operator reads any.
    expect(
      (await http(t, 'GET', `/v1/partners/${P1}/audiences/${p1AudienceId}`, { token: tokenP1 })).status,
    ).toBe(200);
    expect(
      (
        await http(t, 'GET', `/v1/partners/${P1}/audiences/${p1AudienceId}`, {
          token: t.token('operator', 'admin'),
        })
      ).status,
    ).toBe(200);
  });

  it("P1's catalog is unchanged by P2's attempts", async () => {
    const res = await http(t, 'GET', '/v1/partners', { token: tokenP2 });
    const p1 = res.json.partners.find((p: { partnerId: string }) => p.partnerId === P1);
    expect(
      p1.segments.map((s: { segmentId: string; name: string; size: number }) => [
        s.segmentId,
        s.name,
        s.size,
      ]),
    ).toEqual([
      ['alpha', 'alpha', 180],
      ['beta', 'beta', 160],
    ]);
  });

  it("partners cannot read advertisers' matches or lists (role), and get no match listing", async () => {
    expect((await http(t, 'GET', `/v1/matches/${matchA.matchId}`, { token: tokenP1 })).status).toBe(403);
    expect((await http(t, 'GET', `/v1/lists/${matchA.listId}`, { token: tokenP1 })).status).toBe(403);
    expect((await http(t, 'GET', '/v1/matches', { token: tokenP1 })).status).toBe(403);
  });
});

describe('nobody sees a partner member', () => {
  it('no response body (API, uploads, downloads) holds a member hash, hex or base64, nor an email', async () => {
    await t.stack.idle();
    // One more round of every read, so each kind of response is in the recording.
    for (const token of [tokenA, tokenB, tokenP1, tokenP2, t.token('operator', 'admin')]) {
      await http(t, 'GET', '/v1/partners', { token });
      await http(t, 'GET', '/v1/audit', { token });
    }
    await a.get(`/v1/matches/${matchA.matchId}`);
    for (const format of ['csv', 'json']) {
      const { url } = await a.get<{ url: string }>(`/v1/matches/${matchA.matchId}/download?format=${format}`);
      await fetch(url);
    }
    const responses = recorder.responses;
    expect(responses.length).toBeGreaterThan(40);
    const hexMembers = new Set([...memberHashes(s1.segments), ...memberHashes(s2.segments)]);
    const emails = [...s1.segments, ...s2.segments].flatMap((s) => s.people.map(personEmail));
    const base64Members = new Set(emails.map(sha256Base64));
    expect(hexMembers.size).toBe(180 + 160 + 170);
    let scanned = 0;
    for (const r of responses) {
      const found = digestLikeStrings(r.body);
      const leakedHex = found.hex.filter((h) => hexMembers.has(h));
      const leakedB64 = found.base64.filter((h) => base64Members.has(h));
      expect(leakedHex, `${r.method} ${r.url}`).toEqual([]);
      expect(leakedB64, `${r.method} ${r.url}`).toEqual([]);
      // No 64-hex value at all in a JSON body other than inside a presigned URL's signature.
      const bodyWithoutUrls = r.body.replace(/https?:\/\/[^"\s]+/g, '');
      expect(digestLikeStrings(bodyWithoutUrls).hex, `${r.method} ${r.url}`).toEqual([]);
      scanned += r.body.length;
    }
    expect(scanned).toBeGreaterThan(1000);
    const all = responses.map((r) => r.body).join('\n');
    for (const email of emails.slice(0, 50)) expect(all).not.toContain(email);
    // The advertiser's own list hashes are not echoed back either.
    for (const n of s1.listPeople.slice(0, 50)) expect(all).not.toContain(sha256Hex(personEmail(n)));
  });
});
