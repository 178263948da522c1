/**
 * Partner ingest, scaled out. A members file of any size is read once and split; the work then runs
 * shard by shard with bounded memory in each worker (a Distributed Map in AWS, worker threads in
 * the embedded stack), and one conditional catalog write makes the whole file live at once:
 *
 * 1. plan, split (per byte range of the file) and join (shared/use-cases/ingest-split.ts): every
 *    row validated and counted (the rejection report), each accepted row appended to the people
 *    shard of its person's primary identifier (the first non-empty one in kind order; 256 shards
 *    by the digest's first byte, the match's prefixes), the shards grouped into units of at most
 *    ROWS_PER_UNIT rows;
 * 2. people (per unit): each shard's rows grouped by person (a shard holds every row of its
 *    people, so distinct counts add up exactly across shards): accepted, duplicates, segment sizes
 *    and kinds; every identifier keyed with the pepper and written, with its person and segments,
 *    to the run of its identifier partition (256, by the keyed value's top byte);
 * 3. gate (one step): the whole file's counts decide: a file that accepts nothing or rejects more
 *    than its upload allows fails with its report, a dry run stops with it; nothing was written to
 *    the table yet;
 * 4. identifiers (per filter part, 16 partitions of identifiers each): every item an identifier of
 *    the part touches (the upload's, and those of the versions it replaces) read, merged with the
 *    new versions' tokens and written; a person is counted for the base once, at the item of its
 *    own primary identifier (whose key is the person key), so base sizes add up across parts; the
 *    part's manifests and membership filter are written;
 * 5. finish (one step): the counts summed, sizes published (noisy, once per upload), the catalog
 *    flipped in one conditional write, retired versions swept, the intermediate files deleted.
 *
 * Steps 2 and 4 are idempotent (a retried unit rewrites the same runs and merges the same tokens);
 * tokens of the new versions written before the flip are ignored by readers until it, so a failed
 * shard fails the ingest without touching the live versions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countCurrent, currentTokens, emptyCatalog, token } from '../domain/audiences/membership.ts';
import {
  DEFAULT_BITS_PER_KEY,
  FILTER_PARTS,
  MembershipFilter,
} from '../domain/audiences/membership-filter.ts';
import { DomainError } from '../domain/errors.ts';
import { decodeBase64Digest, decodeHexDigest } from '../domain/identifiers/normalize.ts';
import type { AudienceUploadRecord, IngestReport } from '../domain/jobs.ts';
import {
  IDENTIFIER_KINDS,
  orderedKinds,
  type PartnerCatalog,
  type Profile,
  type SegmentInfo,
} from '../domain/model.ts';
import type { ByteRange, MemberRecord } from '../domain/ports.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import type { IngestDeps } from './ingest-audience.ts';
import { linesOf, recordsOf, SpillFiles } from './ingest-files.ts';

/** People shards: the first byte of the primary identifier's digest (a match's prefixes). */
export const PEOPLE_SHARDS = 256;
/** Identifier partitions: the keyed value's first byte; FILTER_PARTS of them make a filter part. */
export const ID_PARTITIONS = 256;
const PARTITIONS_PER_PART = ID_PARTITIONS / FILTER_PARTS;
/** Rows one people unit (one map item) takes at most, unless a single shard holds more. */
export const ROWS_PER_UNIT = 500_000;
const SAMPLE_ROWS = 20;
/** Items read and written per step. */
const CHUNK = 1_000;
export const DIGEST_BYTES = 32;
const KEY_CHARS = 43;

export interface IngestJob {
  partnerId: string;
  audienceId: string;
}

/** A people unit's records in one range's object of the split. */
export interface PeoplePiece {
  range: number;
  start: number;
  end: number;
}

/** What the plan and the join decided, kept beside the intermediate files for the later steps. */
export interface IngestPlan extends IngestJob {
  /** The partner lock's owner: every step renews it, finish releases it. */
  owner: string;
  keyId: string;
  /** Whether the partner had a catalog when the ingest started (else nothing to merge with). */
  stored: boolean;
  revision: number;
  segments: string[];
  versions: number[];
  /**
   * The drop: where it is, its entity tag when planned (every read is pinned to it), its header
   * line (base64, read before each range), and its data lines cut into byte ranges at line starts.
   */
  drop: { bucket: string; key: string; etag: string; header: string; ranges: ByteRange[] };
  /** The whole file's counts, from the join (zero before it). */
  rowsRead: number;
  rejected: number;
  rejectedByRule: IngestReport['rejectedByRule'];
  /**
   * People units, from the join: the people shards each holds (non-empty ones, in order), their
   * rows, and where their records are in the split's range objects.
   */
  units: { shards: number[]; rows: number; pieces: PeoplePiece[] }[];
}

