import {
  BatchGetItemCommand,
  type BatchWriteItemCommand,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  batchGetAll,
  batchWriteAll,
  type Item,
  MAX_GET_KEYS,
  MAX_WRITE_ITEMS,
  newBatchStats,
  UnprocessedKeysError,
} from '../../shared/adapters/dynamodb/batch.ts';

/**
 * A fake DynamoDB that throttles: each call leaves part of its keys unprocessed, and it records
 * how many requests are in flight at once. A fake over a mock: it behaves, it does not script.
 */
function throttlingDynamo(options: {
  leaveUnprocessed: (attempt: number, n: number) => number;
  neverProcess?: boolean;
}) {
  const store = new Map<string, Item>();
  let inFlight = 0;
  let maxInFlight = 0;
  let calls = 0;
  const sizes: number[] = [];
  const client = {
    async send(command: BatchGetItemCommand | BatchWriteItemCommand) {
      calls++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      if (command instanceof BatchGetItemCommand) {
        const [[table, req]] = Object.entries(command.input.RequestItems ?? {}) as [
          [string, { Keys: Item[] }],
        ];
        sizes.push(req.Keys.length);
        const left = options.neverProcess
          ? req.Keys.length
          : options.leaveUnprocessed(calls, req.Keys.length);
        const done = req.Keys.slice(0, req.Keys.length - left);
        const rest = req.Keys.slice(req.Keys.length - left);
        return {
          Responses: { [table]: done.map((k) => store.get(k.pk?.S as string)).filter(Boolean) },
          UnprocessedKeys: rest.length ? { [table]: { Keys: rest } } : {},
        };
      }
      const [[table, writes]] = Object.entries(command.input.RequestItems ?? {}) as [
        [string, WriteRequest[]],
      ];
      sizes.push(writes.length);
      const left = options.neverProcess ? writes.length : options.leaveUnprocessed(calls, writes.length);
      for (const w of writes.slice(0, writes.length - left)) {
        if (w.PutRequest?.Item) store.set(w.PutRequest.Item.pk?.S as string, w.PutRequest.Item);
        if (w.DeleteRequest?.Key) store.delete(w.DeleteRequest.Key.pk?.S as string);
      }
      const rest = writes.slice(writes.length - left);
      return { UnprocessedItems: rest.length ? { [table]: rest } : {} };
    },
  };
  return {
    client: client as unknown as DynamoDBClient,
    store,
    sizes,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

const noSleep = { sleep: async () => undefined, random: () => 0.5 };
const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);

describe('batchWriteAll and batchGetAll', () => {
  it('lose no key when DynamoDB leaves a third of every request unprocessed', async () => {
    const db = throttlingDynamo({ leaveUnprocessed: (_attempt, n) => Math.floor(n / 3) });
    const stats = newBatchStats();
    const keys = keysOf(1_234);
    await batchWriteAll(
      db.client,
      't',
      keys.map((k) => ({ PutRequest: { Item: { pk: { S: k }, v: { S: k.toUpperCase() } } } })),
      { ...noSleep, stats },
    );
    expect(db.store.size).toBe(1_234);
    const found = await batchGetAll(
      db.client,
      't',
      keys.map((k) => ({ pk: { S: k } })),
      'pk',
      { ...noSleep, stats },
    );
    expect(found.size).toBe(1_234);
    expect(found.get('k7')?.v?.S).toBe('K7');
    expect(stats.retries).toBeGreaterThan(0);
    expect(Math.max(...db.sizes)).toBeLessThanOrEqual(MAX_GET_KEYS);
  });

  it('send full requests: 100 keys a get, 25 items a write', async () => {
    const db = throttlingDynamo({ leaveUnprocessed: () => 0 });
    const stats = newBatchStats();
    const keys = keysOf(1_000);
    await batchWriteAll(
      db.client,
      't',
      keys.map((k) => ({ PutRequest: { Item: { pk: { S: k } } } })),
      { stats },
    );
    expect(stats.writeRequests).toBe(1_000 / MAX_WRITE_ITEMS);
    await batchGetAll(
      db.client,
      't',
      keys.map((k) => ({ pk: { S: k } })),
      'pk',
      { stats },
    );
    expect(stats.getRequests).toBe(10);
    expect(stats.getKeys / stats.getRequests).toBe(100);
  });

  it('keep at most `concurrency` requests in flight', async () => {
    const db = throttlingDynamo({ leaveUnprocessed: () => 0 });
    await batchGetAll(
      db.client,
      't',
      keysOf(2_000).map((k) => ({ pk: { S: k } })),
      'pk',
      { concurrency: 3 },
    );
    expect(db.maxInFlight).toBeLessThanOrEqual(3);
    expect(db.maxInFlight).toBeGreaterThan(1);
  });

  it('fail loudly, never silently, when keys stay unprocessed after every attempt', async () => {
    const db = throttlingDynamo({ leaveUnprocessed: () => 0, neverProcess: true });
    await expect(
      batchGetAll(
        db.client,
        't',
        keysOf(10).map((k) => ({ pk: { S: k } })),
        'pk',
        { ...noSleep, maxAttempts: 3 },
      ),
    ).rejects.toBeInstanceOf(UnprocessedKeysError);
  });

  it('back off with jitter between attempts', async () => {
    const db = throttlingDynamo({ leaveUnprocessed: (attempt, n) => (attempt < 4 ? n - 1 : 0) });
    const delays: number[] = [];
    await batchGetAll(
      db.client,
      't',
      keysOf(5).map((k) => ({ pk: { S: k } })),
      'pk',
      {
        sleep: async (ms) => {
          delays.push(ms);
        },
        random: () => 0.999,
        baseDelayMs: 10,
        maxDelayMs: 1_000,
      },
    );
    expect(delays.length).toBeGreaterThan(1);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1] as number);
  });
});
