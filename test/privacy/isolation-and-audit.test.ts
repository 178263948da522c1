/**
 * Isolation and audit (docs/privacy.md, rule 8 and 9), noise on. An advertiser B tries to read what
 * advertiser A did (matches, downloads, lists, budget, audit); a partner tries to read another
 * partner's ingest reports, the advertisers' matches and anything about members; the partner
 * catalog, readable by every tenant, is checked to carry names and sizes only. Then the audit
 * trail: every match of the caller with k, noise, epsilon spent and suppressed counts, replays
 * with 0 spend, refused matches with their code; the operator reads any tenant's trail, nobody
 * else does.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/api-client.ts';
import type { MatchView } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { hmacKeyer, parsePepperRing } from '../../shared/adapters/pepper.ts';
import {
  http,
  type RawResponse,
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import { auditOf, budgetOf, digestSpellings, hexLines, matchLines, sha256Bytes } from './kit.ts';

const P1 = 'ia-p1';
const P2 = 'ia-p2';
const A = 'ia-adv-a';
const B = 'ia-adv-b';
const VICTIM = 700_000;

let t: TestStack;
let a: ApiClient;
let b: ApiClient;
let p1AudienceId: string;
/** A's matches: released, replayed, refused (too small), a second list, and one on P2. */
const m: Record<'released' | 'replayed' | 'refused' | 'difference' | 'other', MatchView> = {} as never;
let matchB: MatchView;

const p1Segments: SeedSegment[] = [
  {
    segmentId: 'alpha',
    name: 'Alpha',
    description: 'first',
    people: [...range(0, 120), ...range(10_000, 900)],
  },
  {
    segmentId: 'beta',
    name: 'Beta',
    description: 'second',
    people: [...range(100, 100), ...range(11_000, 900)],
  },
  {
    segmentId: 'gamma',
    name: 'Gamma',
    description: 'tiny',
    people: [...range(300, 5), ...range(12_000, 300)],
  },
];
const p2Segments: SeedSegment[] = [
  { segmentId: 'delta', name: 'Delta', people: [...range(0, 150), ...range(20_000, 900)] },
];
const L = [...range(0, 250), ...range(300, 5), ...range(900_000, 100)];

const notFound = (res: RawResponse) => {
  expect(res.status, res.text).toBe(404);
  expect(res.json.code).toBe('not-found');
};
const forbidden = (res: RawResponse) => {
  expect(res.status, res.text).toBe(403);
  expect(res.json.code).toBe('forbidden');
};