interface PeopleCounts {
  accepted: number;
  duplicates: number;
  members: number[];
  kinds: number[];
}

interface PartCounts {
  baseDelta: number;
  maxSegments: number;
  filterKeys: number;
}

const workKey = (job: IngestJob, rest: string) =>
  `${OBJECT_KEYS.ingestWork(job.partnerId, job.audienceId)}${rest}`;
const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const planKey = (job: IngestJob) => workKey(job, 'plan.json');
/** A split range's people records, its shards one after another in shard order. */
export const splitKey = (job: IngestJob, range: number) => workKey(job, `split/${pad(range, 4)}.bin`);
export const splitCountsKey = (job: IngestJob, range: number) =>
  workKey(job, `counts/split-${pad(range, 4)}.json`);
const peopleCountsKey = (job: IngestJob, unit: number) => workKey(job, `counts/people-${pad(unit, 4)}.json`);
/** A people unit's identifier records of one filter part (any order within). */
const idsKey = (job: IngestJob, part: number, unit: number) =>
  workKey(job, `ids/${pad(part, 2)}/${pad(unit, 4)}.bin`);
const partCountsKey = (job: IngestJob, part: number) => workKey(job, `counts/part-${pad(part, 2)}.json`);

/** A file refused by the gate: nothing changed; its report says why. */
export class IngestRefused extends DomainError {
  constructor(
    detail: string,
    readonly report: IngestReport,
  ) {
    super('ingest-rejected', detail);
  }
}

/** Rejected rows by rule: every one counted, the first SAMPLE_ROWS of each named. */
export class RuleCounter {
  readonly byRule: IngestReport['rejectedByRule'] = {};
  total = 0;
  reject(rule: string, row: number) {
    this.add(rule, 1, [row]);
  }
  /** `count` more rows of `rule`, of which `rows` are the first (in file order, after those so far). */
  add(rule: string, count: number, rows: readonly number[]) {
    const entry = this.byRule[rule] ?? { count: 0, rows: [] };
    this.byRule[rule] = entry;
    entry.count += count;
    for (const row of rows) if (entry.rows.length < SAMPLE_ROWS) entry.rows.push(row);
    this.total += count;
  }
}

/** Hash format per profile: hex for basic and google; uid2 also takes its native base64. */
export function decodeMemberHash(value: string, profile: Profile): Uint8Array | undefined {
  const v = value.trim();
  if (v.length === 64) return decodeHexDigest(v);
  if (profile === 'uid2' && v.length === 44) return decodeBase64Digest(v);
  return undefined;
}

/** The prefix of an ingest's local scratch folders (partner digests): recovery removes them after a crash. */
export const ingestDirPrefix = (audienceId: string) => `onboard-ingest-${audienceId}-`;

export async function withScratch<T>(job: IngestJob, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), ingestDirPrefix(job.audienceId)));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function readJson<T>(deps: IngestDeps, key: string): Promise<T> {
  const text = await deps.objects.readText(deps.buckets.results, key);
  if (text === undefined) throw new Error('a step of the ingest lost its input');
  return JSON.parse(text) as T;
}

/** Requests on small objects, at most 16 at a time; results in order. */
export async function readAll<T>(keys: string[], read: (key: string) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < keys.length; i += 16) out.push(...(await Promise.all(keys.slice(i, i + 16).map(read))));
  return out;
}

export function loadPlan(deps: IngestDeps, job: IngestJob): Promise<IngestPlan> {
  return readJson<IngestPlan>(deps, planKey(job));
}

/** Every step renews the partner lock it runs under; one that lost it stops. */
export async function renewLock(deps: IngestDeps, plan: IngestPlan): Promise<void> {
  if (!(await deps.audiences.acquireLock(plan.partnerId, plan.owner, deps.lockTtlSeconds ?? 900))) {
    throw new DomainError(
      'conflict',
      'The ingest lost its partner lock; nothing was released. Upload again.',
    );
  }
}

