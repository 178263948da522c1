/**
 * Matching one shard of a hashed list against a partner's pinned audience snapshot, and reducing
 * the shards. A list person is a row of identifiers (email, phone...); shards are disjoint ranges
 * of the space of primary identifiers (a person's first identifier in kind order, split by leading
 * bits), so a list person is in exactly one shard and the list's distinct people add up exactly.
 *
 * A list person matches a partner person when any of its identifiers belongs to that person. A
 * partner person is counted once however many list rows or identifiers hit it, within a shard (a
 * map by person key) and across shards (each shard's matched people as a sorted run, merged by
 * `reduceShards`), so a partitioned run equals a single-shard run.
 *
 * A shard is deduped in a digest table (typed arrays, no string per digest); its new digests are
 * keyed a batch at a time (the keyer's `keyInto` when it has one) and looked up a batch at a time,
 * in binary when the store takes raw keys, answered synchronously by an in-process store and by a
 * promise (at most `concurrency` in flight) by a remote one such as DynamoDB.
 *
 * A tally holds true counts: it never leaves the service. Only `applyPrivacy` turns it into a
 * releasable Result.
 */
import { DomainError } from '../errors.ts';
import type { AudienceSnapshot } from '../model.ts';
import { IDENTIFIER_KINDS, type IdentifierKind } from '../model.ts';
import type { AudienceKeyer, AudienceStore, MemberHit } from '../ports.ts';
import { base64url32 } from './digest-hmac.ts';
import { DigestTable } from './digest-table.ts';
import { kindBit, type MatchedCounts, MatchedPeopleTable, mergeRuns } from './matched-people.ts';
import { DIGEST_BYTES, ID_BYTES, MAX_PERSON_IDS, type ShardBlock } from './shard-file.ts';

export { DIGEST_BYTES };
/** DynamoDB BatchGetItem reads at most 100 keys per call. */
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_CONCURRENCY = 8;
export const MAX_SHARDS = 256;
/** Packed digests numbered at a time in the digest table. */
const PACKED_RUN = 64;

/** One identifier of a list person: its kind and its 32-byte digest. */
export interface TaggedDigest {
  kind: IdentifierKind;
  digest: Uint8Array;
}

/** A list person: its identifiers, primary first. */
export type ListPerson = readonly TaggedDigest[];

export interface ShardTally {
  /** Distinct list people (by primary identifier). */
  distinct: number;
  /** Distinct list people holding an identifier of each kind. */
  listByKind: Record<IdentifierKind, number>;
  /** Distinct partner people in at least one segment of the snapshot. */
  matched: number;
  /** Distinct partner people per segment id (segments with no match may be absent). */
  perSegment: Record<string, number>;
  /** Distinct matched partner people hit through an identifier of each kind. */
  byKind: Record<IdentifierKind, number>;
  /** Largest number of snapshot segments one matched partner person is in. */
  maxSegmentsPerPerson: number;
}

/** A shard's tally (its own people only) and the run of its matched partner people, for the reduce. */
export interface ShardMatch extends ShardTally {
  run: Uint8Array;
}

export interface MatchShardProgress {
  /** List people read so far (with duplicates). */
  read: number;
  /** Distinct digests whose memberships have been looked up. */
  looked: number;
}

export interface MatchShardOptions {
  /** The shard's list people. */
  people?: AsyncIterable<ListPerson> | Iterable<ListPerson>;
  /** A list of one identifier a person (of kind `kind`, email by default): the form before kinds. */
  digests?: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /**
   * The shard as a shard file's blocks (shard-file.ts: singles read in place as words, people
   * records in place), as the shard step reads its file. Taken after `digests`.
   */
  blocks?: AsyncIterable<ShardBlock> | Iterable<ShardBlock>;
  kind?: IdentifierKind;
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
   * Told the shard's distinct list people: what a list fingerprint sums, independent of row order,
   * duplicates and shards (see PeopleSink).
   */
  peopleSink?: PeopleSink;
  /**
   * The partner's membership filter (shared/domain/audiences/membership-filter.ts): false when the
   * partner surely does not hold the keyed value, so it is not looked up. Never changes a result.
   */
  mayHold?: (key: string) => boolean;
  /** When given, milliseconds spent in each phase are added to it (for the bench's breakdown). */
  phases?: MatchPhases;
  /** Tables to match in, left by the previous shard matched in this process (see ShardTables). */
  tables?: ShardTables;
}

/**
 * What a list fingerprint is told of a shard's distinct list people: each distinct primary
 * identifier once, and each distinct (primary identifier, further identifier) pair once. The
 * digests are views, valid during the call only.
 */
