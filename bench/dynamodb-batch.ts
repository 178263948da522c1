/**
 * DynamoDB batching under throttling (bar: "at least 95 keys per BatchGetItem on
 * average, bounded concurrency, UnprocessedKeys retried with jittered backoff, no key lost under
 * throttling"), against dynalite from the embedded stack.
 *
 * 1. Writes the partner's members with DynamoAudienceStore.writeMembers, in chunks of 1,000
 *    records as ingest does (BatchWriteItem, 25 items a request).
 * 2. Matches a list holding every member (plus non-members and duplicates) through the real
 *    matchShard over 16 shards, two shards at a time (as the embedded stack's two-worker pool),
 *    with the DynamoAudienceStore: batches of 100 keys, memberships() -> readMembers() ->
 *    batchGetAll (BatchGetItem).
 * Meanwhile a client middleware (throttle-middleware.ts) answers 20 % of batch requests partly.
 *
 * Definitions:
 * - keysPerFirstRequest (the bar): keys in first-attempt BatchGetItem requests / first-attempt
 *   requests. A retry of leftovers carries only what was left, so it is excluded from the bar;
 * - keysPerRequest: all keys sent / all BatchGetItem requests, retries of leftovers included;
 * - lostKeys: members of the list the match did not find (must be 0), and the tally must equal the
 *   generated truth exactly.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startEmbeddedInfra } from '../local/embedded-infra.ts';
import { DynamoAudienceStore } from '../shared/adapters/dynamodb/audience-store.ts';
import { hmacKeyer } from '../shared/adapters/pepper.ts';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CONCURRENCY,
  matchShard,
  reduceTallies,
  type ShardMatch,
  type ShardTally,
  shardOf,
} from '../shared/domain/matching/match-shard.ts';
import type { AudienceSnapshot } from '../shared/domain/model.ts';
import type { AudienceStore, MemberRecord } from '../shared/domain/ports.ts';
import { peakRssMb } from './bench-row.ts';
import { BENCH_PEPPER } from './match-memory.ts';
import {
  digestAt,
  membersBySegment,
  partnerMemberships,
  randomDigests,
  segmentIdOf,
  shuffle,
} from './synthetic.ts';
import { type BenchOutput, check, human, type ReportRow, round } from './table.ts';
import { installThrottle } from './throttle-middleware.ts';

export const KEYS_PER_REQUEST_BAR = 95;
const PARTNER = 'bench-ddb';
const SEGMENTS = 50;
const SHARDS = 16;
/** Shards matched at once (the embedded stack's pool on this 2-core machine). */
const PARALLEL_SHARDS = 2;
const INGEST_CHUNK = 1_000;
export const THROTTLE_FRACTION = 0.2;

/** What the cost model takes from this bench. */
export interface DynamoMeasurements {
  listRows: number;
  distinct: number;
  getRequestsPerMillionRows: number;
  getFirstRequestsPerMillionRows: number;
  /** Keys the server actually read (retried keys counted once per read), per million list rows. */
  keysReadPerMillionRows: number;
  writeRequestsPerMillionMembers: number;
}

/**
 * infra.stop() waits for the dynalite child's 'exit', but the child is unref'd: with nothing else
 * keeping the event loop alive, the loop drains first and the process ends mid-await (exit code 13).
 * A timer keeps the loop alive until the stop settles (bounded at 3 s: the stop has begun by then, and the child also exits when its IPC channel closes).
 */
async function stopInfra(infra: { stop(): Promise<void> }): Promise<void> {
  const keepAlive = setInterval(() => {}, 100);
  try {
    await Promise.race([infra.stop(), new Promise((r) => setTimeout(r, 3_000))]);
  } finally {
    clearInterval(keepAlive);
  }
}