/** A map step's end: its counts stored for the later steps, and the upload record touched (alive). */
export async function recordStep(
  deps: IngestDeps,
  plan: IngestPlan,
  key: string,
  counts: object,
): Promise<void> {
  await deps.objects.write(deps.buckets.results, key, JSON.stringify(counts), 'application/json');
  await deps.jobs.update('audience', plan.partnerId, plan.audienceId, {});
}

/**
 * The lock held through a long step: renewed at the step's start and again whenever a third of its
 * lifetime has passed since (`keep()` is called between chunks of work), so a step that runs longer
 * than the lock's lifetime never loses it to another ingest of the partner.
 */
export async function lockKeeper(
  deps: IngestDeps,
  plan: IngestPlan,
  clock: () => number = () => Date.now(),
): Promise<{ keep(): Promise<void> }> {
  const everyMs = ((deps.lockTtlSeconds ?? 900) * 1000) / 3;
  await renewLock(deps, plan);
  let renewed = clock();
  return {
    async keep() {
      if (clock() - renewed < everyMs) return;
      await renewLock(deps, plan);
      renewed = clock();
    },
  };
}

// --- 2. people ---------------------------------------------------------------------------------

const personRecordLength = (data: Uint8Array, at: number) => {
  const n = data[at + 2];
  return n === undefined ? undefined : 3 + n * (1 + DIGEST_BYTES);
};

/**
 * An identifier record: [key 43][kind u8][person key 43][segments u16][segment u16 x n]. The
 * person's segments ride on every identifier of it, so each item can be merged where it lives.
 */
const idRecordLength = (data: Uint8Array, at: number) => {
  if (at + 2 * KEY_CHARS + 3 > data.length) return undefined;
  const n = (data[at + 2 * KEY_CHARS + 1] as number) | ((data[at + 2 * KEY_CHARS + 2] as number) << 8);
  const links = data[at + 2 * KEY_CHARS + 3 + 2 * n];
  return links === undefined ? undefined : 2 * KEY_CHARS + 4 + 2 * n + links * KEY_CHARS;
};

/** The identifier partition of a keyed value: its first byte (two base64url characters). */
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export function idPartitionOf(key: string): number {
  return ((B64.indexOf(key[0] ?? '') << 2) | (B64.indexOf(key[1] ?? '') >>> 4)) & 0xff;
}

/**
 * A people unit's records, shard by shard: each shard's records from every range's object (one
 * ranged read of each, all open at once, each in shard order), so a shard's people come together.
 */
async function* unitRecords(
  deps: IngestDeps,
  job: IngestJob,
  unit: IngestPlan['units'][number],
): AsyncIterable<Uint8Array> {
  const streams = unit.pieces.map((piece) =>
    recordsOf(deps.objects.read(deps.buckets.results, splitKey(job, piece.range), piece), personRecordLength)[
      Symbol.asyncIterator
    ](),
  );
  try {
    const heads = await Promise.all(streams.map((s) => s.next()));
    for (const shard of unit.shards) {
      for (const [i, stream] of streams.entries()) {
        for (let head = heads[i]; head && !head.done && head.value[4] === shard; head = heads[i]) {
          yield head.value;
          heads[i] = await stream.next();
        }
      }
    }
    if (heads.some((h) => !h.done)) throw new Error('a people unit holds a record of another shard');
  } finally {
    await Promise.all(streams.map((s) => s.return?.()));
  }
}