export interface PeopleSink {
  /** `count` distinct primary identifiers' digests, back to back in `digests` from byte `from`. */
  primaries(digests: Uint8Array, from: number, count: number): void;
  /** A person's further identifier `id` (of its primary identifier `primary`), once per distinct pair. */
  pair(primary: Uint8Array, id: TaggedDigest): void;
}

/**
 * The tables a shard is matched in (its digest table and its matched-people table), for shards
 * matched one after another in one process: each shard clears and reuses them instead of
 * allocating its own, so memory does not grow shard after shard. One shard at a time.
 */
export class ShardTables {
  readonly digests = new DigestTable();
  readonly matchedPeople = new MatchedPeopleTable();
  inUse = false;
}

/**
 * Where a shard's time goes, in milliseconds. Lookups answered by a promise are timed from the
 * request to the answer (overlapping other work); the rest is dedupe and reading.
 */
export interface MatchPhases {
  keying: number;
  lookup: number;
  tally: number;
  /** Counting matched people and encoding their sorted run. */
  run: number;
}

export const emptyPhases = (): MatchPhases => ({ keying: 0, lookup: 0, tally: 0, run: 0 });

export function emptyTally(): ShardTally {
  return {
    distinct: 0,
    listByKind: emptyByKind(),
    matched: 0,
    perSegment: {},
    byKind: emptyByKind(),
    maxSegmentsPerPerson: 0,
  };
}

const emptyByKind = () =>
  Object.fromEntries(IDENTIFIER_KINDS.map((k) => [k, 0])) as Record<IdentifierKind, number>;

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new DomainError('invalid-input', `${what} must be a positive integer.`);
  return value;
}

const KIND_INDEX = new Map(IDENTIFIER_KINDS.map((kind, i) => [kind, i]));
/** Per distinct digest: first seen as a list person's primary identifier. */
const PRIMARY = 1;
/** Per distinct primary identifier: its person holds an identifier of kind i (bit 1 + i). */
const holdsKind = (kindIndex: number) => 2 << kindIndex;

const isSyncIterable = <T>(x: AsyncIterable<T> | Iterable<T>): x is Iterable<T> =>
  typeof (x as Iterable<T>)[Symbol.iterator] === 'function';

