/**
 * Noise and budget (PRODUCT.md rule 5), noise on: every result says which noise it carries
 * (discrete Laplace, epsilon, sensitivity) and the budget left; the per advertiser-and-partner
 * epsilon budget is spent atomically under concurrency (conditional writes: exactly as many
 * matches succeed as the budget pays for, the others fail with privacy-budget-exhausted, and the
 * ledger never goes over), is shown through the API, and is never silently refilled.
 *
 * Epsilon 0.1 a match out of 0.3: 0.3 / 0.1 is 2.9999999999999996 in floating point, so a ledger
 * that added floats would let only 2 through; the ledger counts micro-epsilons and lets 3.
 * The statistics of the noise itself (chi-square against the discrete Laplace mass function,
 * variance) are tested in test/unit/noise.test.ts; this file tests what reaches the advertiser.
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
const EPSILON = 0.1;
const BUDGET = 0.3;
/** How many matches the budget pays for, in exact decimal arithmetic. */
const AFFORDABLE = Math.floor(Math.round(BUDGET * 1e6) / Math.round(EPSILON * 1e6));
const PARTNER = 'nb-partner';
const OTHER_PARTNER = 'nb-other';

let t: TestStack;

/** Base people 0..2399: x holds the even ones, y the multiples of 3, z the multiples of 5 (some are in all three). */
const segments: SeedSegment[] = [
  { segmentId: 'x', name: 'X', people: range(0, 2_400).filter((n) => n % 2 === 0) },
  { segmentId: 'y', name: 'Y', people: range(0, 2_400).filter((n) => n % 3 === 0) },
  { segmentId: 'z', name: 'Z', people: range(0, 2_400).filter((n) => n % 5 === 0) },
  { segmentId: 'none', name: 'nobody of the lists', people: range(50_000, 200) },
];

beforeAll(async () => {
  t = await startTestStack({
    NOISE_ENABLED: 'true',
    EPSILON_PER_MATCH: String(EPSILON),
    EPSILON_BUDGET: String(BUDGET),
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: String(K),
    SHARD_COUNT: '4',
  });
  expect(AFFORDABLE).toBe(3);
  await Promise.all(
    [PARTNER, OTHER_PARTNER].map(async (id) =>
      expect((await seedPartner(t.client(id, 'partner'), id, segments)).status).toBe('SUCCEEDED'),
    ),
  );
});

afterAll(async () => {
  await t?.stop();
});

describe('noise on every result', () => {
  it('results carry privacy.noise (discrete-laplace, epsilon, sensitivity) and the budget left; released counts are >= k after noise', async () => {
    const adv = t.client('nb-shown', 'advertiser');
    const results: NonNullable<MatchView['result']>[] = [];
    for (let i = 0; i < AFFORDABLE; i++) {
      const m = await matchLines(adv, PARTNER, hexLines(range(i * 600, 600)));
      expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
      const r = m.result as NonNullable<MatchView['result']>;
      results.push(r);
      // Some people are in x, y and z: one person moves at most 3 segments and the total.
      expect(r.privacy.noise).toEqual({ mechanism: 'discrete-laplace', epsilon: EPSILON, sensitivity: 4 });
      expect(r.privacy.budget?.epsilonSpent).toBe(EPSILON);
      expect(r.privacy.budget?.epsilonLeft).toBeCloseTo(BUDGET - (i + 1) * EPSILON, 9);
      expect(r.privacy.k).toBe(K);
      // The threshold applies after noise: whatever the truth (0 for "none"), nothing under k is shown.
      for (const value of [r.matched, ...r.segments.map((s) => s.matched)]) {
        if (value !== null) {
          expect(Number.isInteger(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(K);
        }
      }
    }
    // The noise is really there (scale 40 here): across three releases of 4 counts, not all exact.
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
        (s) => s.segmentId === 'none' || s.matched === (truths[i] as Record<string, number>)[s.segmentId],
      ),
    );
    expect(exact).toBe(false);
    const budget = await budgetOf(adv, PARTNER);
    expect(budget).toEqual({
      partnerId: PARTNER,
      epsilonSpent: BUDGET,
      epsilonBudget: BUDGET,
      epsilonLeft: 0,
      epsilonPerMatch: EPSILON,
      noise: true,
    });
  });

  it('a list under the minimum size is refused before anything is spent', async () => {
    const adv = t.client('nb-small', 'advertiser');
    const m = await matchLines(adv, PARTNER, hexLines(range(0, 60)));
    expect(m).toMatchObject({ status: 'FAILED', code: 'list-too-small' });
    expect(await budgetOf(adv, PARTNER)).toMatchObject({ epsilonSpent: 0, epsilonLeft: BUDGET });
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
    expect(budget.epsilonSpent).toBe(BUDGET);
    expect(budget.epsilonLeft).toBe(0);
    const audit = await auditOf(adv());
    const released = audit.filter((e) => e.event === 'match-released');
    expect(released).toHaveLength(AFFORDABLE);
    expect(released.reduce((sum, e) => sum + Math.round(e.epsilonSpent * 1e6), 0)).toBe(
      Math.round(BUDGET * 1e6),
    );
    for (const o of outcomes.filter((x) => x.status === 'FAILED')) {
      expect(audit.find((e) => e.matchId === o.matchId)).toMatchObject({
        event: 'match-refused',
        code: 'privacy-budget-exhausted',
        epsilonSpent: 0,
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
    expect(error.detail).toMatch(/never refilled/i);
    expect((await budgetOf(client, PARTNER)).epsilonSpent).toBe(BUDGET);
  });

  it('the budget is per partner: the same advertiser still has its full budget against another partner', async () => {
    const client = adv();
    expect(await budgetOf(client, OTHER_PARTNER)).toMatchObject({ epsilonSpent: 0, epsilonLeft: BUDGET });
    const m = await matchLines(client, OTHER_PARTNER, hexLines(range(0, 300)));
    expect(m.status).toBe('SUCCEEDED');
    expect((await budgetOf(client, OTHER_PARTNER)).epsilonSpent).toBe(EPSILON);
    expect((await budgetOf(client, PARTNER)).epsilonSpent).toBe(BUDGET);
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
        body: { epsilonSpent: 0 },
      });
      expect([404, 405]).toContain(res.status);
    }
    expect((await budgetOf(adv(), PARTNER)).epsilonSpent).toBe(BUDGET);
  });
});