export async function benchDynamoBatch(
  options: { quick?: boolean } = {},
): Promise<BenchOutput & { measurements?: DynamoMeasurements }> {
  const members = options.quick ? 20_000 : 100_000;
  const outsiders = Math.round(members / 4);
  const duplicates = Math.round((members + outsiders) * 0.05);
  const dataDir = await mkdtemp(join(tmpdir(), 'onboard-bench-ddb-'));
  const infra = await startEmbeddedInfra({ dataDir, inMemory: true, resetOnClose: true, prefix: 'bench' });
  const env = infra.env;
  const client = new DynamoDBClient({
    endpoint: env.AWS_ENDPOINT_URL_DYNAMODB,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    const table = env.AUDIENCES_TABLE;
    if (!table) throw new Error('embedded infra gave no AUDIENCES_TABLE');
    const throttle = installThrottle(client, { fraction: THROTTLE_FRACTION, seed: 4242 });
    const store = new DynamoAudienceStore(client, table);
    const keyer = hmacKeyer(BENCH_PEPPER);

    // --- data --------------------------------------------------------------------------------
    const memberDigests = randomDigests(members, 31);
    const partner = partnerMemberships(members, SEGMENTS, 32);
    const bySegment = membersBySegment(partner, SEGMENTS);
    const records: MemberRecord[] = [];
    for (let m = 0; m < members; m++) {
      const tokens: string[] = [];
      for (let j = 0; j < (partner.counts[m] as number); j++)
        tokens.push(`${segmentIdOf(partner.segs[m * 3 + j] as number)}#1`);
      const key = keyer.key(digestAt(memberDigests, m));
      records.push({ key, kind: 'email', people: [{ person: key, tokens }] });
    }
    const snapshot: AudienceSnapshot = {
      partnerId: PARTNER,
      profile: 'basic',
      keyId: keyer.keyId,
      baseSize: members,
      maxSegmentsPerMember: 3,
      segments: bySegment.map((ms, s) => ({
        segmentId: segmentIdOf(s),
        name: segmentIdOf(s),
        description: 'synthetic',
        size: ms.length,
        version: 1,
      })),
    };
    const outside = randomDigests(outsiders, 33);
    const list: Uint8Array[] = [];
    for (let m = 0; m < members; m++) list.push(digestAt(memberDigests, m));
    for (let i = 0; i < outsiders; i++) list.push(digestAt(outside, i));
    const distinct = list.length;
    for (let i = 0; i < duplicates; i++) list.push(list[(i * 7919) % distinct] as Uint8Array);
    shuffle(list, 34);
    const expectedPer = new Map<string, number>();
    bySegment.forEach((ms, s) => {
      if (ms.length) expectedPer.set(segmentIdOf(s), ms.length);
    });
    const expected: ShardTally = {
      distinct,
      listByKind: { email: distinct, phone: 0 },
      matched: members,
      byKind: { email: members, phone: 0 },
      perSegment: Object.fromEntries([...expectedPer].sort(([a], [b]) => (a < b ? -1 : 1))),
      maxSegmentsPerPerson: Math.max(...partner.counts),
    };

    // --- 1. writes ---------------------------------------------------------------------------
    const tWrite = performance.now();
    for (let i = 0; i < records.length; i += INGEST_CHUNK) {
      await store.writeMembers(PARTNER, keyer.keyId, records.slice(i, i + INGEST_CHUNK));
    }
    const writeSeconds = (performance.now() - tWrite) / 1000;
    const writeStats = { ...store.stats };
    const writeThrottle = { ...throttle.write };
    const writeMaxInFlight = throttle.maxInFlight;
    const writeDelays = throttle.retryDelaysMs.splice(0);
    throttle.maxInFlight = 0;

    // --- 2. reads in the match's shape ---------------------------------------------------------
    let found = 0;
    const counting: AudienceStore = {
      snapshot: (id) => store.snapshot(id),
      async memberships(snap, keys) {
        const rows = await store.memberships(snap, keys);
        for (const r of rows) if (r.length > 0) found++;
        return rows;
      },
    };
    const shards: Uint8Array[][] = Array.from({ length: SHARDS }, () => []);
    for (const d of list) shards[shardOf(d, SHARDS)]?.push(d);
    const tRead = performance.now();
    const tallies: ShardMatch[] = [];
    let nextShard = 0;
    await Promise.all(
      Array.from({ length: PARALLEL_SHARDS }, async () => {
        while (nextShard < SHARDS) {
          const digests = shards[nextShard++] as Uint8Array[];
          tallies.push(await matchShard({ digests, snapshot, store: counting, keyer }));
        }
      }),
    );
    const tally = await reduceTallies(tallies, snapshot);
    const readSeconds = (performance.now() - tRead) / 1000;
    const s = store.stats;
    const g = throttle.get;
    const getRequests = s.getRequests;
    const readRetries = s.retries - writeStats.retries;
    const lostKeys = members - found;
    // Equal whatever the order of the keys (a tally's segments come in the order they were met).
    const tallyOk = isDeepStrictEqual(tally, expected);

    const keysPerFirstRequest = g.firstKeys / Math.max(1, g.firstRequests);
    const keysPerRequest = s.getKeys / Math.max(1, getRequests);
    const inFlightBound = PARALLEL_SHARDS * DEFAULT_CONCURRENCY;
    const delays = throttle.retryDelaysMs;
    const delayStats = (xs: number[]) =>
      xs.length
        ? {
            min: round(Math.min(...xs), 1),
            mean: round(xs.reduce((a, b) => a + b, 0) / xs.length, 1),
            max: round(Math.max(...xs), 1),
            distinct: new Set(xs.map((x) => Math.round(x))).size,
          }
        : null;
    const perMillion = (n: number, of: number) => Math.round((n * 1e6) / of);
    const measurements: DynamoMeasurements = {
      listRows: list.length,
      distinct,
      getRequestsPerMillionRows: perMillion(getRequests, list.length),
      getFirstRequestsPerMillionRows: perMillion(g.firstRequests, list.length),
      keysReadPerMillionRows: perMillion(g.keysSent, list.length),
      writeRequestsPerMillionMembers: perMillion(writeStats.writeRequests, members),
    };

    const rows: ReportRow[] = [
      {
        name: 'dynamodb-batch: writeMembers (BatchWriteItem, dynalite, 20% partly throttled)',
        rows: members,
        seconds: round(writeSeconds),
        rowsPerSecond: Math.round(members / writeSeconds),
        ratioToBaseline: null,
        peakRssMb: peakRssMb(),
        writeRequests: writeStats.writeRequests,
        writeItemsSent: writeStats.writeItems,
        itemsPerFirstRequest: round(writeThrottle.firstKeys / Math.max(1, writeThrottle.firstRequests), 2),
        retries: writeStats.retries,
        throttledResponses: writeThrottle.throttled,
        itemsHeldBack: writeThrottle.heldBack,
        maxInFlight: writeMaxInFlight,
        retryDelayMs: delayStats(writeDelays),
        writeRequestsPerMillionMembers: measurements.writeRequestsPerMillionMembers,
      },
      {
        name: 'dynamodb-batch: matchShard x16 reads (BatchGetItem via memberships/readMembers, 20% partly throttled)',
        rows: list.length,
        seconds: round(readSeconds),
        rowsPerSecond: Math.round(list.length / readSeconds),
        ratioToBaseline: null,
        peakRssMb: peakRssMb(),
        members,
        getRequests,
        getFirstRequests: g.firstRequests,
        getRetryRequests: g.retryRequests,
        keysPerFirstRequest: round(keysPerFirstRequest, 2),
        keysPerRequest: round(keysPerRequest, 2),
        retries: readRetries,
        throttledResponses: g.throttled,
        keysHeldBack: g.heldBack,
        maxInFlight: throttle.maxInFlight,
        inFlightBound,
        retryDelayMs: delayStats(delays),
        lostKeys,
        tallyEqualsTruth: tallyOk,
        ...measurements,
      },
    ];
    const checks = [
      check(
        'dynamodb-batch',
        'keys per BatchGetItem, first attempts (bar); all requests incl. leftover retries (info)',
        `${round(keysPerFirstRequest, 1)} first; ${round(keysPerRequest, 1)} all`,
        `>= ${KEYS_PER_REQUEST_BAR} (first attempts)`,
        keysPerFirstRequest >= KEYS_PER_REQUEST_BAR,
      ),
      check(
        'dynamodb-batch',
        `no key lost under throttling (${g.throttled + writeThrottle.throttled} partial answers, ${readRetries + writeStats.retries} retries)`,
        `${lostKeys} lost of ${human(members)}; tally ${tallyOk ? 'exact' : 'WRONG'}; writes ${writeThrottle.heldBack} held back, all re-sent`,
        '0 lost, exact tally',
        lostKeys === 0 && tallyOk && readRetries > 0 && writeStats.retries > 0,
      ),
      check(
        'dynamodb-batch',
        'bounded concurrency (max BatchGetItem in flight)',
        `${throttle.maxInFlight} reads, ${writeMaxInFlight} writes`,
        `<= ${inFlightBound} (${PARALLEL_SHARDS} shards x ${DEFAULT_CONCURRENCY})`,
        throttle.maxInFlight <= inFlightBound && writeMaxInFlight <= DEFAULT_CONCURRENCY,
      ),
      check(
        'dynamodb-batch',
        'leftovers retried with jittered backoff (delay before a retry)',
        (() => {
          const d = delayStats([...writeDelays, ...delays]);
          return d ? `${d.min}..${d.max} ms, mean ${d.mean}, ${d.distinct} distinct` : 'no retries';
        })(),
        'varied delays (jitter)',
        (() => {
          const d = delayStats([...writeDelays, ...delays]);
          return d !== null && d.distinct > 5;
        })(),
      ),
      check(
        'dynamodb-batch',
        'BatchGetItem requests per 1M list rows (cost model input)',
        `${human(measurements.getRequestsPerMillionRows)} (${human(measurements.getFirstRequestsPerMillionRows)} first attempts)`,
        `list mix: ${round(distinct / list.length, 3)} distinct`,
        null,
      ),
    ];
    const notes = [
      `dynamodb-batch: dynalite (embedded stack), ${members} members written in chunks of ${INGEST_CHUNK}; the read list = every member + ${outsiders} non-members + ${duplicates} duplicates; ${PARALLEL_SHARDS} shards at a time, matchShard batch ${DEFAULT_BATCH_SIZE}, concurrency ${DEFAULT_CONCURRENCY}. ${Math.round(THROTTLE_FRACTION * 100)}% of batch requests had a random part of their keys held back and returned unprocessed. Seconds are dynalite's, not DynamoDB's.`,
    ];
    return { rows, checks, notes, measurements };
  } finally {
    client.destroy();
    await stopInfra(infra);
    await rm(dataDir, { recursive: true, force: true });
  }
}
