/** The Ledger on dynalite: the release lock, and budget spends racing each other. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoLedger } from '../../shared/adapters/dynamodb/ledger.ts';
import { DomainError } from '../../shared/domain/errors.ts';
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

describe('release lock', () => {
  it('admits one holder per advertiser and partner; others wait until it is released', async () => {
    expect(await ledger.lockRelease('adv', 'p1', 'match-1', 300)).toBe(true);
    expect(await ledger.lockRelease('adv', 'p1', 'match-2', 300)).toBe(false);
    expect(await ledger.lockRelease('adv', 'p2', 'match-2', 300)).toBe(true);
    expect(await ledger.lockRelease('other', 'p1', 'match-3', 300)).toBe(true);
    await ledger.unlockRelease('adv', 'p1', 'match-2'); // not the holder: no effect
    expect(await ledger.lockRelease('adv', 'p1', 'match-2', 300)).toBe(false);
    await ledger.unlockRelease('adv', 'p1', 'match-1');
    expect(await ledger.lockRelease('adv', 'p1', 'match-2', 300)).toBe(true);
  });

  it("lets a new holder in once a crashed holder's lock has expired", async () => {
    expect(await ledger.lockRelease('adv', 'p9', 'crashed', -1)).toBe(true);
    expect(await ledger.lockRelease('adv', 'p9', 'next', 300)).toBe(true);
  });
});

describe('budget', () => {
  it('never overdraws when twelve spends race for a budget of ten', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => ledger.spend('racer', 'p1', `m${i}`, 1, 10)),
    );
    const spent = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(spent).toBe(10);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(DomainError);
    expect((await ledger.budget('racer', 'p1', 10)).epsilonSpent).toBe(10);
  });

  it('charges a match once, however often its reduce is retried', async () => {
    await ledger.spend('retry', 'p1', 'm1', 0.3, 1);
    await ledger.spend('retry', 'p1', 'm1', 0.3, 1);
    expect((await ledger.budget('retry', 'p1', 1)).epsilonSpent).toBeCloseTo(0.3, 9);
  });
});
