/**
 * BatchGetItem and BatchWriteItem done right: requests of at most 100 (get) or 25 (write) keys,
 * bounded concurrency, UnprocessedKeys/UnprocessedItems retried with full-jitter exponential
 * backoff, and no key lost: a key that stays unprocessed after every attempt is an error, never
 * a silent miss.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';

export type Item = Record<string, AttributeValue>;

export interface BatchOptions {
  /** Requests in flight at once. */
  concurrency?: number;
  /** Attempts per request, counting the first. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Request counts, for the bench's cost model and for tests. */
export interface BatchStats {
  getRequests: number;
  getKeys: number;
  writeRequests: number;
  writeItems: number;
  retries: number;
}

export const newBatchStats = (): BatchStats => ({
  getRequests: 0,
  getKeys: 0,
  writeRequests: 0,
  writeItems: 0,
  retries: 0,
});

export const MAX_GET_KEYS = 100;
export const MAX_WRITE_ITEMS = 25;

const defaults = {
  concurrency: 8,
  maxAttempts: 10,
  baseDelayMs: 25,
  maxDelayMs: 2_000,
  sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  random: Math.random,
};

export class UnprocessedKeysError extends Error {
  constructor(readonly remaining: number) {
    super(`DynamoDB left ${remaining} keys unprocessed after every retry`);
    this.name = 'UnprocessedKeysError';
  }
}

/** Full jitter: a random delay in [0, min(max, base * 2^attempt)). */
export function backoffDelay(
  attempt: number,
  o: Required<Pick<BatchOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>>,
) {
  return Math.floor(o.random() * Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** attempt));
}

/** Runs `work` over `items` with at most `concurrency` promises in flight, preserving nothing but completion. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Gets every key; returns the items found, keyed by the value of `keyAttribute` (a string key).
 * Keys must be distinct (DynamoDB rejects duplicates in one request).
 */
export async function batchGetAll(
  client: DynamoDBClient,
  table: string,
  keys: readonly Item[],
  keyAttribute: string,
  options: BatchOptions & { projection?: string; stats?: BatchStats } = {},
): Promise<Map<string, Item>> {
  const o = { ...defaults, ...options };
  const found = new Map<string, Item>();
  await forEachConcurrently(chunk(keys, MAX_GET_KEYS), o.concurrency, async (batch) => {
    let pending: Item[] = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= o.maxAttempts) throw new UnprocessedKeysError(pending.length);
      if (attempt > 0) {
        if (options.stats) options.stats.retries++;
        await o.sleep(backoffDelay(attempt, o));
      }
      const response = await client.send(
        new BatchGetItemCommand({
          RequestItems: {
            [table]: {
              Keys: pending,
              ...(options.projection ? { ProjectionExpression: options.projection } : {}),
            },
          },
        }),
      );
      if (options.stats) {
        options.stats.getRequests++;
        options.stats.getKeys += pending.length;
      }
      for (const item of response.Responses?.[table] ?? []) {
        const key = item[keyAttribute]?.S;
        if (key !== undefined) found.set(key, item);
      }
      pending = (response.UnprocessedKeys?.[table]?.Keys as Item[] | undefined) ?? [];
    }
  });
  return found;
}

/** Writes every request (puts and deletes); items for one key must not repeat within the call. */
export async function batchWriteAll(
  client: DynamoDBClient,
  table: string,
  requests: readonly WriteRequest[],
  options: BatchOptions & { stats?: BatchStats } = {},
): Promise<void> {
  const o = { ...defaults, ...options };
  await forEachConcurrently(chunk(requests, MAX_WRITE_ITEMS), o.concurrency, async (batch) => {
    let pending: WriteRequest[] = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= o.maxAttempts) throw new UnprocessedKeysError(pending.length);
      if (attempt > 0) {
        if (options.stats) options.stats.retries++;
        await o.sleep(backoffDelay(attempt, o));
      }
      const response = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
      if (options.stats) {
        options.stats.writeRequests++;
        options.stats.writeItems += pending.length;
      }
      pending = response.UnprocessedItems?.[table] ?? [];
    }
  });
}