/** Step 2: one unit of people shards; writes its identifier runs and its counts. Idempotent. */
export async function ingestPeopleUnit(
  deps: IngestDeps,
  job: IngestJob & { unit: number },
): Promise<{ rows: number }> {
  const plan = await loadPlan(deps, job);
  const lock = await lockKeeper(deps, plan);
  const range = plan.units[job.unit];
  if (!range) throw new Error('no such unit of the ingest');
  const keyer = await deps.keyer(plan.keyId);
  const counts: PeopleCounts = {
    accepted: 0,
    duplicates: 0,
    members: plan.segments.map(() => 0),
    kinds: plan.segments.map(() => 0),
  };
  await withScratch(job, async (dir) => {
    const runs = new SpillFiles(dir, 'ids');
    try {
      // One shard's people at a time (1/256 of the file): its records are contiguous in the unit.
      let people = new Map<string, { ids: Map<string, number>; segments: Set<number> }>();
      let shard = -1;
      const flush = async () => {
        for (const [primary, person] of people) {
          const personKey = keyer.key(Buffer.from(primary, 'latin1'));
          const segs = [...person.segments];
          let kinds = 0;
          for (const kind of person.ids.values()) kinds |= 1 << kind;
          for (const s of segs) {
            counts.members[s] = (counts.members[s] ?? 0) + 1;
            counts.kinds[s] = (counts.kinds[s] ?? 0) | kinds;
          }
          const keyed = [...person.ids].map(([id, kind]) => ({
            key: id === primary ? personKey : keyer.key(Buffer.from(id, 'latin1')),
            kind,
          }));
          // The item of the person's own key links its other identifiers (what an erasure follows).
          const others = keyed.filter((k) => k.key !== personKey).map((k) => k.key);
          const fixed = 2 * KEY_CHARS + 4 + 2 * segs.length;
          const record = Buffer.alloc(fixed + others.length * KEY_CHARS);
          record.write(personKey, KEY_CHARS + 1, KEY_CHARS, 'latin1');
          record.writeUInt16LE(segs.length, 2 * KEY_CHARS + 1);
          segs.forEach((s, i) => {
            record.writeUInt16LE(s, 2 * KEY_CHARS + 3 + 2 * i);
          });
          others.forEach((k, i) => {
            record.write(k, fixed + i * KEY_CHARS, KEY_CHARS, 'latin1');
          });
          for (const { key, kind } of keyed) {
            record.write(key, 0, KEY_CHARS, 'latin1');
            record[KEY_CHARS] = kind;
            record[fixed - 1] = key === personKey ? others.length : 0;
            const length = key === personKey ? record.length : fixed;
            await runs.append(idPartitionOf(key) >>> 4, record.subarray(0, length));
          }
        }
        people = new Map();
      };
      for await (const rec of unitRecords(deps, job, range)) {
        if (rec[4] !== shard) {
          await flush();
          await lock.keep();
          shard = rec[4] as number;
        }
        const segment = (rec[0] as number) | ((rec[1] as number) << 8);
        const n = rec[2] as number;
        const primary = Buffer.from(rec.buffer, rec.byteOffset + 4, DIGEST_BYTES).toString('latin1');
        let person = people.get(primary);
        if (!person) {
          person = { ids: new Map(), segments: new Set() };
          people.set(primary, person);
        }
        for (let i = 0; i < n; i++) {
          const at = 3 + i * (1 + DIGEST_BYTES);
          const id = Buffer.from(rec.buffer, rec.byteOffset + at + 1, DIGEST_BYTES).toString('latin1');
          person.ids.set(id, rec[at] as number);
        }
        if (person.segments.has(segment)) counts.duplicates++;
        else {
          person.segments.add(segment);
          counts.accepted++;
        }
      }
      await flush();
      for (const part of await runs.close()) {
        await deps.objects.write(deps.buckets.results, idsKey(job, part, job.unit), runs.read(part));
      }
    } finally {
      runs.destroy();
    }
  });
  await recordStep(deps, plan, peopleCountsKey(job, job.unit), counts);
  return { rows: range.rows };
}

// --- 3. gate -----------------------------------------------------------------------------------

/** The report of the whole file from the people units' counts. */
async function reportOf(
  deps: IngestDeps,
  plan: IngestPlan,
): Promise<{ report: IngestReport; kinds: number[] }> {
  const total: PeopleCounts = {
    accepted: 0,
    duplicates: 0,
    members: plan.segments.map(() => 0),
    kinds: plan.segments.map(() => 0),
  };
  // Read side by side: one request's latency for the lot, not one per unit.
  const units = await readAll(
    plan.units.map((_, unit) => peopleCountsKey(plan, unit)),
    (key) => readJson<PeopleCounts>(deps, key),
  );
  for (const c of units) {
    total.accepted += c.accepted;
    total.duplicates += c.duplicates;
    c.members.forEach((m, i) => {
      total.members[i] = (total.members[i] ?? 0) + m;
    });
    c.kinds.forEach((k, i) => {
      total.kinds[i] = (total.kinds[i] ?? 0) | k;
    });
  }
  return {
    report: {
      rowsRead: plan.rowsRead,
      accepted: total.accepted,
      rejected: plan.rejected,
      rejectedByRule: plan.rejectedByRule,
      duplicates: total.duplicates,
      segments: plan.segments.map((segmentId, i) => ({
        segmentId,
        members: total.members[i] ?? 0,
        version: 0,
      })),
    },
    kinds: total.kinds,
  };
}

