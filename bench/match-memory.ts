/**
 * Match and aggregate, in memory (bar: "1 million list rows against 5 million partner
 * memberships in 50 segments, in-memory store: within 3x of what DuckDB does with the equivalent
 * SQL on the same machine, measured as a ratio in the same run"). The bar row compares CPU time on
 * one core each: ours (single-threaded) against DuckDB run with `SET threads = 1`.
 *
 * Ours: the list's digests are written into 16 shard files in memory by `ShardFileBuffer`, as the
 * split writes them (a hashed email list is singles blocks: digests back to back), each shard file
 * is read by `shardBlocks` into the real `matchShard`, as the shard step reads it (dedupe in a digest table, key in batches with the pepper keyer, look up memberships
 * 100 keys at a time in the `MemoryAudienceStore`'s binary form, which adds each batch's people
 * straight to the shard's matched-people table), and `reduceTallies` adds the shards up. The shard
 * files' buffers and the shard tables are one workspace kept across the warm-up and the rounds (as a
 * matching process keeps its working memory list after list). Timed from the digests in
 * memory to the reduced tally, with the milliseconds of each phase. A second variant keys with an
 * identity keyer (the digest itself, no HMAC) against a store keyed the same way, to show what the HMAC costs.
 *
 * Baseline: DuckDB (@duckdb/node-api) over tables list(digest BLOB) and members(digest BLOB,
 * segment VARCHAR), computing the same outputs (distinct, matched, per-segment distinct matched,
 * max segments per person). Loading is excluded from its timing but reported. DuckDB joins on the
 * digest itself: it does no HMAC, so the fair comparison is against our identity-keyer variant; the
 * tracked gap is against the product path (HMAC).
 */

import { MemoryAudienceStore } from '../shared/adapters/memory/memory-audience-store.ts';
import { hmacKeyer, type PepperRing } from '../shared/adapters/pepper.ts';
import { base64url32 } from '../shared/domain/matching/digest-hmac.ts';
import {
  emptyPhases,
  emptyTally,
  type MatchPhases,
  matchShard,
  reduceTallies,
  type ShardMatch,
  ShardTables,
  type ShardTally,
  shardBits,
} from '../shared/domain/matching/match-shard.ts';
import { ShardFileBuffer, shardBlocks } from '../shared/domain/matching/shard-file.ts';
import { type AudienceSnapshot, IDENTIFIER_KINDS } from '../shared/domain/model.ts';
import type { AudienceKeyer } from '../shared/domain/ports.ts';
import { ListFingerprint } from '../shared/domain/privacy/list-fingerprint.ts';
import { collectGarbage, peakRssMb, settle } from './bench-row.ts';
import {
  digestAt,
  membersBySegment,
  partnerMemberships,
  randomDigests,
  segmentIdOf,
  shuffle,
} from './synthetic.ts';
import { type BenchOutput, type Check, check, human, type ReportRow, round } from './table.ts';

export interface MatchMemorySizes {
  listRows: number;
  /** Partner members; each is in 1 to 3 segments (2 on average), so memberships ~ 2 x members. */
  members: number;
  segments: number;
  shards: number;
  /** Share of list rows that repeat an earlier row. */
  duplicateShare: number;
  /** Share of the list's distinct digests that are partner members. */
  inBaseShare: number;
}

export const FULL_SIZES: MatchMemorySizes = {
  listRows: 1_000_000,
  members: 2_500_000,
  segments: 50,
  shards: 16,
  duplicateShare: 0.1,
  inBaseShare: 0.5,
};
export const QUICK_SIZES: MatchMemorySizes = { ...FULL_SIZES, listRows: 200_000, members: 500_000 };

const PARTNER = 'bench-partner';
/** A fixed pepper: the bench must be deterministic (never a real secret). */
export const BENCH_PEPPER: PepperRing = {
  current: 'k1',
  keys: new Map([['k1', new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff)]]),
};

