/**
 * Noise and budgets (rule 5), noise on: every result says which noise it carries (the discrete
 * Gaussian, rho, sigma, the squared sensitivity) and the budgets left; the per advertiser-and-
 * partner budget and the partner-wide budget (all advertisers together) are spent atomically under
 * concurrency (exactly as many matches succeed as the budgets pay for, the others fail with
 * privacy-budget-exhausted), are shown through the API with the cost of a match and the renewal
 * date, and are never refilled within a period except by the operator's audited grant route.
 * Many accounts buy nothing: sixteen advertisers together get only what the partner-wide budget
 * pays for. Catalog sizes are published noisy, rounded, and not at all under k.
 *
 * Rho 0.1 a match out of 0.3: 0.3 / 0.1 is 2.9999999999999996 in floating point, so a ledger that
 * added floats would let only 2 through; the ledger counts micro-rho and lets 3.
 * The statistics of the noise itself are tested in test/unit/noise.test.ts; what an attacker can
 * learn from it, in guarantee-attacks.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../cli/api-client.ts';
import { type MatchView, waitForMatch } from '../../cli/flows.ts';
import {
  http,
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import { apiErrorOf, auditOf, budgetOf, hexLines, matchLines, startMatch, uploadHashedList } from './kit.ts';

const K = 20;
const RHO = 0.1;
const BUDGET = 0.3;
/** The partner-wide budget: what all advertisers together may spend against one partner. */
const PARTNER_BUDGET = 1;
/** How many matches the budget pays for, in exact decimal arithmetic. */
const AFFORDABLE = Math.floor(Math.round(BUDGET * 1e6) / Math.round(RHO * 1e6));
const PARTNER = 'nb-partner';
const OTHER_PARTNER = 'nb-other';
const SHARED_PARTNER = 'nb-shared';

let t: TestStack;

/** Base people 0..2399: x holds the even ones, y the multiples of 3, z the multiples of 5 (some are in all three). */
const segments: SeedSegment[] = [
  { segmentId: 'x', name: 'X', people: range(0, 2_400).filter((n) => n % 2 === 0) },
  { segmentId: 'y', name: 'Y', people: range(0, 2_400).filter((n) => n % 3 === 0) },
  { segmentId: 'z', name: 'Z', people: range(0, 2_400).filter((n) => n % 5 === 0) },
  { segmentId: 'none', name: 'nobody of the lists', people: range(50_000, 200) },
  { segmentId: 'tiny', name: 'three people', people: range(60_000, 3) },
];

beforeAll(async () => {
  t = await startTestStack({
    RHO_PER_MATCH: String(RHO),
    RHO_PER_ADVERTISER_PARTNER: String(BUDGET),
    RHO_PER_PARTNER: String(PARTNER_BUDGET),
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: String(K),
    SHARD_COUNT: '4',
  });
  expect(AFFORDABLE).toBe(3);
  await Promise.all(
    [PARTNER, OTHER_PARTNER, SHARED_PARTNER].map(async (id) =>
      expect((await seedPartner(t.client(id, 'partner'), id, segments)).status).toBe('SUCCEEDED'),
    ),
  );
});

afterAll(async () => {
  await t?.stop();
});