/**
 * Step 3: the gate, on the whole file's counts, before anything is written to the table. Throws
 * IngestRefused; returns the dry run's report, or undefined when the ingest goes on.
 */
export async function gateIngest(
  deps: IngestDeps,
  upload: AudienceUploadRecord,
  job: IngestJob,
): Promise<IngestReport | undefined> {
  const plan = await loadPlan(deps, job);
  await renewLock(deps, plan);
  const { report } = await reportOf(deps, plan);
  const allowed = upload.maxRejectedShare ?? DEFAULT_MAX_REJECTED_SHARE;
  if (report.accepted === 0) {
    throw new IngestRefused(
      `No row of the file was accepted (${report.rowsRead} read, ${report.rejected} rejected); the segments keep their current members. The report lists the rules.`,
      report,
    );
  }
  if (report.rowsRead > 0 && report.rejected / report.rowsRead > allowed) {
    throw new IngestRefused(
      `${report.rejected} of ${report.rowsRead} rows were rejected (${((report.rejected / report.rowsRead) * 100).toFixed(1)} %), more than the ${(allowed * 100).toFixed(1)} % this upload allows; the segments keep their current members. Fix the rows the report names, or declare a higher maxRejectedShare.`,
      report,
    );
  }
  return upload.dryRun ? { ...report, dryRun: true } : undefined;
}

/** An ingest rejecting more than this share of its rows fails, unless its upload allows more. */
export const DEFAULT_MAX_REJECTED_SHARE = 0.1;

// --- 4. identifiers ----------------------------------------------------------------------------

/**
 * The manifest objects of a segment version: its part objects by part, and the older single
 * object (every part's keys in one), listed once.
 */
export async function manifestLayout(
  deps: IngestDeps,
  partnerId: string,
  keyId: string,
  segmentId: string,
  version: number,
): Promise<{ parts: Set<number>; legacy: boolean }> {
  const legacy = OBJECT_KEYS.manifest(partnerId, keyId, segmentId, version);
  const dir = legacy.replace(/\.keys$/, '/');
  const parts = new Set<number>();
  let hasLegacy = false;
  for (const key of await deps.objects.list(deps.buckets.results, legacy.replace(/\.keys$/, ''))) {
    if (key === legacy) hasLegacy = true;
    else if (key.startsWith(dir)) parts.add(Number(key.slice(dir.length).replace(/\.keys$/, '')));
  }
  return { parts, legacy: hasLegacy };
}

/** The keyed values of a segment version in one filter part. */
export async function* manifestPartKeys(
  deps: IngestDeps,
  partnerId: string,
  keyId: string,
  segment: { segmentId: string; version: number; layout: { parts: Set<number>; legacy: boolean } },
  part: number,
): AsyncIterable<string> {
  const { results } = deps.buckets;
  const { segmentId, version, layout } = segment;
  if (layout.parts.has(part))
    yield* linesOf(
      deps.objects.read(results, OBJECT_KEYS.manifestPart(partnerId, keyId, segmentId, version, part)),
    );
  if (layout.legacy) {
    const legacy = OBJECT_KEYS.manifest(partnerId, keyId, segmentId, version);
    for await (const key of linesOf(deps.objects.read(results, legacy)))
      if (idPartitionOf(key) >>> 4 === part) yield key;
  }
}