/** The key without the HMAC: base64url of the digest (same shape and length class as the real key). */
export const identityKeyer: AudienceKeyer = {
  keyId: 'identity',
  key: (digest) => Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('base64url'),
  keyInto: (digests, from, count, out, at) => out.set(digests.subarray(from, from + count * 32), at),
};

interface Dataset {
  sizes: MatchMemorySizes;
  memberDigests: Uint8Array;
  bySegment: number[][];
  memberships: number;
  list: Uint8Array[];
  distinct: number;
  expected: ShardTally;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export function makeDataset(sizes: MatchMemorySizes, seed = 7): Dataset {
  const memberDigests = randomDigests(sizes.members, seed);
  const partner = partnerMemberships(sizes.members, sizes.segments, seed + 1);
  const bySegment = membersBySegment(partner, sizes.segments);
  const distinct = Math.round(sizes.listRows * (1 - sizes.duplicateShare));
  const inBase = Math.min(sizes.members, Math.round(distinct * sizes.inBaseShare));
  const outside = randomDigests(distinct - inBase, seed + 2);
  // Distinct members picked by a stride coprime with the member count (a permutation, no repeats).
  let stride = 1_000_003;
  while (gcd(stride, sizes.members) !== 1) stride += 2;
  const list: Uint8Array[] = [];
  const expectedPer = new Map<string, number>();
  let maxSegments = 0;
  for (let i = 0; i < inBase; i++) {
    const m = (i * stride + 17) % sizes.members;
    list.push(digestAt(memberDigests, m));
    const n = partner.counts[m] as number;
    maxSegments = Math.max(maxSegments, n);
    for (let j = 0; j < n; j++) {
      const id = segmentIdOf(partner.segs[m * 3 + j] as number);
      expectedPer.set(id, (expectedPer.get(id) ?? 0) + 1);
    }
  }
  for (let i = 0; i < distinct - inBase; i++) list.push(digestAt(outside, i));
  const dupSeed = randomDigests(1, seed + 3);
  let pick = (dupSeed[0] as number) + 1;
  for (let i = distinct; i < sizes.listRows; i++) {
    pick = (pick * 48271) % 2147483647;
    list.push(list[pick % distinct] as Uint8Array);
  }
  shuffle(list, seed + 4);
  // The list's digests back to back in list order, as a shard file holds them (and DuckDB's table).
  const flat = new Uint8Array(list.length * 32);
  list.forEach((d, i) => {
    flat.set(d, i * 32);
    list[i] = digestAt(flat, i);
  });
  const perSegment = Object.fromEntries([...expectedPer].sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    sizes,
    memberDigests,
    bySegment,
    memberships: partner.memberships,
    list,
    distinct,
    expected: {
      distinct,
      listByKind: { email: distinct, phone: 0 },
      matched: inBase,
      perSegment,
      byKind: { email: inBase, phone: 0 },
      maxSegmentsPerPerson: maxSegments,
    },
  };
}

function buildStore(
  data: Dataset,
  keyer: AudienceKeyer,
): { store: MemoryAudienceStore; snapshot: AudienceSnapshot } {
  const store = new MemoryAudienceStore();
  const keys = new Array<string>(data.sizes.members);
  // The batch form of the keyer when it has one (same keys, much faster than one HMAC object each).
  const raw = new Uint8Array(data.sizes.members * 32);
  if (keyer.keyInto) keyer.keyInto(data.memberDigests, 0, data.sizes.members, raw, 0);
  for (let m = 0; m < data.sizes.members; m++)
    keys[m] = keyer.keyInto ? base64url32(raw, m * 32) : keyer.key(digestAt(data.memberDigests, m));
  data.bySegment.forEach((members, s) => {
    const id = segmentIdOf(s);
    store.putSegment(
      PARTNER,
      { segmentId: id, name: `Segment ${id}`, description: 'synthetic' },
      members.map((m) => keys[m] as string),
    );
  });
  const snapshot = store.snapshotNow(PARTNER);
  if (!snapshot) throw new Error('bench: the partner has no snapshot');
  return { store, snapshot };
}

/** Process CPU seconds (user + system) since `before`. */
export function cpuSince(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

/**
 * Split by shardOf, matchShard each shard (sequentially, one core), reduce. Returns wall seconds and
 * process CPU seconds (robust when the machine is shared: the work is single-threaded).
 */
export interface OurRun {
  seconds: number;
  cpuSeconds: number;
  tally: ShardTally;
  /** Milliseconds per phase: partition (written into shard files), dedupe (the rest of matchShard), keying, lookup, tally, run, reduce. */
  phases: Record<'partition' | 'dedupe' | keyof MatchPhases | 'reduce', number>;
}

/**
 * The working memory of a process that matches list after list: the shard files' buffers and the
 * shard tables, reused by each list (as a matching worker keeps them) instead of allocated anew.
 */
export interface MatchWorkspace {
  files: ShardFileBuffer[];
  tables: ShardTables;
}

export const newWorkspace = (): MatchWorkspace => ({ files: [], tables: new ShardTables() });

/** Writes a hashed email list into shard files in memory, as the split writes them. */
function writeShardFiles(
  list: readonly Uint8Array[],
  shardCount: number,
  files: ShardFileBuffer[],
): Uint8Array[] {
  const bits = shardBits(shardCount);
  // Room for each shard's share and a margin (a buffer grows if it needs more).
  const room = (Math.ceil((list.length / shardCount) * 1.0625) + 64) * 32 + 4096;
  for (let s = 0; s < shardCount; s++) {
    if (!files[s]) files[s] = new ShardFileBuffer(room);
    (files[s] as ShardFileBuffer).reset();
  }
  for (const digest of list) {
    const shard = bits === 0 ? 0 : (digest[0] as number) >>> (8 - bits);
    (files[shard] as ShardFileBuffer).addSingle(EMAIL, digest);
  }
  return files.slice(0, shardCount).map((f) => f.bytes());
}
const EMAIL = IDENTIFIER_KINDS.indexOf('email');
/** The list fingerprint's scope in the bench (in the product: per advertiser and partner, secret). */
const BENCH_SCOPE = new Uint8Array(32).fill(11);

export async function runOurs(
  list: readonly Uint8Array[],
  shardCount: number,
  store: MemoryAudienceStore,
  snapshot: AudienceSnapshot,
  keyer: AudienceKeyer,
  { files, tables }: MatchWorkspace = newWorkspace(),
  { fingerprint = true }: { fingerprint?: boolean } = {},
): Promise<OurRun> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const shards = writeShardFiles(list, shardCount, files);
  const t1 = performance.now();
  const tallies: ShardMatch[] = [];
  const phases = emptyPhases();
  // One shard after another in this process: each reuses the tables the previous one matched in.
  for (const file of shards) {
    // The shard step's list fingerprint (for replays), one per shard as there.
    const listFingerprint = fingerprint ? new ListFingerprint(BENCH_SCOPE) : undefined;
    tallies.push(
      await matchShard({
        blocks: shardBlocks([file]),
        snapshot,
        store,
        keyer,
        phases,
        tables,
        ...(listFingerprint ? { peopleSink: listFingerprint } : {}),
      }),
    );
    listFingerprint?.value();
  }
  const t2 = performance.now();
  const tally = await reduceTallies(tallies, snapshot);
  const t3 = performance.now();
  const inShards = phases.keying + phases.lookup + phases.tally + phases.run;
  return {
    seconds: (t3 - t0) / 1000,
    cpuSeconds: cpuSince(cpu0),
    tally,
    phases: { partition: t1 - t0, dedupe: t2 - t1 - inShards, ...phases, reduce: t3 - t2 },
  };
}

const sameTally = (a: ShardTally, b: ShardTally) =>
  a.distinct === b.distinct &&
  a.matched === b.matched &&
  a.maxSegmentsPerPerson === b.maxSegmentsPerPerson &&
  JSON.stringify(a.perSegment) === JSON.stringify(b.perSegment);

// --- DuckDB baseline -----------------------------------------------------------------------------

const DUCKDB_SQL = `
WITH l AS (SELECT DISTINCT digest FROM list),
j AS (SELECT l.digest, m.segment FROM l JOIN members m ON m.digest = l.digest),
per AS (SELECT digest, count(*) AS n FROM j GROUP BY digest)
SELECT 'segment' AS kind, segment AS id, count(*)::BIGINT AS n FROM j GROUP BY segment
UNION ALL SELECT 'distinct', NULL, count(*)::BIGINT FROM l
UNION ALL SELECT 'matched', NULL, count(*)::BIGINT FROM per
UNION ALL SELECT 'maxSegments', NULL, coalesce(max(n), 0)::BIGINT FROM per`;

interface DuckRun {
  version: string;
  threads: number;
  loadSeconds: number;
  seconds: number;
  cpuSeconds: number;
  seconds1Thread: number;
  cpuSeconds1Thread: number;
  tally: ShardTally;
}

async function runDuckDb(data: Dataset, rounds: number): Promise<DuckRun> {
  const duck = await import('@duckdb/node-api');
  const instance = await duck.DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const version = String((await conn.runAndReadAll('SELECT version()')).getRows()[0]?.[0]);
    const threads = Number((await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]?.[0]);
    const t0 = performance.now();
    await conn.run('CREATE TABLE list (digest BLOB)');
    await conn.run('CREATE TABLE members (digest BLOB, segment VARCHAR)');
    const listApp = await conn.createAppender('list');
    for (const d of data.list) {
      listApp.appendBlob(d);
      listApp.endRow();
    }
    listApp.closeSync();
    const memApp = await conn.createAppender('members');
    data.bySegment.forEach((members, s) => {
      const id = segmentIdOf(s);
      for (const m of members) {
        memApp.appendBlob(digestAt(data.memberDigests, m));
        memApp.appendVarchar(id);
        memApp.endRow();
      }
    });
    memApp.closeSync();
    const loadSeconds = (performance.now() - t0) / 1000;

    const once = async (): Promise<{ seconds: number; cpuSeconds: number; tally: ShardTally }> => {
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      const rows = (await conn.runAndReadAll(DUCKDB_SQL)).getRows();
      const seconds = (performance.now() - t) / 1000;
      const cpuSeconds = cpuSince(cpu0);
      const tally: ShardTally = emptyTally();
      const per: Array<[string, number]> = [];
      for (const [kind, id, n] of rows) {
        const value = Number(n);
        if (kind === 'segment') per.push([String(id), value]);
        else if (kind === 'distinct') tally.distinct = value;
        else if (kind === 'matched') tally.matched = value;
        else if (kind === 'maxSegments') tally.maxSegmentsPerPerson = value;
      }
      tally.perSegment = Object.fromEntries(per.sort(([a], [b]) => (a < b ? -1 : 1)));
      return { seconds, cpuSeconds, tally };
    };
    await once(); // warm-up
    let best = Number.POSITIVE_INFINITY;
    let bestCpu = Number.POSITIVE_INFINITY;
    let tally = emptyish();
    for (let r = 0; r < rounds; r++) {
      const run = await once();
      best = Math.min(best, run.seconds);
      bestCpu = Math.min(bestCpu, run.cpuSeconds);
      tally = run.tally;
    }
    await conn.run('SET threads = 1');
    let best1 = Number.POSITIVE_INFINITY;
    let bestCpu1 = Number.POSITIVE_INFINITY;
    for (let r = 0; r < rounds; r++) {
      const run = await once();
      best1 = Math.min(best1, run.seconds);
      bestCpu1 = Math.min(bestCpu1, run.cpuSeconds);
    }
    return {
      version,
      threads,
      loadSeconds,
      seconds: best,
      cpuSeconds: bestCpu,
      seconds1Thread: best1,
      cpuSeconds1Thread: bestCpu1,
      tally,
    };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const emptyish = (): ShardTally => emptyTally();

// --- The bench -------------------------------------------------------------------------------------

export async function benchMatchMemory(options: { quick?: boolean } = {}): Promise<BenchOutput> {
  const sizes = options.quick ? QUICK_SIZES : FULL_SIZES;
  // Best of as many rounds on both sides: the minimum is what the work costs, the rest is the machine.
  const rounds = options.quick ? 1 : 5;
  const notes: string[] = [];
  const checks: Check[] = [];
  const rows: ReportRow[] = [];

  const tGen = performance.now();
  const data = makeDataset(sizes);
  const genSeconds = (performance.now() - tGen) / 1000;

  // DuckDB first, while our stores are not built yet (keeps its memory and ours apart).
  let duck: DuckRun | undefined;
  try {
    duck = await runDuckDb(data, rounds);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    notes.push(`match-memory: DuckDB baseline unavailable (${message}); ratios are null.`);
  }

  const hmac = hmacKeyer(BENCH_PEPPER);
  // Best of `rounds` by CPU seconds (the work is single-threaded; CPU time is what other work on the
  // machine disturbs least); its wall time and phases are reported with it.
  const keepBest = (prev: OurRun | undefined, run: OurRun): OurRun =>
    prev && prev.cpuSeconds <= run.cpuSeconds ? prev : run;
  const warm = data.list.slice(0, Math.min(50_000, data.list.length));
  // One store alive at a time (each holds 2.5 M keys: two would double the heap every GC marks),
  // a warm-up on a slice, then each round after a full GC and its sweeping, untimed.
  const measure = async (
    keyer: AudienceKeyer,
    fingerprint: boolean,
  ): Promise<{ best: OurRun; buildSeconds: number }> => {
    const t = performance.now();
    const built = buildStore(data, keyer);
    const buildSeconds = (performance.now() - t) / 1000;
    // One workspace for the warm-up and the rounds, as one matching process keeps it list after list.
    const workspace = newWorkspace();
    await runOurs(warm, sizes.shards, built.store, built.snapshot, keyer, workspace, { fingerprint });
    let best: OurRun | undefined;
    for (let r = 0; r < rounds; r++) {
      collectGarbage();
      settle(200);
      best = keepBest(
        best,
        await runOurs(data.list, sizes.shards, built.store, built.snapshot, keyer, workspace, {
          fingerprint,
        }),
      );
    }
    if (!best) throw new Error('unreachable');
    return { best, buildSeconds };
  };
  // The product path: HMAC keys and the list fingerprint. Like-for-like with DuckDB: neither.
  const { best: bestHmac, buildSeconds } = await measure(hmac, true);
  const { best: bestIdent } = await measure(identityKeyer, false);

  // The HMAC alone over the distinct digests, in the product path's batch form (CPU seconds).
  const distinctDigests = new Map<string, Uint8Array>();
  for (const d of data.list) distinctDigests.set(Buffer.from(d).toString('latin1'), d);
  const flat = new Uint8Array(distinctDigests.size * 32);
  let at = 0;
  for (const d of distinctDigests.values()) {
    flat.set(d, at);
    at += 32;
  }
  const keyed = new Uint8Array(flat.length);
  const cpuKey = process.cpuUsage();
  hmac.keyInto?.(flat, 0, distinctDigests.size, keyed, 0);
  const hmacOnlyCpuSeconds = cpuSince(cpuKey);
  // The list fingerprint alone over the distinct digests (one per person of a one-identifier list).
  const cpuFingerprint = process.cpuUsage();
  const alone = new ListFingerprint(BENCH_SCOPE);
  alone.primaries(flat, 0, distinctDigests.size);
  alone.value();
  const fingerprintOnlyCpuSeconds = cpuSince(cpuFingerprint);

  const agreeExpected = sameTally(bestHmac.tally, data.expected) && sameTally(bestIdent.tally, data.expected);
  const agreeDuck = duck ? sameTally(duck.tally, data.expected) : null;
  const common = {
    listRows: sizes.listRows,
    distinct: data.distinct,
    memberships: data.memberships,
    partnerMembers: sizes.members,
    segments: sizes.segments,
    shards: sizes.shards,
  };
  const ratio = (ours: number, theirs: number | undefined) => (theirs ? round(ours / theirs, 2) : null);
  if (duck) {
    rows.push({
      name: `match-memory: DuckDB ${duck.version} SQL join (baseline, ${duck.threads} threads)`,
      rows: sizes.listRows,
      seconds: round(duck.seconds),
      rowsPerSecond: Math.round(sizes.listRows / duck.seconds),
      ratioToBaseline: null,
      peakRssMb: peakRssMb(),
      ...common,
      threads: duck.threads,
      cpuSeconds: round(duck.cpuSeconds),
      seconds1Thread: round(duck.seconds1Thread),
      cpuSeconds1Thread: round(duck.cpuSeconds1Thread),
      loadSecondsExcluded: round(duck.loadSeconds, 2),
      resultsAgree: agreeDuck,
    });
  }
  const phaseMs = (run: OurRun) =>
    Object.fromEntries(Object.entries(run.phases).map(([k, v]) => [k, Math.round(v)]));
  const rowOf = (name: string, run: OurRun, extra: Record<string, unknown>): ReportRow => ({
    name,
    rows: sizes.listRows,
    seconds: round(run.seconds),
    rowsPerSecond: Math.round(sizes.listRows / run.seconds),
    ratioToBaseline: ratio(run.seconds, duck?.seconds),
    ratioMeaning: 'our wall seconds / DuckDB wall seconds (lower is better, 1 = parity)',
    peakRssMb: peakRssMb(),
    ...common,
    cpuSeconds: round(run.cpuSeconds),
    gapRatio: ratio(run.seconds, duck?.seconds),
    gapRatioCpuVsDuckDb1Thread: ratio(run.cpuSeconds, duck?.cpuSeconds1Thread),
    phasesMs: phaseMs(run),
    ...extra,
  });
  rows.push(
    rowOf(
      'match-memory: 16 shard files (ShardFileBuffer) + shardBlocks + matchShard + reduceTallies, HMAC keyer (batch, WebAssembly SIMD)',
      bestHmac,
      {
        hmacOnlyCpuSeconds: round(hmacOnlyCpuSeconds),
        hmacShareOfOurCpu: round(hmacOnlyCpuSeconds / bestHmac.cpuSeconds, 3),
        keyingShareOfOurWall: round(bestHmac.phases.keying / 1000 / bestHmac.seconds, 3),
        storeBuildSecondsExcluded: round(buildSeconds, 2),
        dataGenSecondsExcluded: round(genSeconds, 2),
        resultsAgree: agreeExpected,
      },
    ),
    rowOf('match-memory: same, identity keyer (no HMAC; like-for-like with DuckDB)', bestIdent, {
      keyingCpuSeconds: round(bestHmac.cpuSeconds - bestIdent.cpuSeconds),
      resultsAgree: agreeExpected,
    }),
  );

  const m = (s: number) => `${round(s, 2)} s`;
  const scale = `${human(sizes.listRows)} rows x ${human(data.memberships)} memberships`;
  const cpuRatio = duck ? bestHmac.cpuSeconds / duck.cpuSeconds1Thread : undefined;
  const phaseText = (run: OurRun) =>
    Object.entries(run.phases)
      .map(([k, v]) => `${k} ${Math.round(v)}`)
      .join(', ');
  checks.push(
    check(
      'match-memory',
      `match and aggregate (${scale}), product path with HMAC: our CPU time vs 1-thread DuckDB's, same data, same run`,
      duck
        ? `${m(bestHmac.cpuSeconds)} vs ${m(duck.cpuSeconds1Thread)} = ${round(cpuRatio ?? 0, 2)}x`
        : 'no baseline',
      'within 3x',
      duck ? (cpuRatio ?? Number.POSITIVE_INFINITY) <= 3 : null,
    ),
    check(
      'match-memory',
      `same, wall time vs ${duck?.threads ?? '?'}-thread DuckDB (ours on one core)`,
      duck
        ? `${m(bestHmac.seconds)} vs ${m(duck.seconds)} = ${ratio(bestHmac.seconds, duck.seconds)}x`
        : 'no baseline',
      'info',
      null,
    ),
    check(
      'match-memory',
      'HMAC share of our CPU time (batch HMAC over the distinct digests alone)',
      `${m(hmacOnlyCpuSeconds)} of ${m(bestHmac.cpuSeconds)} = ${round((100 * hmacOnlyCpuSeconds) / bestHmac.cpuSeconds, 1)} %`,
      'info',
      null,
    ),
    check(
      'match-memory',
      'list fingerprint share of our CPU time (the fingerprint alone over the distinct digests)',
      `${m(fingerprintOnlyCpuSeconds)} of ${m(bestHmac.cpuSeconds)} = ${round((100 * fingerprintOnlyCpuSeconds) / bestHmac.cpuSeconds, 1)} %`,
      'info',
      null,
    ),
    check('match-memory', 'our wall ms per phase (HMAC keyer)', phaseText(bestHmac), 'info', null),
    check(
      'match-memory',
      'gap to DuckDB without HMAC or fingerprint (identity keyer, like-for-like): CPU vs 1-thread, wall vs multi-thread',
      duck
        ? `CPU ${m(bestIdent.cpuSeconds)} = ${ratio(bestIdent.cpuSeconds, duck.cpuSeconds1Thread)}x; wall ${m(bestIdent.seconds)} = ${ratio(bestIdent.seconds, duck.seconds)}x`
        : 'no baseline',
      'info',
      null,
    ),
    check(
      'match-memory',
      'tallies equal the generated truth (and DuckDB)',
      `ours ${agreeExpected ? 'equal' : 'DIFFER'}${duck ? `, DuckDB ${agreeDuck ? 'equal' : 'DIFFER'}` : ''}`,
      'equal',
      agreeExpected && agreeDuck !== false,
    ),
  );
  notes.push(
    `match-memory: ours = the shard step's matching (matchShard with the list fingerprint as matchOneShard runs it; without its object store reads and writes, which memory-10m includes) over the 16 shard files (as the split writes them and the shard step reads them) one after another on one core in one set of shard tables (memory store answered synchronously, 100 keys a batch), data in memory (a view per list row), the shard files' buffers and the shard tables kept from round to round (a worker's working memory; the rounds' new buffers, the shards' runs, stay under V8's 64 MB external-memory trigger of a full GC of the store's heap), store built beforehand (${round(buildSeconds, 1)} s, excluded); DuckDB ${duck?.threads ?? '?'} threads and 1 thread, load (${duck ? round(duck.loadSeconds, 1) : '?'} s, appender) excluded; best of ${rounds} by CPU time on both sides. Phases: partition = the shard files written (shardOf's split, each digest copied into its shard's singles block), dedupe = shardBlocks, matchShard's reading and digest table, and the list fingerprint (what the other phases leave), keying = batch HMAC (WebAssembly SIMD, four digests at a time), lookup = MemoryAudienceStore.addMembershipsOfKeys (lookups and tally in one: tally stays 0 on this path), run = matched people counted and their sorted run encoded, reduce = reduceTallies. HMAC alone over ${human(data.distinct)} distinct digests: ${round(hmacOnlyCpuSeconds, 2)} CPU s; the list fingerprint alone: ${round(fingerprintOnlyCpuSeconds, 2)} CPU s.`,
  );
  return { rows, checks, notes };
}

// Run alone (npm run bench runs it so, in a fresh process): prints its BenchOutput as the last line.
if (import.meta.url === `file://${process.argv[1]}`) {
  benchMatchMemory({ quick: process.argv.includes('--quick') })
    .then((out) => process.stdout.write(`\n${JSON.stringify(out)}\n`, () => process.exit(0)))
    .catch((error: unknown) => {
      process.stderr.write(`match-memory failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(1);
    });
}