describe('noise on every result', () => {
  it('results carry privacy.noise (discrete Gaussian, rho, sigma, sensitivity) and the budgets left; released counts are >= k after noise', async () => {
    const adv = t.client('nb-shown', 'advertiser');
    const results: NonNullable<MatchView['result']>[] = [];
    for (let i = 0; i < AFFORDABLE; i++) {
      const m = await matchLines(adv, PARTNER, hexLines(range(i * 600, 600)));
      expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
      const r = m.result as NonNullable<MatchView['result']>;
      results.push(r);
      // One person moves at most the 5 segments of the catalog and the total: sigma^2 = 6 / (2 * 0.1).
      expect(r.privacy.noise).toEqual({
        mechanism: 'discrete-gaussian',
        rho: RHO,
        sigma: 5.477,
        sensitivity2: 6,
      });
      expect(r.privacy.budget?.rhoSpent).toBe(RHO);
      expect(r.privacy.budget?.advertiserLeft).toBeCloseTo(BUDGET - (i + 1) * RHO, 9);
      expect(r.privacy.budget?.partnerLeft).toBeCloseTo(PARTNER_BUDGET - (i + 1) * RHO, 9);
      expect(r.privacy.k).toBe(K);
      // The threshold applies after noise: whatever the truth (0 for "none"), nothing under k is shown.
      for (const value of [r.matched, ...r.segments.map((s) => s.matched)]) {
        if (value !== null) {
          expect(Number.isInteger(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(K);
        }
      }
    }
    // The noise is really there (sigma 5.5 here): across three releases of 3 counts, not all exact.
    const truths = results.map((_, i) => {
      const people = range(i * 600, 600);
      return {
        x: people.filter((n) => n % 2 === 0).length,
        y: people.filter((n) => n % 3 === 0).length,
        z: people.filter((n) => n % 5 === 0).length,
      };
    });
    const exact = results.every((r, i) =>
      r.segments.every(
        (s) =>
          s.segmentId === 'none' ||
          s.segmentId === 'tiny' ||
          s.matched === (truths[i] as Record<string, number>)[s.segmentId],
      ),
    );
    expect(exact).toBe(false);
    const budget = await budgetOf(adv, PARTNER);
    expect(budget).toMatchObject({
      partnerId: PARTNER,
      noise: true,
      period: expect.stringMatching(/^\d{4}-\d{2}$/),
      rhoPerMatch: RHO,
      advertiser: { allowance: BUDGET, granted: 0, spent: BUDGET, left: 0 },
      matchesLeft: 0,
    });
    // Renewal: the first moment of the next calendar month (UTC).
    const renews = new Date(budget.renewsAt);
    expect([renews.getUTCDate(), renews.getUTCHours(), renews.getUTCMinutes()]).toEqual([1, 0, 0]);
  });

  it('a list under the minimum size is refused before anything is spent', async () => {
    const adv = t.client('nb-small', 'advertiser');
    const m = await matchLines(adv, PARTNER, hexLines(range(0, 60)));
    expect(m).toMatchObject({ status: 'FAILED', code: 'list-too-small' });
    expect((await budgetOf(adv, PARTNER)).advertiser).toMatchObject({ spent: 0, left: BUDGET });
  });
});

describe('the budget under concurrency', () => {
  const N = 7;
  const adv = () => t.client('nb-race', 'advertiser');
  const outcomes: { matchId?: string; status: string; code?: string }[] = [];

  it(`${N} concurrent matches (different lists, no replay) on a budget for ${AFFORDABLE}: exactly ${AFFORDABLE} succeed, the rest fail with privacy-budget-exhausted`, async () => {
    const client = adv();
    // Upload first, then start every match at once: all of them pass the start-time check.
    const lists = await Promise.all(
      range(0, N).map((i) => uploadHashedList(client, hexLines(range(i * 300, 300)))),
    );
    const started = await Promise.allSettled(lists.map((listId) => startMatch(client, listId, PARTNER)));
    const finished = await Promise.all(
      started.map(async (s) => {
        if (s.status === 'rejected') {
          const error = s.reason as ApiError;
          expect(error).toBeInstanceOf(ApiError);
          return { status: 'REFUSED_AT_START', code: error.code };
        }
        const m = await waitForMatch(client, s.value, true);
        return {
          matchId: m.matchId,
          status: m.status,
          ...(m.code ? { code: m.code } : {}),
          released: m.result !== undefined,
        };
      }),
    );
    outcomes.push(...finished);
    const succeeded = finished.filter((o) => o.status === 'SUCCEEDED');
    const refused = finished.filter((o) => o.status !== 'SUCCEEDED');
    expect(succeeded).toHaveLength(AFFORDABLE);
    expect(refused).toHaveLength(N - AFFORDABLE);
    for (const o of refused) expect(o.code).toBe('privacy-budget-exhausted');
    // The race was decided by the ledger's conditional write, not by the start-time check.
    expect(refused.some((o) => o.status === 'FAILED')).toBe(true);
    // A refused match releases nothing.
    for (const o of refused) if ('released' in o) expect(o.released).toBe(false);
  });

  it('GET budget shows spent == budget exactly (never above), and the audit trail agrees', async () => {
    const budget = await budgetOf(adv(), PARTNER);
    expect(budget.advertiser.spent).toBe(BUDGET);
    expect(budget.advertiser.left).toBe(0);
    const audit = await auditOf(adv());
    const released = audit.filter((e) => e.event === 'match-released');
    expect(released).toHaveLength(AFFORDABLE);
    expect(released.reduce((sum, e) => sum + Math.round(e.rhoSpent * 1e6), 0)).toBe(Math.round(BUDGET * 1e6));
    for (const o of outcomes.filter((x) => x.status === 'FAILED')) {
      expect(audit.find((e) => e.matchId === o.matchId)).toMatchObject({
        event: 'match-refused',
        code: 'privacy-budget-exhausted',
        rhoSpent: 0,
      });
    }
  });

  it('never silently refilled: a later match is still refused (403 privacy-budget-exhausted), the budget unchanged', async () => {
    const client = adv();
    await t.stack.idle();
    const listId = await uploadHashedList(client, hexLines(range(5_000, 300)));
    const error = await apiErrorOf(startMatch(client, listId, PARTNER));
    expect(error.status).toBe(403);
    expect(error.code).toBe('privacy-budget-exhausted');
    expect(error.detail).toMatch(/renews on \d{4}-\d{2}-01; only the operator can grant more/);
    expect((await budgetOf(client, PARTNER)).advertiser.spent).toBe(BUDGET);
  });

  it('the budget is per partner: the same advertiser still has its full budget against another partner', async () => {
    const client = adv();
    expect((await budgetOf(client, OTHER_PARTNER)).advertiser).toMatchObject({ spent: 0, left: BUDGET });
    const m = await matchLines(client, OTHER_PARTNER, hexLines(range(0, 300)));
    expect(m.status).toBe('SUCCEEDED');
    expect((await budgetOf(client, OTHER_PARTNER)).advertiser.spent).toBe(RHO);
    expect((await budgetOf(client, PARTNER)).advertiser.spent).toBe(BUDGET);
  });

  it('the budget cannot be read or reset by a partner, nor refilled through any route', async () => {
    const partnerToken = t.token(PARTNER, 'partner');
    const read = await http(t, 'GET', `/v1/partners/${PARTNER}/budget`, { token: partnerToken });
    expect(read.status).toBe(403);
    for (const [method, path] of [
      ['POST', `/v1/partners/${PARTNER}/budget`],
      ['POST', '/v1/budget'],
      ['POST', '/v1/admin/budget'],
    ] as const) {
      const res = await http(t, method, path, {
        token: t.token('operator', 'admin'),
        body: { spent: 0 },
      });
      expect([404, 405]).toContain(res.status);
    }
    // The grant route is the operator's alone.
    for (const role of ['advertiser', 'partner'] as const) {
      const res = await http(t, 'POST', '/v1/admin/budgets/grants', {
        token: t.token(role === 'partner' ? PARTNER : 'nb-race', role),
        body: {
          partnerId: PARTNER,
          account: 'advertiser-partner',
          advertiserId: 'nb-race',
          rho: 1,
          reason: 'please',
        },
      });
      expect(res.status).toBe(403);
    }
    expect((await budgetOf(adv(), PARTNER)).advertiser.spent).toBe(BUDGET);
  });

  it("the operator's grant adds to this period once, is audited for the operator and the advertiser, and lets one more match run", async () => {
    const client = adv();
    const granted = await http(t, 'POST', '/v1/admin/budgets/grants', {
      token: t.token('operator', 'admin'),
      body: {
        partnerId: PARTNER,
        account: 'advertiser-partner',
        advertiserId: 'nb-race',
        rho: RHO,
        reason: 'campaign launch, ticket OPS-42',
      },
    });
    expect(granted.status, granted.text).toBe(201);
    expect(granted.json).toMatchObject({ account: 'advertiser-partner', granted: RHO, left: RHO });
    expect(await budgetOf(client, PARTNER)).toMatchObject({
      advertiser: { allowance: BUDGET, granted: RHO, spent: BUDGET, left: RHO },
      matchesLeft: 1,
    });
    const m = await matchLines(client, PARTNER, hexLines(range(6_000, 300)));
    expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
    expect((await budgetOf(client, PARTNER)).advertiser.left).toBe(0);
    for (const trail of [await auditOf(client), await auditOf(t.client('operator', 'admin'))]) {
      expect(trail).toContainEqual(
        expect.objectContaining({
          event: 'budget-granted',
          rhoSpent: RHO,
          grant: expect.objectContaining({
            account: 'advertiser-partner',
            by: 'operator',
            reason: 'campaign launch, ticket OPS-42',
          }),
        }),
      );
    }
  });
});

describe('many accounts buy nothing: the partner-wide budget', () => {
  it(`sixteen advertisers with a fresh budget each get only ${PARTNER_BUDGET / RHO} matches together against one partner`, async () => {
    const outcomes: string[] = [];
    // Four at a time: the partner-wide account decides, whoever asks.
    for (let batch = 0; batch < 4; batch++) {
      const runs = await Promise.all(
        range(batch * 4, 4).map(async (i) => {
          const client = t.client(`nb-sybil-${i}`, 'advertiser');
          try {
            const m = await matchLines(client, SHARED_PARTNER, hexLines(range(i * 300, 300)));
            return m.status === 'SUCCEEDED' ? 'released' : (m.code ?? m.status);
          } catch (error) {
            return (error as ApiError).code;
          }
        }),
      );
      outcomes.push(...runs);
    }
    expect(outcomes.filter((o) => o === 'released')).toHaveLength(Math.round(PARTNER_BUDGET / RHO));
    expect(outcomes.filter((o) => o !== 'released').every((o) => o === 'privacy-budget-exhausted')).toBe(
      true,
    );
    // A seventeenth advertiser is refused before anything is uploaded or spent, and told why.
    const late = t.client('nb-sybil-late', 'advertiser');
    expect(await budgetOf(late, SHARED_PARTNER)).toMatchObject({
      advertiser: { spent: 0 },
      partnerLeft: 0,
      matchesLeft: 0,
    });
    const listId = await uploadHashedList(late, hexLines(range(9_000, 300)));
    const error = await apiErrorOf(startMatch(late, listId, SHARED_PARTNER));
    expect(error.code).toBe('privacy-budget-exhausted');
    expect(error.detail).toMatch(/across all advertisers/);
  });
});

describe('published catalog sizes', () => {
  it('are noisy and rounded to 10, a segment under k shows no size, and each publication is charged and audited', async () => {
    const { partners } = await t.client('nb-reader', 'advertiser').get<{
      partners: {
        partnerId: string;
        baseSize: number | null;
        segments: { segmentId: string; size: number | null }[];
      }[];
    }>('/v1/partners');
    const p = partners.find((x) => x.partnerId === PARTNER);
    const sizes = Object.fromEntries((p?.segments ?? []).map((s) => [s.segmentId, s.size]));
    expect(sizes.tiny).toBeNull();
    for (const id of ['x', 'y', 'z', 'none']) {
      expect(sizes[id]).not.toBeNull();
      expect((sizes[id] as number) % 10).toBe(0);
    }
    // x holds 1,200 people: the published size is near it, not necessarily equal.
    expect(Math.abs((sizes.x as number) - 1200)).toBeLessThan(100);
    expect((p?.baseSize as number) % 10).toBe(0);
    const trail = await auditOf(t.client(PARTNER, 'partner'));
    expect(trail).toContainEqual(
      expect.objectContaining({
        event: 'catalog-published',
        rhoSpent: 0.01,
        noise: 'discrete-gaussian',
        suppressedSegments: 1,
      }),
    );
  });
});