/** Step 4: one filter part (16 identifier partitions): items merged, manifests, filter. Idempotent. */
export async function ingestIdentifierPart(
  deps: IngestDeps,
  job: IngestJob & { part: number },
): Promise<{ items: number }> {
  const plan = await loadPlan(deps, job);
  const lock = await lockKeeper(deps, plan);
  let items = 0;
  const catalog =
    (await deps.audiences.readCatalog(plan.partnerId)) ?? emptyCatalog(plan.partnerId, 'basic', plan.keyId);
  if (catalog.revision !== plan.revision) {
    throw new DomainError(
      'conflict',
      'The catalog changed during the ingest; nothing was released. Upload again.',
    );
  }
  const declared = new Set(plan.segments);
  const versionOf = (i: number) => plan.versions[i] as number;
  const retiredNow = catalog.segments.filter((s) => declared.has(s.segmentId));
  const oldCurrent = currentTokens(catalog.segments);
  const newSegments: Pick<SegmentInfo, 'segmentId' | 'version'>[] = [
    ...catalog.segments.filter((s) => !declared.has(s.segmentId)),
    ...plan.segments.map((segmentId, i) => ({ segmentId, version: versionOf(i) })),
  ];
  const newCurrent = currentTokens(newSegments as SegmentInfo[]);
  // Tokens still worth keeping: current before or after the flip, or retired and awaiting their sweep.
  const live = new Set([
    ...oldCurrent,
    ...newCurrent,
    ...catalog.retired.map((r) => token(r.segmentId, r.version)),
  ]);
  const counts: PartCounts = { baseDelta: 0, maxSegments: 0, filterKeys: 0 };
  const first = job.part * PARTITIONS_PER_PART;

  await withScratch(job, async (dir) => {
    // The replaced versions' identifiers of this part, spilled by partition.
    const old = new SpillFiles(dir, 'old');
    const manifests = new SpillFiles(dir, 'manifest');
    const toDestroy: SpillFiles[] = [];
    try {
      const withLayout = async (s: SegmentInfo) => ({
        segmentId: s.segmentId,
        version: s.version,
        layout: await manifestLayout(deps, plan.partnerId, plan.keyId, s.segmentId, s.version),
      });
      const replaced = await Promise.all(retiredNow.map(withLayout));
      const kept = await Promise.all(
        catalog.segments.filter((s) => !declared.has(s.segmentId)).map(withLayout),
      );
      for (const s of replaced) {
        for await (const key of manifestPartKeys(deps, plan.partnerId, plan.keyId, s, job.part))
          await old.append(idPartitionOf(key), Buffer.from(`${key}\n`, 'latin1'));
      }
      const oldPartitions = new Set(await old.close());
      // The upload's identifier records of this part (one run a people unit), spilled by partition.
      const fresh = new SpillFiles(dir, 'fresh');
      toDestroy.push(fresh);
      for (const runKey of await deps.objects.list(
        deps.buckets.results,
        workKey(plan, `ids/${pad(job.part, 2)}/`),
      )) {
        for await (const rec of recordsOf(deps.objects.read(deps.buckets.results, runKey), idRecordLength))
          await fresh.append(
            idPartitionOf(Buffer.from(rec.buffer, rec.byteOffset, 2).toString('latin1')),
            rec,
          );
      }
      const freshPartitions = new Set(await fresh.close());

      for (let partition = first; partition < first + PARTITIONS_PER_PART; partition++) {
        // This partition's identifiers of the upload: key -> kind and people -> segments.
        const owners = new Map<string, { kind: number; people: Map<string, number[]>; links: Set<string> }>();
        if (freshPartitions.has(partition)) {
          for await (const rec of recordsOf(fresh.read(partition), idRecordLength)) {
            const buf = Buffer.from(rec.buffer, rec.byteOffset, rec.length);
            const key = buf.toString('latin1', 0, KEY_CHARS);
            const person = buf.toString('latin1', KEY_CHARS + 1, 2 * KEY_CHARS + 1);
            const n = buf.readUInt16LE(2 * KEY_CHARS + 1);
            const segs: number[] = [];
            for (let i = 0; i < n; i++) segs.push(buf.readUInt16LE(2 * KEY_CHARS + 3 + 2 * i));
            let owner = owners.get(key);
            if (!owner) {
              owner = { kind: buf[KEY_CHARS] as number, people: new Map(), links: new Set() };
              owners.set(key, owner);
            }
            owner.people.set(person, segs);
            const fixed = 2 * KEY_CHARS + 4 + 2 * n;
            for (let i = 0; i < (buf[fixed - 1] as number); i++)
              owner.links.add(buf.toString('latin1', fixed + i * KEY_CHARS, fixed + (i + 1) * KEY_CHARS));
          }
        }
        const touched = new Set(owners.keys());
        if (oldPartitions.has(partition))
          for await (const key of linesOf(old.read(partition))) touched.add(key);

        const keys = [...touched];
        for (let i = 0; i < keys.length; i += CHUNK) {
          const chunk = keys.slice(i, i + CHUNK);
          // A partner's first ingest has nobody to merge with: items left by a failed attempt hold
          // only tokens of versions never made current, so they may be overwritten unread.
          const existing = plan.stored
            ? await deps.audiences.readMembers(plan.partnerId, plan.keyId, chunk)
            : new Map<string, MemberRecord>();
          const writes: MemberRecord[] = [];
          for (const key of chunk) {
            const had = existing.get(key);
            const owner = owners.get(key);
            const tokensOf = new Map<string, Set<string>>();
            let dropped = false;
            let before = false;
            for (const p of had?.people ?? []) {
              if (p.person === key) before = countCurrent(p.tokens, oldCurrent) > 0;
              const kept = p.tokens.filter((t) => live.has(t));
              dropped ||= kept.length !== p.tokens.length;
              tokensOf.set(p.person, new Set(kept));
            }
            for (const [person, segs] of owner?.people ?? []) {
              const tokens = tokensOf.get(person) ?? new Set<string>();
              tokensOf.set(person, tokens);
              for (const s of segs) tokens.add(token(plan.segments[s] as string, versionOf(s)));
            }
            // A person is counted once, at its own primary identifier's item (key = person key).
            const own = tokensOf.get(key);
            if (own || before) {
              const after = own ? countCurrent(own, newCurrent) : 0;
              counts.baseDelta += (after > 0 ? 1 : 0) - (before ? 1 : 0);
              counts.maxSegments = Math.max(counts.maxSegments, after);
            }
            if (owner) {
              const inSegments = new Set<number>();
              for (const segs of owner.people.values()) for (const s of segs) inSegments.add(s);
              for (const s of inSegments) await manifests.append(s, Buffer.from(`${key}\n`, 'latin1'));
            }
            if (owner || dropped) {
              // The item of a person's own key links that person's other identifiers (for erasure).
              const links = new Set([...(had?.links ?? []), ...(owner?.links ?? [])]);
              writes.push({
                ...(links.size > 0 ? { links: [...links] } : {}),
                key,
                kind: owner ? (IDENTIFIER_KINDS[owner.kind] ?? 'email') : (had?.kind ?? 'email'),
                people: [...tokensOf].map(([person, tokens]) => ({ person, tokens: [...tokens] })),
              });
            }
          }
          await deps.audiences.writeMembers(plan.partnerId, plan.keyId, writes);
          items += writes.length;
          await lock.keep();
        }
      }

      const written = new Set(await manifests.close());
      for (const s of written) {
        await deps.objects.write(
          deps.buckets.results,
          OBJECT_KEYS.manifestPart(
            plan.partnerId,
            plan.keyId,
            plan.segments[s] as string,
            versionOf(s),
            job.part,
          ),
          manifests.read(s),
          'text/plain',
        );
      }
      // The part's filter: every identifier holding a token of a version current after the flip.
      // Sized by a first pass over the manifests, filled by a second.
      const sources = (): AsyncIterable<string>[] => [
        ...[...written].map((s) => linesOf(manifests.read(s))),
        ...kept.map((s) => manifestPartKeys(deps, plan.partnerId, plan.keyId, s, job.part)),
      ];
      let n = 0;
      for (const source of sources()) for await (const _ of source) n++;
      const filter = MembershipFilter.sized(n, DEFAULT_BITS_PER_KEY);
      for (const source of sources()) for await (const key of source) filter.add(key);
      counts.filterKeys = n;
      await deps.objects.write(
        deps.buckets.results,
        OBJECT_KEYS.filterPart(plan.partnerId, plan.keyId, plan.audienceId, job.part),
        filter.bytes(),
        'application/octet-stream',
      );
    } finally {
      old.destroy();
      manifests.destroy();
      for (const f of toDestroy) f.destroy();
    }
  });
  await recordStep(deps, plan, partCountsKey(plan, job.part), counts);
  return { items };
}

