/**
 * Matching one shard of a hashed list against a partner's pinned audience snapshot, and reducing
 * shard tallies. Shards are disjoint ranges of the digest space (split by leading bits), so a digest
 * is in exactly one shard, distinct counts add up exactly, and a partitioned run equals a
 * single-shard run.
 *
 * A tally holds true counts: it never leaves the service. Only `applyPrivacy` turns it into a
 * releasable Result.
 */
import { DomainError } from '../errors.ts';
import type { AudienceSnapshot } from '../model.ts';
import type { AudienceKeyer, AudienceStore } from '../ports.ts';

export const DIGEST_BYTES = 32;
/** DynamoDB BatchGetItem reads at most 100 keys per call. */
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_CONCURRENCY = 8;
export const MAX_SHARDS = 256;

export interface ShardTally {
  /** Distinct digests in the shard. */
  distinct: number;
  /** Distinct people of the shard in at least one segment of the snapshot. */
  matched: number;
  /** Distinct people of the shard per segment id (segments with no match may be absent). */
  perSegment: Record<string, number>;
  /** Largest number of snapshot segments one person of the shard was counted in. */
  maxSegmentsPerPerson: number;
}

export interface MatchShardProgress {
  /** Digests read so far (with duplicates). */
  read: number;
  /** Distinct digests whose memberships have been looked up. */
  looked: number;
}

export interface MatchShardOptions {
  digests: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  snapshot: AudienceSnapshot;
  store: AudienceStore;
  keyer: AudienceKeyer;
  /** Keys per membership lookup (at most this many). */
  batchSize?: number;
  /** Lookups in flight at once. */
  concurrency?: number;
  /** Called after each lookup completes; cheap to ignore. */
  onProgress?: (progress: MatchShardProgress) => void;
  /**
   * Called once per distinct person with its digest (for list fingerprints); what it returns is
   * handed back to `onMatched` if the person matches, so callers need not keep a map.
   */
  onDistinct?: (digest: Uint8Array) => string;
  /** Called once per matched person with the snapshot segments it counts in (for difference checks). */
  onMatched?: (person: string, segments: ReadonlySet<string>) => void;
}

export function emptyTally(): ShardTally {
  return { distinct: 0, matched: 0, perSegment: {}, maxSegmentsPerPerson: 0 };
}

/** The 32 bytes as a one-byte-per-char string: half the memory of hex, exact for dedupe. */
function digestId(digest: Uint8Array): string {
  return String.fromCharCode.apply(null, digest as unknown as number[]);
}

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new DomainError('invalid-input', `${what} must be a positive integer.`);
  return value;
}

export async function matchShard(options: MatchShardOptions): Promise<ShardTally> {
  const { snapshot, store, keyer, onProgress } = options;
  const batchSize = positiveInt(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
  const concurrency = positiveInt(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency');
  const segmentIds = new Set(snapshot.segments.map((s) => s.segmentId));

  const seen = new Set<string>();
  const perSegment = new Map<string, number>();
  let matched = 0;
  let maxSegmentsPerPerson = 0;
  let read = 0;
  let looked = 0;

  const tallyBatch = (
    memberships: ReadonlyArray<readonly string[]>,
    keys: readonly string[],
    people: readonly string[],
  ): void => {
    const expected = keys.length;
    if (memberships.length !== expected) {
      throw new Error(`audience store returned ${memberships.length} membership rows for ${expected} keys`);
    }
    for (let i = 0; i < memberships.length; i++) {
      const segments = memberships[i] as readonly string[];
      if (segments.length === 0) continue;
      // Count each person once per segment, and only in segments of the pinned snapshot.
      const distinct = new Set<string>();
      for (const id of segments) if (segmentIds.has(id)) distinct.add(id);
      if (distinct.size === 0) continue;
      matched++;
      if (distinct.size > maxSegmentsPerPerson) maxSegmentsPerPerson = distinct.size;
      for (const id of distinct) perSegment.set(id, (perSegment.get(id) ?? 0) + 1);
      options.onMatched?.(people[i] ?? (keys[i] as string), distinct);
    }
    looked += expected;
    onProgress?.({ read, looked });
  };

  // In-flight lookups never reject (the first failure is kept and rethrown), so a failure while
  // the reader is busy can never become an unhandled rejection.
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const dispatch = (keys: string[], people: string[]): void => {
    const lookup: Promise<void> = store
      .memberships(snapshot, keys)
      .then((rows) => tallyBatch(rows, keys, people))
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => inFlight.delete(lookup));
    inFlight.add(lookup);
  };
  const throwIfFailed = (): void => {
    if (failure) throw failure.error;
  };

  let batch: string[] = [];
  let people: string[] = [];
  for await (const digest of options.digests) {
    read++;
    if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_BYTES) {
      await Promise.all(inFlight);
      throw new DomainError('invalid-digest', `Digest ${read} of the shard is not ${DIGEST_BYTES} bytes.`);
    }
    const id = digestId(digest);
    if (seen.has(id)) continue;
    seen.add(id);
    batch.push(keyer.key(digest));
    if (options.onDistinct) people.push(options.onDistinct(digest));
    if (batch.length >= batchSize) {
      dispatch(batch, people);
      batch = [];
      people = [];
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      throwIfFailed();
    }
  }
  if (batch.length > 0) dispatch(batch, people);
  await Promise.all(inFlight);
  throwIfFailed();

  return {
    distinct: seen.size,
    matched,
    perSegment: Object.fromEntries([...perSegment].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    maxSegmentsPerPerson,
  };
}

/** Sums shard tallies: shards are disjoint, so distinct and matched counts add up exactly. */
export function reduceTallies(tallies: Iterable<ShardTally>): ShardTally {
  const total = emptyTally();
  const perSegment = new Map<string, number>();
  for (const tally of tallies) {
    total.distinct += tally.distinct;
    total.matched += tally.matched;
    total.maxSegmentsPerPerson = Math.max(total.maxSegmentsPerPerson, tally.maxSegmentsPerPerson);
    for (const [id, n] of Object.entries(tally.perSegment)) perSegment.set(id, (perSegment.get(id) ?? 0) + n);
  }
  total.perSegment = Object.fromEntries([...perSegment].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return total;
}

/** log2 of a valid shard count (a power of two from 1 to 256). */
export function shardBits(shardCount: number): number {
  if (
    !Number.isInteger(shardCount) ||
    shardCount < 1 ||
    shardCount > MAX_SHARDS ||
    (shardCount & (shardCount - 1)) !== 0
  ) {
    throw new DomainError(
      'invalid-shard-count',
      `The shard count must be a power of two from 1 to ${MAX_SHARDS}.`,
    );
  }
  return Math.log2(shardCount);
}

/** The shard of a digest: its leading log2(shardCount) bits, so shards are contiguous key ranges. */
export function shardOf(digest: Uint8Array, shardCount: number): number {
  const bits = shardBits(shardCount);
  if (bits === 0) return 0;
  const first = digest[0];
  if (first === undefined) throw new DomainError('invalid-digest', 'An empty digest has no shard.');
  return first >>> (8 - bits);
}

/** Splits digests into `shardCount` disjoint shards (in input order within each shard). */
export function partitionDigests(digests: Iterable<Uint8Array>, shardCount: number): Uint8Array[][] {
  const bits = shardBits(shardCount);
  const shards: Uint8Array[][] = Array.from({ length: shardCount }, () => []);
  for (const digest of digests) {
    const shard = bits === 0 ? 0 : (digest[0] ?? 0) >>> (8 - bits);
    shards[shard]?.push(digest);
  }
  return shards;
}