const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export async function matchShard(options: MatchShardOptions): Promise<ShardMatch> {
  const { snapshot, store, keyer, onProgress, peopleSink, phases } = options;
  const clock = phases ? () => performance.now() : () => 0;
  const batchSize = positiveInt(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
  const concurrency = positiveInt(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency');
  const segmentIndex = new Map(snapshot.segments.map((s, i) => [s.segmentId, i]));

  /** Distinct digests of the shard (whoever's identifier), numbered: each is keyed and looked up once. */
  // Sized for the shard when its length is known (no growth on the way).
  const sized = (x: unknown) => (Array.isArray(x) ? x.length : 0);
  const expected = sized(options.people) + sized(options.digests);
  const tables = options.tables;
  if (tables?.inUse) throw new Error('matchShard: these shard tables are matching another shard');
  const digests = tables ? tables.digests.clear(expected) : new DigestTable(expected);
  if (tables) tables.inUse = true;
  /** Per digest number: PRIMARY, and the kinds its person holds when it is a primary. */
  let flags = new Uint8Array(1024);
  let distinct = 0;
  /** Distinct (primary, kind, other identifier) triples, for `peopleSink`. */
  const pairs = new Set<string>();
  const listByKind = emptyByKind();
  /** Matched partner people, by person key. */
  const matchedPeople = tables ? tables.matchedPeople.clear() : new MatchedPeopleTable();
  let read = 0;
  let looked = 0;

  const tallyBatch = (hits: ReadonlyArray<readonly MemberHit[]>, expected: number): void => {
    if (hits.length !== expected) {
      throw new Error(`audience store returned ${hits.length} membership rows for ${expected} keys`);
    }
    for (const row of hits) {
      for (const hit of row) {
        // Only segments of the pinned snapshot count.
        let person = -1;
        for (const id of hit.segments) {
          const index = segmentIndex.get(id);
          if (index === undefined) continue;
          if (person === -1) person = matchedPeople.person(hit.person);
          matchedPeople.addSegment(person, index);
        }
        if (person !== -1) matchedPeople.addKinds(person, kindBit(hit.kind));
      }
    }
    looked += expected;
    onProgress?.({ read, looked });
  };

  // In-flight lookups never reject (the first failure is kept and rethrown), so a failure while
  // the reader is busy can never become an unhandled rejection.
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const settle = (answer: Promise<ReadonlyArray<readonly MemberHit[]>>, count: number): void => {
    const lookup: Promise<void> = answer
      .then((rows) => tallyBatch(rows, count))
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => inFlight.delete(lookup));
    inFlight.add(lookup);
  };
  const throwIfFailed = (): void => {
    if (failure) throw failure.error;
  };

  // The batch: digest numbers waiting to be keyed and looked up, keyed in one go when full.
  const binaryKeys = keyer.keyInto !== undefined;
  let pending = new Int32Array(Math.max(16, batchSize * 2));
  let pendingCount = 0;
  /** The raw keys of a batch answered synchronously (reused: such a store keeps nothing of them). */
  const scratchKeys = new Uint8Array(batchSize * DIGEST_BYTES);
  const mayHold = options.mayHold;
  const sink = store.addMembershipsOfKeys && !mayHold;
  const lookUp = (from: number, count: number): void => {
    // The rows the store answers: one a key looked up (fewer than `count` when the filter skips some).
    let expected = count;
    const table = digests.buffer;
    let answer: ReadonlyArray<readonly MemberHit[]> | Promise<ReadonlyArray<readonly MemberHit[]>>;
    const t0 = clock();
    let keyed = t0;
    if (binaryKeys) {
      // Contiguous digest numbers (the usual case: new digests arrive in order) are keyed in place.
      const first = pending[from] as number;
      const keys = sink ? scratchKeys : new Uint8Array(count * DIGEST_BYTES);
      if (pending[from + count - 1] === first + count - 1)
        keyer.keyInto?.(table, first * DIGEST_BYTES, count, keys, 0);
      else
        for (let i = 0; i < count; i++)
          keyer.keyInto?.(table, (pending[from + i] as number) * DIGEST_BYTES, 1, keys, i * DIGEST_BYTES);
      keyed = clock();
      if (sink) {
        // Straight into the matched-people table (lookup and tally in one).
        store.addMembershipsOfKeys?.(snapshot, keys, count, matchedPeople);
        looked += count;
        onProgress?.({ read, looked });
        if (phases) {
          phases.keying += keyed - t0;
          phases.lookup += clock() - keyed;
        }
        return;
      }
      if (store.membershipsOfKeys && !mayHold) answer = store.membershipsOfKeys(snapshot, keys, count);
      else {
        const strings = Array.from({ length: count }, (_, i) => base64url32(keys, i * DIGEST_BYTES));
        const kept = mayHold ? strings.filter(mayHold) : strings;
        expected = kept.length;
        answer = kept.length > 0 ? store.memberships(snapshot, kept) : [];
      }
    } else {
      const batch = Array.from(pending.subarray(from, from + count));
      const keys = batch.map((n) => keyer.key(digests.digestAt(n).slice()));
      // What the partner's membership filter rules out is not read.
      const kept = mayHold ? keys.filter(mayHold) : keys;
      expected = kept.length;
      keyed = clock();
      answer = kept.length > 0 ? store.memberships(snapshot, kept) : [];
    }
    if (phases) phases.keying += keyed - t0;
    if (answer instanceof Promise) {
      if (phases)
        answer = answer.then((rows) => {
          phases.lookup += clock() - keyed;
          return rows;
        });
      settle(answer, expected);
    } else {
      const answered = clock();
      tallyBatch(answer, expected);
      if (phases) {
        phases.lookup += answered - keyed;
        phases.tally += clock() - answered;
      }
    }
  };

  /** Takes one list person; true when the lookups in flight are at the limit. */
  // The list person being read: its primary identifier's number.
  let primary = -1;
  /** Takes one identifier of the current person (its primary first). */
  const takeId = (digest: Uint8Array, kind: IdentifierKind, kindIndex: number): void => {
    if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_BYTES) {
      throw new DomainError('invalid-digest', `Digest ${read} of the shard is not ${DIGEST_BYTES} bytes.`);
    }
    const before = digests.size;
    takeNumbered(digests.add(digest, 0), before, kind, kindIndex);
  };
  /**
   * Takes identifier number `n` of the digest table (new when `n === before`, the size before it
   * was added) for the current person.
   */
  const takeNumbered = (n: number, before: number, kind: IdentifierKind, kindIndex: number): void => {
    if (n === before) {
      if (n >= flags.length) {
        const grown = new Uint8Array(flags.length * 2);
        grown.set(flags);
        flags = grown;
      }
      if (pendingCount === pending.length) {
        const grown = new Int32Array(pending.length * 2);
        grown.set(pending);
        pending = grown;
      }
      pending[pendingCount++] = n;
    }
    if (primary === -1) {
      primary = n;
      if (((flags[n] as number) & PRIMARY) === 0) {
        flags[n] = (flags[n] as number) | PRIMARY;
        distinct++;
      }
    } else if (peopleSink) {
      const pair = `${primary},${kindIndex},${n}`;
      if (!pairs.has(pair)) {
        pairs.add(pair);
        peopleSink.pair(digests.digestAt(primary), { kind, digest: digests.digestAt(n) });
      }
    }
    const kindFlag = holdsKind(kindIndex);
    if (((flags[primary] as number) & kindFlag) === 0) {
      flags[primary] = (flags[primary] as number) | kindFlag;
      listByKind[kind]++;
    }
  };
  /** After a person: looks up full batches; true when the lookups in flight are at the limit. */
  const personDone = (): boolean => {
    if (pendingCount < batchSize) return false;
    // A person's identifiers may overflow the batch: look up batchSize at a time.
    let at = 0;
    for (; pendingCount - at >= batchSize; at += batchSize) lookUp(at, batchSize);
    pending.copyWithin(0, at, pendingCount);
    pendingCount -= at;
    return inFlight.size >= concurrency;
  };
  const takePerson = (person: ListPerson): boolean => {
    read++;
    primary = -1;
    for (const id of person) takeId(id.digest, id.kind, KIND_INDEX.get(id.kind) ?? 0);
    return personDone();
  };
  const digestKind = options.kind ?? 'email';
  const digestKindIndex = KIND_INDEX.get(digestKind) ?? 0;
  const takeDigest = (digest: Uint8Array): boolean => {
    read++;
    primary = -1;
    takeId(digest, digestKind, digestKindIndex);
    return personDone();
  };

  /** Takes digests back to back (a singles block), each a list person of kind `kind`. */
  const takePacked = async (bytes: Uint8Array, kind: IdentifierKind): Promise<void> => {
    if (bytes.length % DIGEST_BYTES !== 0)
      throw new DomainError(
        'invalid-digest',
        `A singles block of the shard is not a whole number of ${DIGEST_BYTES}-byte digests.`,
      );
    const kindIndex = KIND_INDEX.get(kind) ?? 0;
    // Aligned bytes are read as words (an Int32Array over them); others byte by byte.
    const words =
      bytes.byteOffset % 4 === 0
        ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2)
        : undefined;
    const count = bytes.length / DIGEST_BYTES;
    // Numbered a run at a time (the table's slot reads overlap), then taken one by one.
    const numbers = new Int32Array(PACKED_RUN);
    for (let first = 0; first < count; first += PACKED_RUN) {
      const runLength = Math.min(PACKED_RUN, count - first);
      let next = digests.size;
      if (words) digests.addManyWords(words, first * (DIGEST_BYTES / 4), runLength, numbers);
      else for (let i = 0; i < runLength; i++) numbers[i] = digests.add(bytes, (first + i) * DIGEST_BYTES);
      for (let i = 0; i < runLength; i++) {
        read++;
        primary = -1;
        const n = numbers[i] as number;
        // New digests are numbered in order: n is new when it is the next number.
        const before = n === next ? next++ : -1;
        takeNumbered(n, before, kind, kindIndex);
        if (personDone()) await waitForRoom();
      }
    }
  };

  /** Takes a people block's records ([count] then [kind index][digest] each), read in place. */
  const takeRecords = async (bytes: Uint8Array): Promise<void> => {
    for (let at = 0; at < bytes.length; ) {
      const ids = bytes[at] as number;
      if (ids < 1 || ids > MAX_PERSON_IDS || at + 1 + ids * ID_BYTES > bytes.length)
        throw new DomainError(
          'invalid-digest',
          `List person ${read + 1} of the shard has ${ids} identifiers or ends past its block (1 to ${MAX_PERSON_IDS}).`,
        );
      read++;
      primary = -1;
      for (let i = 0; i < ids; i++) {
        const o = at + 1 + i * ID_BYTES;
        const kindIndex = bytes[o] as number;
        const kind = IDENTIFIER_KINDS[kindIndex];
        if (kind === undefined)
          throw new DomainError(
            'invalid-digest',
            `List person ${read} of the shard has an unknown identifier kind.`,
          );
        const before = digests.size;
        const n = digests.add(bytes, o + 1);
        takeNumbered(n, before, kind, kindIndex);
      }
      at += 1 + ids * ID_BYTES;
      if (personDone()) await waitForRoom();
    }
  };

  const waitForRoom = async (): Promise<void> => {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    throwIfFailed();
  };
  try {
    const sources = [
      [options.people, takePerson],
      [options.digests, takeDigest],
    ] as [AsyncIterable<unknown> | Iterable<unknown> | undefined, (item: unknown) => boolean][];
    for (const [source, take] of sources) {
      if (!source) continue;
      if (isSyncIterable<unknown>(source)) {
        for (const item of source) if (take(item)) await waitForRoom();
      } else {
        for await (const item of source) if (take(item)) await waitForRoom();
      }
      throwIfFailed();
    }
    if (options.blocks) {
      for await (const block of options.blocks) {
        if ('singles' in block) await takePacked(block.singles, block.kind);
        else await takeRecords(block.people);
        throwIfFailed();
      }
    }
    throwIfFailed();
    if (pendingCount > 0) lookUp(0, pendingCount);
  } catch (error) {
    await Promise.all(inFlight);
    if (tables) tables.inUse = false;
    throw error;
  }
  try {
    await Promise.all(inFlight);
    throwIfFailed();
    // The distinct primaries to the sink, read in place from the digest table, runs at a time.
    if (peopleSink) {
      const table = digests.buffer;
      for (let n = 0, size = digests.size; n < size; ) {
        if (((flags[n] as number) & PRIMARY) === 0) {
          n++;
          continue;
        }
        let end = n + 1;
        while (end < size && ((flags[end] as number) & PRIMARY) !== 0) end++;
        peopleSink.primaries(table, n * DIGEST_BYTES, end - n);
        n = end;
      }
    }
    const t0 = clock();
    const { counts, run } = matchedPeople.finish(snapshot.segments.length);
    if (phases) phases.run += clock() - t0;
    return { ...tallyOf(distinct, listByKind, counts, snapshot), run };
  } finally {
    if (tables) tables.inUse = false;
  }
}

