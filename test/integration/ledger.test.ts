/** The Ledger on dynalite: the release lock, and budget spends racing each other. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedInfra, startEmbeddedInfra } from '../../local/embedded-infra.ts';
import { DynamoLedger } from '../../shared/adapters/dynamodb/ledger.ts';
import { DomainError } from '../../shared/domain/errors.ts';

let infra: EmbeddedInfra;
let client: DynamoDBClient;
let ledger: DynamoLedger;

beforeAll(async () => {
  infra = await startEmbeddedInfra({
    dataDir: mkdtempSync(join(tmpdir(), 'ledger-')),
    inMemory: true,
    resetOnClose: true,
  });
  client = new DynamoDBClient({
    endpoint: infra.dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
  });
  ledger = new DynamoLedger(client, infra.env.LEDGER_TABLE as string);
});

afterAll(async () => {
  client?.destroy();
  await infra?.stop();
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
