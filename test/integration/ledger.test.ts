/** The Ledger on dynalite: budget accounts per period, racing spends, refunds and grants. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedger } from '../../shared/adapters/dynamodb/ledger.ts';
import { DomainError } from '../../shared/domain/errors.ts';
import type { BudgetAccount } from '../../shared/domain/privacy/budget.ts';
import { startStorage } from './helpers.ts';

let storage: Awaited<ReturnType<typeof startStorage>>;
let ledger: DynamoLedger;

beforeAll(async () => {
  storage = await startStorage('ledger');
  ledger = new DynamoLedger(storage.dynamodb, storage.infra.env.LEDGER_TABLE as string);
});

afterAll(async () => {
  await storage?.stop();
});

const pair = (advertiserId: string, period = '2026-11'): BudgetAccount => ({
  kind: 'advertiser-partner',
  partnerId: 'p1',
  advertiserId,
  period,
});

describe('budget accounts', () => {
  it('never overdraws when twelve spends race for an allowance of ten', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => ledger.spend(pair('racer'), `m${i}`, 10_000, 100_000)),
    );
    const spent = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(spent).toBe(10);
    for (const r of refused) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DomainError);
      expect((r as PromiseRejectedResult).reason.code).toBe('privacy-budget-exhausted');
    }
    expect(await ledger.budget(pair('racer'), 100_000)).toMatchObject({ spent: 100_000, allowance: 100_000 });
  });

  it('charges a match once, however often its reduce is retried', async () => {
    await ledger.spend(pair('retry'), 'm1', 300_000, 1_000_000);
    await ledger.spend(pair('retry'), 'm1', 300_000, 1_000_000);
    expect((await ledger.budget(pair('retry'), 1_000_000)).spent).toBe(300_000);
  });

  it('a refund gives back only a charge that was made, once', async () => {
    await ledger.spend(pair('refund'), 'm1', 10_000, 20_000);
    await ledger.refund(pair('refund'), 'm1', 10_000);
    await ledger.refund(pair('refund'), 'm1', 10_000);
    await ledger.refund(pair('refund'), 'never-charged', 10_000);
    expect(await ledger.budget(pair('refund'), 20_000)).toMatchObject({ spent: 0 });
  });

  it('renews per period: a spent period does not touch the next one, and is never refilled', async () => {
    await ledger.spend(pair('monthly', '2026-10'), 'a', 20_000, 20_000);
    await expect(ledger.spend(pair('monthly', '2026-10'), 'b', 1, 20_000)).rejects.toThrow(/2026-10/);
    expect(await ledger.budget(pair('monthly', '2026-11'), 20_000)).toMatchObject({ spent: 0, granted: 0 });
    await ledger.spend(pair('monthly', '2026-11'), 'b', 20_000, 20_000);
    expect(await ledger.budget(pair('monthly', '2026-10'), 20_000)).toMatchObject({ spent: 20_000 });
  });

  it('a grant adds to the period once per grant id, and only to that account', async () => {
    await ledger.spend(pair('granted'), 'a', 10_000, 10_000);
    await ledger.grant(pair('granted'), 'g1', 5_000, 10_000);
    await ledger.grant(pair('granted'), 'g1', 5_000, 10_000);
    expect(await ledger.budget(pair('granted'), 10_000)).toMatchObject({ granted: 5_000, spent: 10_000 });
    await ledger.spend(pair('granted'), 'b', 5_000, 10_000);
    await expect(ledger.spend(pair('granted'), 'c', 1, 10_000)).rejects.toBeInstanceOf(DomainError);
    expect(await ledger.budget(pair('other'), 10_000)).toMatchObject({ granted: 0 });
  });

  it('keeps the allowance an account opened with in its period', async () => {
    await ledger.spend(pair('fixed'), 'a', 1_000, 10_000);
    // A redeploy with a larger allowance does not refill a period already opened.
    expect(await ledger.budget(pair('fixed'), 999_000)).toMatchObject({ allowance: 10_000 });
  });
});