/** A tally from its list counts and its matched partner people's counts (segment ids by index). */
function tallyOf(
  distinct: number,
  listByKind: ShardTally['listByKind'],
  counts: MatchedCounts,
  snapshot: AudienceSnapshot,
): ShardTally {
  const entries: [string, number][] = [];
  snapshot.segments.forEach((s, i) => {
    const n = counts.perSegment[i] ?? 0;
    if (n > 0) entries.push([s.segmentId, n]);
  });
  return {
    distinct,
    listByKind,
    matched: counts.matched,
    perSegment: Object.fromEntries(entries.sort(([a], [b]) => byId(a, b))),
    byKind: counts.byKind,
    maxSegmentsPerPerson: counts.maxSegmentsPerPerson,
  };
}

/**
 * The whole list's tally from its shards: list people add up (shards are disjoint in list people);
 * partner people are counted once across shards by merging the shards' sorted runs.
 */
export async function reduceShards(
  shards: Iterable<
    Pick<ShardTally, 'distinct' | 'listByKind'> & { run: AsyncIterable<Uint8Array> | Iterable<Uint8Array> }
  >,
  snapshot: AudienceSnapshot,
): Promise<ShardTally> {
  let distinct = 0;
  const listByKind = emptyByKind();
  const runs: (AsyncIterable<Uint8Array> | Iterable<Uint8Array>)[] = [];
  for (const shard of shards) {
    distinct += shard.distinct;
    for (const kind of IDENTIFIER_KINDS) listByKind[kind] += shard.listByKind?.[kind] ?? 0;
    runs.push(shard.run);
  }
  return tallyOf(distinct, listByKind, await mergeRuns(runs, snapshot.segments.length), snapshot);
}

/** `reduceShards` of shards matched in memory. */
export function reduceTallies(shards: Iterable<ShardMatch>, snapshot: AudienceSnapshot): Promise<ShardTally> {
  return reduceShards(
    [...shards].map((s) => ({ distinct: s.distinct, listByKind: s.listByKind, run: [s.run] })),
    snapshot,
  );
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

/** Splits list people into `shardCount` disjoint shards by their primary identifier. */
export function partitionPeople(people: Iterable<ListPerson>, shardCount: number): ListPerson[][] {
  const bits = shardBits(shardCount);
  const shards: ListPerson[][] = Array.from({ length: shardCount }, () => []);
  for (const person of people) {
    const first = person[0]?.digest[0] ?? 0;
    shards[bits === 0 ? 0 : first >>> (8 - bits)]?.push(person);
  }
  return shards;
}