beforeAll(async () => {
  t = await startTestStack({
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: '50',
    SHARD_COUNT: '4',
  });
  a = t.client(A, 'advertiser');
  b = t.client(B, 'advertiser');
  const [r1, r2] = await Promise.all([
    seedPartner(t.client(P1, 'partner'), P1, p1Segments),
    seedPartner(t.client(P2, 'partner'), P2, p2Segments),
  ]);
  expect([r1.status, r2.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  p1AudienceId = r1.audienceId;
  m.released = await matchLines(a, P1, hexLines(L));
  m.replayed = await matchLines(a, P1, hexLines([...L].reverse()));
  m.refused = await matchLines(a, P1, hexLines(range(0, 40)));
  m.difference = await matchLines(a, P1, hexLines([...L, VICTIM]));
  m.other = await matchLines(a, P2, hexLines(L));
  matchB = await matchLines(b, P1, hexLines(range(0, 200)));
  expect([m.released, m.replayed, m.refused, m.difference, m.other, matchB].map((x) => x.status)).toEqual([
    'SUCCEEDED',
    'SUCCEEDED',
    'FAILED',
    'SUCCEEDED',
    'SUCCEEDED',
    'SUCCEEDED',
  ]);
});

afterAll(async () => {
  await t?.stop();
});

describe('advertiser B against advertiser A (rule 8)', () => {
  it("B cannot read A's matches, their downloads or A's lists (404 not-found, as for ids that never existed)", async () => {
    const tokenB = t.token(B, 'advertiser');
    for (const match of Object.values(m)) {
      notFound(await http(t, 'GET', `/v1/matches/${match.matchId}`, { token: tokenB }));
      notFound(await http(t, 'GET', `/v1/lists/${match.listId}`, { token: tokenB }));
      for (const format of ['csv', 'json']) {
        notFound(
          await http(t, 'GET', `/v1/matches/${match.matchId}/download?format=${format}`, { token: tokenB }),
        );
      }
    }
    // The answer for A's ids is the very answer for ids that never existed.
    const ghost = await http(t, 'GET', '/v1/matches/00000000-0000-4000-8000-000000000000', { token: tokenB });
    const real = await http(t, 'GET', `/v1/matches/${m.released.matchId}`, { token: tokenB });
    expect({ ...real.json, instance: undefined }).toEqual({ ...ghost.json, instance: undefined });
    const listed = await b.get<{ matches: { matchId: string }[] }>('/v1/matches');
    expect(listed.matches.map((x) => x.matchId)).toEqual([matchB.matchId]);
  });

  it("B cannot match A's list against a partner (404 not-found)", async () => {
    notFound(
      await http(t, 'POST', '/v1/matches', {
        token: t.token(B, 'advertiser'),
        body: { listId: m.released.listId, partnerId: P1 },
      }),
    );
  });

  it("the budget is per advertiser: A's spend against P1 is not B's, and each sees only its own", async () => {
    // A: released + the second list spent 0.01 each; the replay and the refused match spent nothing.
    expect((await budgetOf(a, P1)).advertiser).toMatchObject({ spent: 0.02, left: 0.38 });
    expect((await budgetOf(a, P2)).advertiser).toMatchObject({ spent: 0.01, left: 0.39 });
    expect((await budgetOf(b, P1)).advertiser).toMatchObject({ spent: 0.01, left: 0.39 });
    expect((await budgetOf(b, P2)).advertiser).toMatchObject({ spent: 0, left: 0.4 });
    // The partner-wide budget is shared: A's two and B's one matches against P1 all count.
    expect((await budgetOf(b, P1)).partnerLeft).toBeCloseTo(0.97, 9);
  });
});

describe('partners (rule 8)', () => {
  it("P2 cannot read P1's ingest report nor create an upload for P1 (404 not-found)", async () => {
    const tokenP2 = t.token(P2, 'partner');
    notFound(await http(t, 'GET', `/v1/partners/${P1}/audiences/${p1AudienceId}`, { token: tokenP2 }));
    notFound(await http(t, 'GET', `/v1/partners/${P2}/audiences/${p1AudienceId}`, { token: tokenP2 }));
    notFound(
      await http(t, 'POST', `/v1/partners/${P1}/audiences`, {
        token: tokenP2,
        body: { profile: 'google', segments: [{ segmentId: 'alpha', name: 'x' }] },
      }),
    );
    expect(
      (
        await http(t, 'GET', `/v1/partners/${P1}/audiences/${p1AudienceId}`, {
          token: t.token(P1, 'partner'),
        })
      ).status,
    ).toBe(200);
  });

  it("a partner cannot read the advertisers' matches, lists, budgets or audit trails (403 forbidden)", async () => {
    const tokenP1 = t.token(P1, 'partner');
    forbidden(await http(t, 'GET', `/v1/matches/${m.released.matchId}`, { token: tokenP1 }));
    forbidden(await http(t, 'GET', '/v1/matches', { token: tokenP1 }));
    forbidden(await http(t, 'GET', `/v1/lists/${m.released.listId}`, { token: tokenP1 }));
    forbidden(await http(t, 'GET', `/v1/partners/${P1}/budget`, { token: tokenP1 }));
    forbidden(await http(t, 'GET', `/v1/audit?tenant=${A}`, { token: tokenP1 }));
    // Its own trail holds no advertiser's match against it.
    const own = await http(t, 'GET', '/v1/audit', { token: tokenP1 });
    expect(own.status).toBe(200);
    // Its own trail holds its catalog publications only: nothing about any advertiser's match.
    expect(own.json.entries.map((e: { event: string }) => e.event)).toEqual(['catalog-published']);
  });

  it('an advertiser cannot upload partner audiences (403), nor read an ingest report (403)', async () => {
    const tokenA = t.token(A, 'advertiser');
    forbidden(
      await http(t, 'POST', `/v1/partners/${P1}/audiences`, {
        token: tokenA,
        body: { profile: 'google', segments: [{ segmentId: 'alpha', name: 'x' }] },
      }),
    );
    forbidden(await http(t, 'GET', `/v1/partners/${P1}/audiences/${p1AudienceId}`, { token: tokenA }));
  });

  it('GET /v1/partners shows names, descriptions and sizes only: no member, hash or keyed value, to any tenant', async () => {
    const ring = parsePepperRing(readFileSync(t.stack.env.PEPPER_FILE as string, 'utf8'));
    const keyer = hmacKeyer(ring);
    const people = [...new Set([...p1Segments, ...p2Segments].flatMap((s) => s.people))];
    const forbiddenStrings = people.flatMap((n) => {
      const digest = sha256Bytes(personEmail(n));
      return [personEmail(n), ...digestSpellings(digest), keyer.key(new Uint8Array(digest))];
    });
    for (const [tenant, role] of [
      [A, 'advertiser'],
      [P1, 'partner'],
      [P2, 'partner'],
      ['operator', 'admin'],
    ] as const) {
      const res = await http(t, 'GET', '/v1/partners', { token: t.token(tenant, role) });
      expect(res.status).toBe(200);
      for (const partner of res.json.partners) {
        expect(Object.keys(partner).sort()).toEqual([
          'baseSize',
          'kinds',
          'partnerId',
          'profile',
          'segments',
        ]);
        for (const s of partner.segments)
          expect(Object.keys(s).sort()).toEqual(['description', 'kinds', 'name', 'segmentId', 'size']);
      }
      const text = res.text;
      for (const value of forbiddenStrings)
        expect(text.includes(value), `GET /v1/partners as ${tenant} holds a member value`).toBe(false);
    }
  });
});

describe('audit (rule 9)', () => {
  it('GET /v1/audit shows every match of the caller with k, noise, rho spent and suppressed counts', async () => {
    await t.stack.idle();
    const entries = await auditOf(a);
    const byMatch = new Map(entries.map((e) => [e.matchId, e]));
    const mine = await a.get<{ matches: { matchId: string }[] }>('/v1/matches');
    expect(mine.matches).toHaveLength(5);
    for (const { matchId } of mine.matches)
      expect(byMatch.has(matchId), `match ${matchId} is audited`).toBe(true);
    for (const e of entries) expect(e.tenantId).toBe(A);

    const released = byMatch.get(m.released.matchId);
    const result = m.released.result as NonNullable<MatchView['result']>;
    expect(released).toMatchObject({
      event: 'match-released',
      partnerId: P1,
      k: 50,
      noise: 'discrete-gaussian',
      rhoSpent: 0.01,
      rhoLeft: 0.39,
      period: expect.stringMatching(/^\d{4}-\d{2}$/),
      rounding: 'none',
      suppressedSegments: result.segments.filter((s) => s.suppressed).length,
    });
    // gamma (5 of the list) is always under k.
    expect(released?.suppressedSegments).toBeGreaterThanOrEqual(1);
    expect(byMatch.get(m.other.matchId)).toMatchObject({
      event: 'match-released',
      partnerId: P2,
      rhoSpent: 0.01,
      rhoLeft: 0.39,
    });
  });

  it('replays are audited with 0 spend and the match they repeat, refused matches with their code and 0 spend', async () => {
    const byMatch = new Map((await auditOf(a)).map((e) => [e.matchId, e]));
    expect(byMatch.get(m.replayed.matchId)).toMatchObject({
      event: 'match-replayed',
      rhoSpent: 0,
      replayOf: m.released.matchId,
      k: 50,
    });
    expect(byMatch.get(m.refused.matchId)).toMatchObject({
      event: 'match-refused',
      code: 'list-too-small',
      rhoSpent: 0,
      k: 50,
    });
    const diff = byMatch.get(m.difference.matchId);
    expect(diff).toMatchObject({ event: 'match-released', rhoSpent: 0.01, rhoLeft: 0.38 });
  });

  it("the operator reads A's audit with ?tenant=; an advertiser cannot read another's (403 forbidden)", async () => {
    const operator = t.client('operator', 'admin');
    const ofA = await auditOf(operator, A);
    expect(new Set(ofA.map((e) => e.matchId))).toEqual(new Set(Object.values(m).map((x) => x.matchId)));
    const ofB = await auditOf(operator, B);
    expect(ofB.map((e) => e.matchId)).toEqual([matchB.matchId]);
    forbidden(await http(t, 'GET', `/v1/audit?tenant=${A}`, { token: t.token(B, 'advertiser') }));
    forbidden(await http(t, 'GET', `/v1/audit?tenant=${B}`, { token: t.token(A, 'advertiser') }));
    // B's own trail holds none of A's matches.
    expect((await auditOf(b)).map((e) => e.matchId)).toEqual([matchB.matchId]);
    expect((await http(t, 'GET', '/v1/audit')).status).toBe(401);
  });

  it('the audit trail holds no personal data (no email, no digest, no keyed value)', async () => {
    const text = JSON.stringify(await auditOf(t.client('operator', 'admin'), A));
    for (const n of [...L, VICTIM]) {
      expect(text.includes(personEmail(n))).toBe(false);
      for (const s of digestSpellings(sha256Bytes(personEmail(n)))) expect(text.includes(s)).toBe(false);
    }
  });
});