// --- 5. finish ---------------------------------------------------------------------------------

/** Step 5: publish the sizes once, flip the catalog, sweep; returns the report. */
export async function finishIngest(
  deps: IngestDeps,
  upload: AudienceUploadRecord,
  job: IngestJob,
  now: () => Date,
): Promise<IngestReport> {
  const plan = await loadPlan(deps, job);
  await renewLock(deps, plan);
  const { report, kinds } = await reportOf(deps, plan);
  const stored = await deps.audiences.readCatalog(plan.partnerId);
  const catalog = stored ?? emptyCatalog(plan.partnerId, upload.profile, plan.keyId);
  const withVersions = (r: IngestReport) => ({
    ...r,
    segments: r.segments.map((s, i) => ({ ...s, version: plan.versions[i] as number })),
  });
  // A retried finish after its flip: this upload's versions and filter are live. Nothing is
  // published or flipped again.
  if (catalog.revision > plan.revision && flippedBy(catalog, plan)) return withVersions(report);
  if (catalog.revision !== plan.revision) {
    throw new DomainError(
      'conflict',
      'The catalog changed during the ingest; nothing was released. Upload again.',
    );
  }
  let baseDelta = 0;
  let maxSegments = 0;
  let filterKeys = 0;
  const parts = await readAll(
    Array.from({ length: FILTER_PARTS }, (_, part) => partCountsKey(plan, part)),
    (key) => readJson<PartCounts>(deps, key),
  );
  for (const c of parts) {
    baseDelta += c.baseDelta;
    maxSegments = Math.max(maxSegments, c.maxSegments);
    filterKeys += c.filterKeys;
  }
  const declared = new Map(upload.segments.map((s) => [s.segmentId, s]));
  const sizes = new Map(report.segments.map((s) => [s.segmentId, s.members]));
  const baseSize = catalog.baseSize + baseDelta;
  const published = await deps.publishSizes(plan.partnerId, plan.audienceId, {
    segments: new Map(plan.segments.map((id) => [id, sizes.get(id) ?? 0])),
    base: baseSize,
  });
  const retiredNow = catalog.segments.filter((s) => declared.has(s.segmentId));
  const at = now().toISOString();
  const flipped: PartnerCatalog = {
    ...catalog,
    segments: [
      ...catalog.segments.filter((s) => !declared.has(s.segmentId)),
      ...plan.segments.map((segmentId, i) => {
        const d = declared.get(segmentId);
        return {
          segmentId,
          name: d?.name ?? segmentId,
          description: d?.description,
          size: sizes.get(segmentId) ?? 0,
          publishedSize: published.segments.get(segmentId) ?? null,
          version: plan.versions[i] as number,
          kinds: orderedKinds(IDENTIFIER_KINDS.filter((_, k) => ((kinds[i] ?? 0) >> k) & 1)),
        } as SegmentInfo;
      }),
    ],
    baseSize,
    publishedBaseSize: published.base,
    maxSegmentsPerMember: Math.max(catalog.maxSegmentsPerMember, maxSegments),
    revision: catalog.revision + 1,
    retired: [
      ...catalog.retired,
      ...retiredNow.map((s) => ({ segmentId: s.segmentId, version: s.version, retiredAt: at })),
    ],
    filter: {
      id: plan.audienceId,
      keyId: plan.keyId,
      parts: FILTER_PARTS,
      bitsPerKey: DEFAULT_BITS_PER_KEY,
      keys: filterKeys,
    },
    retiredFilters: [
      ...(catalog.retiredFilters ?? []),
      ...(catalog.filter
        ? [{ id: catalog.filter.id, keyId: catalog.filter.keyId, parts: catalog.filter.parts, retiredAt: at }]
        : []),
    ],
    updatedAt: at,
  };
  if (!(await deps.audiences.writeCatalog(flipped, catalog.revision))) {
    throw new DomainError(
      'conflict',
      'The catalog changed during the ingest; nothing was released. Upload again.',
    );
  }
  await deps.audiences.registerPartner(plan.partnerId);
  return withVersions(report);
}

/** Whether a catalog holds an ingest's flip: its filter, and each declared segment at its new version. */
function flippedBy(catalog: PartnerCatalog, plan: IngestPlan): boolean {
  if (catalog.filter?.id !== plan.audienceId) return false;
  const version = new Map(catalog.segments.map((s) => [s.segmentId, s.version]));
  return plan.segments.every((id, i) => version.get(id) === plan.versions[i]);
}

/** Deletes an ingest's intermediate files (people shards, identifier runs, counts, plan). */
export async function deleteIngestWork(deps: IngestDeps, job: IngestJob): Promise<number> {
  const keys = await deps.objects.list(
    deps.buckets.results,
    OBJECT_KEYS.ingestWork(job.partnerId, job.audienceId),
  );
  await readAll(keys, (key) => deps.objects.delete(deps.buckets.results, key));
  return keys.length;
}

/** Runs map items at most `concurrency` at once; the first failure fails the map once all settle. */
export async function mapInProcess<T>(
  items: readonly T[],
  work: (item: T) => Promise<void>,
  concurrency = 1,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < items.length && !failure) {
      const item = items[next++] as T;
      await work(item).catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  if (failure) throw failure.error;
}
