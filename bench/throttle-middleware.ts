/**
 * A DynamoDB client middleware for the bench: simulates throttling of BatchGetItem/BatchWriteItem
 * and instruments what the client sends.
 *
 * For a fraction of the batch requests (default 20 %), a random part of the keys (or write
 * requests) is held back: it is not sent to the server (so it is neither read nor written), and
 * it comes back in UnprocessedKeys/UnprocessedItems, exactly as DynamoDB answers a request it could
 * only partly serve. It runs in the `initialize` step, outside the SDK's own retry loop, so it sees
 * one call per `client.send`.
 *
 * Instrumentation: requests and keys per command, split into first attempts and retries of
 * leftovers (a retry is recognised because the caller re-sends the very array this middleware
 * returned as unprocessed), calls in flight (max), and the delay between a partial answer and its
 * retry (the backoff actually slept, with its jitter).
 */
import type {
  BatchGetItemCommandInput,
  BatchGetItemCommandOutput,
  BatchWriteItemCommandInput,
  BatchWriteItemCommandOutput,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { prng } from './synthetic.ts';

export interface CommandCounts {
  firstRequests: number;
  firstKeys: number;
  retryRequests: number;
  retryKeys: number;
  /** Requests this middleware answered partly. */
  throttled: number;
  /** Keys (or write requests) held back and returned as unprocessed. */
  heldBack: number;
  /** Keys the server really got (sent minus held back). */
  keysSent: number;
}

export interface ThrottleStats {
  get: CommandCounts;
  write: CommandCounts;
  inFlight: number;
  maxInFlight: number;
  /** ms between a partial answer and the retry of its leftovers. */
  retryDelaysMs: number[];
}

const counts = (): CommandCounts => ({
  firstRequests: 0,
  firstKeys: 0,
  retryRequests: 0,
  retryKeys: 0,
  throttled: 0,
  heldBack: 0,
  keysSent: 0,
});

export const newThrottleStats = (): ThrottleStats => ({
  get: counts(),
  write: counts(),
  inFlight: 0,
  maxInFlight: 0,
  retryDelaysMs: [],
});

export interface ThrottleOptions {
  /** Share of batch requests answered partly (0 to 1). */
  fraction: number;
  seed?: number;
  stats?: ThrottleStats;
}

/** Splits `items` at random into [kept, heldBack], both non-empty (needs at least 2 items). */
function splitRandomly<T>(items: readonly T[], rnd: () => number): [T[], T[]] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  const held = 1 + Math.floor(rnd() * (copy.length - 1));
  return [copy.slice(held), copy.slice(0, held)];
}

/** Installs the middleware on `client`; returns the live stats object. */
export function installThrottle(client: DynamoDBClient, options: ThrottleOptions): ThrottleStats {
  const stats = options.stats ?? newThrottleStats();
  const rnd = prng(options.seed ?? 99);
  /** Arrays handed back as unprocessed, with the time they were handed back. */
  const leftovers = new WeakMap<object, number>();

  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName;
      if (command !== 'BatchGetItemCommand' && command !== 'BatchWriteItemCommand') return next(args);
      const isGet = command === 'BatchGetItemCommand';
      const c = isGet ? stats.get : stats.write;
      const input = args.input as BatchGetItemCommandInput & BatchWriteItemCommandInput;
      const entries = Object.entries(input.RequestItems ?? {});
      if (entries.length !== 1) throw new Error('bench throttle: expected one table per batch request');
      const [table, request] = entries[0] as [string, unknown];
      const items: readonly unknown[] = isGet
        ? ((request as { Keys?: unknown[] }).Keys ?? [])
        : (request as unknown[]);

      const handedBackAt = leftovers.get(items);
      if (handedBackAt !== undefined) {
        c.retryRequests++;
        c.retryKeys += items.length;
        stats.retryDelaysMs.push(performance.now() - handedBackAt);
      } else {
        c.firstRequests++;
        c.firstKeys += items.length;
      }

      let held: unknown[] = [];
      let sendArgs = args;
      if (items.length > 1 && rnd() < options.fraction) {
        const [kept, back] = splitRandomly(items, rnd);
        held = back;
        c.throttled++;
        c.heldBack += back.length;
        const trimmed = isGet ? { ...(request as object), Keys: kept } : kept;
        sendArgs = { ...args, input: { ...input, RequestItems: { [table]: trimmed } } };
      }
      c.keysSent += items.length - held.length;

      stats.inFlight++;
      if (stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
      let result: Awaited<ReturnType<typeof next>>;
      try {
        result = await next(sendArgs);
      } finally {
        stats.inFlight--;
      }

      if (isGet) {
        const out = result.output as BatchGetItemCommandOutput;
        const real = (out.UnprocessedKeys?.[table]?.Keys ?? []) as unknown[];
        if (real.length + held.length > 0) {
          const keys = [...real, ...held];
          leftovers.set(keys, performance.now());
          const { Keys: _drop, ...rest } = request as { Keys?: unknown };
          out.UnprocessedKeys = {
            ...out.UnprocessedKeys,
            [table]: { ...rest, Keys: keys },
          } as BatchGetItemCommandOutput['UnprocessedKeys'];
        }
      } else {
        const out = result.output as BatchWriteItemCommandOutput;
        const real = (out.UnprocessedItems?.[table] ?? []) as unknown[];
        if (real.length + held.length > 0) {
          const writes = [...real, ...held];
          leftovers.set(writes, performance.now());
          out.UnprocessedItems = {
            ...out.UnprocessedItems,
            [table]: writes,
          } as BatchWriteItemCommandOutput['UnprocessedItems'];
        }
      }
      return result;
    },
    { step: 'initialize', name: 'benchThrottleSimulation', override: true },
  );
  return stats;
}
