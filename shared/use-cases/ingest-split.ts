/**
 * The split of a partner ingest, scaled out: a members file of any size is cut into byte ranges at
 * line starts and each range is split by its own worker (a Distributed Map item in AWS, a worker
 * thread in the embedded stack), then one join step puts the pieces together:
 *
 * - plan (the drop's S3 event, one small step): the header line read and checked, the file's size
 *   and entity tag taken, the cuts found (a few ranged reads, one a cut), the plan written;
 * - split (per range): the range read with the header line before it, every row validated and
 *   counted with row numbers local to the range, each accepted row appended to the people shard of
 *   its person's primary identifier; one object a range (its shards in order) and its counts;
 * - join (one step): the ranges' counts summed, their rejected rows renumbered for the whole file
 *   (each range starts where the rows of the ranges before it end), the people units laid out over
 *   the ranges' objects (a unit reads one byte range of each), the drop deleted.
 *
 * A members file holds one record a line (a quoted line break is refused), so a cut at a line start
 * is a cut between records and the ranges read apart give the rows, rejections and errors the file
 * read whole gives. Every range read is pinned to the entity tag the plan took: a drop replaced
 * during its ingest fails it instead of mixing two files.
 */

import { nextVersion } from '../domain/audiences/membership.ts';
import { DomainError } from '../domain/errors.ts';
import type { AudienceUploadRecord, IngestReport } from '../domain/jobs.ts';
import {
  type IdentifierColumn,
  ListFormatError,
  type ListFormatErrorReason,
  openList,
  type ParseListOptions,
} from '../domain/lists/parse-list.ts';
import { IDENTIFIER_KINDS, type Profile } from '../domain/model.ts';
import { type ByteRange, ObjectChanged } from '../domain/ports.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import type { IngestDeps } from './ingest-audience.ts';
import { SpillFiles } from './ingest-files.ts';
import {
  DIGEST_BYTES,
  decodeMemberHash,
  type IngestJob,
  type IngestPlan,
  loadPlan,
  lockKeeper,
  PEOPLE_SHARDS,
  planKey,
  ROWS_PER_UNIT,
  RuleCounter,
  readAll,
  readJson,
  recordStep,
  renewLock,
  splitCountsKey,
  splitKey,
  withScratch,
} from './ingest-pipeline.ts';

/** The bytes a split range holds at most, unless the file would need more than MAX_RANGES (about 2.6 M rows of a typical members file). */
export const RANGE_BYTES = 256 * 1024 * 1024;
/** Ranges a file is cut into at most: a larger file gets larger ranges. */
export const MAX_RANGES = 64;
/** How far past a tentative cut a line break is looked for (else no cut there). */
const CUT_WINDOW = 1024 * 1024;

/** What one range's split counted; rows are numbered within the range (its first data row is 1). */
interface RangeCounts {
  rows: number;
  rejected: number;
  rejectedByRule: IngestReport['rejectedByRule'];
  /** Non-empty people shards in order: [shard, rows, bytes]. */
  shards: [number, number, number][];
  /** A file-level error the range met (its line within the range), raised by the join. */
  fatal?: { reason: ListFormatErrorReason; detail: string; line: number };
}

/** How a members file is parsed: CSV, hashed identifier columns, one record a line. */
function memberListOptions(profile: Profile): ParseListOptions {
  return {
    mode: 'csv',
    oneRecordPerLine: true,
    classify: () => ({ ok: false, reason: 'invalid-hash' }),
    classifyAs: () => (raw) => {
      const digest = decodeMemberHash(raw, profile);
      // The digest as a one-byte-per-char string: the split keys nothing, shards write bytes.
      return digest
        ? { ok: true, key: String.fromCharCode.apply(null, digest as unknown as number[]), output: '' }
        : { ok: false, reason: 'invalid-hash' };
    },
  };
}

/** The columns of a members file's header, or the error that says what is wrong with it. */
function memberColumns(
  header: readonly string[],
  columns: readonly IdentifierColumn[],
  profile: Profile,
): { segmentColumn: number } {
  const raw = columns.filter((c) => !c.hashed).map((c) => c.name);
  if (raw.length > 0) {
    throw new DomainError(
      'invalid-input',
      `The members file must hold hashes (email_sha256, phone_sha256), not raw identifiers: hash the column(s) ${raw.map((n) => `"${n}"`).join(', ')} with \`onboard hash --profile ${profile}\` first.`,
    );
  }
  const segmentColumn = header.findIndex(
    (h) =>
      h
        .trim()
        .toLowerCase()
        .replace(/[^a-z]/g, '') === 'segmentid',
  );
  if (segmentColumn < 0) {
    throw new DomainError(
      'invalid-input',
      'The header must name a segment_id column beside the identifier columns (email_sha256, phone_sha256).',
    );
  }
  return { segmentColumn };
}

/** A read of the drop that found it replaced since the plan took its entity tag. */
function dropReplaced(error: unknown): unknown {
  return error instanceof ObjectChanged
    ? new DomainError(
        'conflict',
        'The members file was replaced while it was being ingested; nothing was released. Upload it again.',
      )
    : error;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Where the line after offset `at` starts: within CUT_WINDOW bytes, else undefined. */
async function lineStartAfter(
  deps: IngestDeps,
  key: string,
  at: number,
  size: number,
  etag: string,
): Promise<number | undefined> {
  const window = await collect(
    deps.objects.read(deps.buckets.partnerDrops, key, {
      start: at,
      end: Math.min(size, at + CUT_WINDOW),
      etag,
    }),
  );
  const lf = window.indexOf(0x0a);
  return lf < 0 ? undefined : at + lf + 1;
}

/**
 * The byte ranges of a file's data lines: from `first` to `size`, cut at line starts into ranges of
 * about equal size, at most `rangeBytes` each unless that makes more than MAX_RANGES. Always one
 * range at least.
 */
export async function cutRanges(
  deps: IngestDeps,
  key: string,
  stat: { size: number; etag: string },
  first: number,
  rangeBytes: number,
): Promise<ByteRange[]> {
  const bytes = stat.size - first;
  const step = Math.ceil(bytes / Math.min(MAX_RANGES, Math.max(1, Math.ceil(bytes / rangeBytes))));
  const cuts = [first];
  for (let at = first + step; at < stat.size; ) {
    const cut = await lineStartAfter(deps, key, at, stat.size, stat.etag);
    if (cut === undefined) {
      at += step; // a line longer than the window: no cut here
      continue;
    }
    if (cut >= stat.size) break;
    cuts.push(cut);
    at = cut + step;
  }
  return cuts.map((start, i) => ({ start, end: cuts[i + 1] ?? stat.size }));
}

// --- plan --------------------------------------------------------------------------------------

/**
 * The first step of an ingest, under the partner lock (`owner`): the upload checked against the
 * partner's catalog, the drop's header read and checked, the drop cut into ranges; writes the plan
 * (its ranges are the split's map items).
 */
export async function planIngest(
  deps: IngestDeps,
  upload: AudienceUploadRecord,
  objectKey: string,
  owner: string,
  now: () => Date,
): Promise<IngestPlan> {
  const partnerId = upload.tenantId;
  const job = { partnerId, audienceId: upload.audienceId };
  const stored = await deps.audiences.readCatalog(partnerId);
  if (stored && stored.profile !== upload.profile) {
    throw new DomainError(
      'invalid-input',
      `This partner's audiences are hashed with the ${stored.profile} profile; the upload declared ${upload.profile}.`,
    );
  }
  const stat = await deps.objects.stat(deps.buckets.partnerDrops, objectKey);
  if (!stat) throw new DomainError('not-found', 'The members file is gone; upload it again.');
  const keyId = stored?.keyId ?? (await deps.keyer()).keyId;
  const segments = upload.segments.map((s) => s.segmentId);
  const nowMs = now().getTime();
  const oldBySegment = new Map((stored?.segments ?? []).map((s) => [s.segmentId, s]));
  const versions = segments.map((id) => nextVersion(oldBySegment.get(id)?.version, nowMs));

  const cut = await cutDrop(deps, upload.profile, objectKey, stat).catch((error: unknown) => {
    throw dropReplaced(error);
  });
  const written: IngestPlan = {
    ...job,
    owner,
    keyId,
    stored: stored !== undefined,
    revision: stored?.revision ?? 0,
    segments,
    versions,
    drop: { bucket: deps.buckets.partnerDrops, key: objectKey, etag: stat.etag, ...cut },
    rowsRead: 0,
    rejected: 0,
    rejectedByRule: {},
    units: [],
  };
  await deps.objects.write(deps.buckets.results, planKey(job), JSON.stringify(written), 'application/json');
  return written;
}

/** The drop's header line (checked) and its data lines' ranges. */
async function cutDrop(
  deps: IngestDeps,
  profile: Profile,
  objectKey: string,
  stat: { size: number; etag: string },
): Promise<{ header: string; ranges: ByteRange[] }> {
  const headerEnd = (await lineStartAfter(deps, objectKey, 0, stat.size, stat.etag)) ?? stat.size;
  if (headerEnd > CUT_WINDOW) {
    throw new DomainError(
      'invalid-input',
      'The first line of the members file (its header) is longer than 1 MiB; it must name the columns.',
    );
  }
  const header = await collect(
    deps.objects.read(deps.buckets.partnerDrops, objectKey, { start: 0, end: headerEnd, etag: stat.etag }),
  );
  const opened = await openList([header], memberListOptions(profile));
  for await (const _ of opened.batches); // the header alone: no rows, but its errors
  memberColumns(opened.layout.header ?? [], opened.layout.columns, profile);
  const ranges = await cutRanges(deps, objectKey, stat, headerEnd, deps.splitRangeBytes ?? RANGE_BYTES);
  return { header: header.toString('base64'), ranges };
}

// --- split (per range) -------------------------------------------------------------------------

/** The header line, then the range's bytes: the range read as a file of its own. */
async function* rangeWithHeader(deps: IngestDeps, plan: IngestPlan, range: ByteRange) {
  yield Buffer.from(plan.drop.header, 'base64');
  yield* deps.objects.read(plan.drop.bucket, plan.drop.key, { ...range, etag: plan.drop.etag });
}

/**
 * One range of the drop: its rows validated and counted, accepted rows written to its object by
 * people shard, and its counts. Idempotent (a retry rewrites the same object and counts).
 */
export async function splitIngestRange(
  deps: IngestDeps,
  upload: AudienceUploadRecord,
  job: IngestJob & { range: number },
): Promise<{ rows: number }> {
  const plan = await loadPlan(deps, job);
  const lock = await lockKeeper(deps, plan);
  const range = plan.drop.ranges[job.range];
  if (!range) throw new Error('no such range of the ingest');
  const segmentIndex = new Map(plan.segments.map((id, i) => [id, i]));
  const counts: RangeCounts = { rows: 0, rejected: 0, rejectedByRule: {}, shards: [] };

  await withScratch(job, async (dir) => {
    const shards = new SpillFiles(dir, 'people');
    try {
      const rules = new RuleCounter();
      try {
        const opened = await openList(rangeWithHeader(deps, plan, range), memberListOptions(upload.profile));
        const columns = opened.layout.columns;
        const { segmentColumn } = memberColumns(opened.layout.header ?? [], columns, upload.profile);
        const record = Buffer.alloc(3 + columns.length * (1 + DIGEST_BYTES));
        let sinceKeep = 0;
        for await (const batch of opened.batches) {
          if (++sinceKeep >= 64) {
            sinceKeep = 0;
            await lock.keep();
          }
          for (const row of batch) {
            counts.rows++;
            if (!row.outcome.ok) {
              rules.reject(row.outcome.reason, row.rowNumber);
              continue;
            }
            // A row with an unreadable identifier is refused whole: its person key would otherwise
            // depend on which of its identifiers happen to be readable.
            const bad = row.cells?.find((c) => !c.ok && c.reason !== 'empty');
            if (bad && !bad.ok) {
              rules.reject(bad.reason, row.rowNumber);
              continue;
            }
            const segmentId = row.fields?.[segmentColumn]?.trim() ?? '';
            if (segmentId === '') {
              rules.reject('missing-segment', row.rowNumber);
              continue;
            }
            const segment = segmentIndex.get(segmentId);
            if (segment === undefined) {
              rules.reject('unknown-segment', row.rowNumber);
              continue;
            }
            // [segment u16][identifiers u8] then per identifier [kind u8][32-byte digest], primary
            // first (columns are in kind order).
            record.writeUInt16LE(segment, 0);
            let n = 0;
            row.cells?.forEach((cell, i) => {
              if (!cell.ok) return;
              const at = 3 + n * (1 + DIGEST_BYTES);
              record[at] = IDENTIFIER_KINDS.indexOf((columns[i] as IdentifierColumn).kind);
              record.write(cell.key, at + 1, DIGEST_BYTES, 'latin1');
              n++;
            });
            record[2] = n;
            await shards.append(record[4] as number, record.subarray(0, 3 + n * (1 + DIGEST_BYTES)));
          }
        }
      } catch (error) {
        if (!(error instanceof ListFormatError) || error.line === undefined) throw dropReplaced(error);
        // Its line is counted within the range: the join tells it for the whole file.
        counts.fatal = {
          reason: error.reason,
          detail: error.detail.slice(error.reason.length + 2),
          line: error.line,
        };
      }
      counts.rejected = rules.total;
      counts.rejectedByRule = rules.byRule;
      const written = await shards.close();
      for (const shard of written)
        counts.shards.push([shard, shards.counts.get(shard) ?? 0, shards.bytes.get(shard) ?? 0]);
      await deps.objects.write(
        deps.buckets.results,
        splitKey(job, job.range),
        (async function* () {
          for (const shard of written) yield* shards.read(shard);
        })(),
      );
    } finally {
      shards.destroy();
    }
  });
  await recordStep(deps, plan, splitCountsKey(job, job.range), counts);
  return { rows: counts.rows };
}

// --- join --------------------------------------------------------------------------------------

/**
 * The ranges put together: the whole file's counts and rejected rows, the people units (each a run
 * of shards, read as one byte range of each range's object), the plan rewritten, the drop deleted.
 * Throws the file's first format error (at its line in the file) or its row limit.
 */
export async function joinIngest(deps: IngestDeps, job: IngestJob): Promise<{ units: number }> {
  const plan = await loadPlan(deps, job);
  await renewLock(deps, plan);
  const ranges = await readAll(
    plan.drop.ranges.map((_, r) => splitCountsKey(job, r)),
    (key) => readJson<RangeCounts>(deps, key),
  );
  const rules = new RuleCounter();
  let rowsRead = 0;
  for (const range of ranges) {
    if (range.fatal) {
      const { reason, detail, line } = range.fatal;
      throw new ListFormatError(reason, detail, line).movedBy(rowsRead);
    }
    for (const [rule, { count, rows }] of Object.entries(range.rejectedByRule))
      rules.add(
        rule,
        count,
        rows.map((row) => row + rowsRead),
      );
    rowsRead += range.rows;
  }
  if (rowsRead > deps.maxRows) {
    throw new DomainError(
      'invalid-input',
      `The file has ${rowsRead} rows, more than the ${deps.maxRows} one file may hold; split it by segment.`,
    );
  }
  const shardRows = new Array<number>(PEOPLE_SHARDS).fill(0);
  for (const range of ranges)
    for (const [shard, rows] of range.shards) shardRows[shard] = (shardRows[shard] ?? 0) + rows;
  const units: IngestPlan['units'] = [];
  for (const [shard, rows] of shardRows.entries()) {
    if (rows === 0) continue;
    const last = units[units.length - 1];
    if (last && last.rows + rows <= ROWS_PER_UNIT) {
      last.shards.push(shard);
      last.rows += rows;
    } else units.push({ shards: [shard], rows, pieces: [] });
  }
  // Each range's object holds its shards in order: a unit's records are one byte range of it.
  for (const [r, range] of ranges.entries()) {
    const offsets = new Map<number, [number, number]>();
    let at = 0;
    for (const [shard, , bytes] of range.shards) {
      offsets.set(shard, [at, at + bytes]);
      at += bytes;
    }
    for (const unit of units) {
      const held = unit.shards.map((s) => offsets.get(s)).filter((o) => o !== undefined);
      const first = held[0];
      const last = held[held.length - 1];
      if (first && last) unit.pieces.push({ range: r, start: first[0], end: last[1] });
    }
  }
  const joined: IngestPlan = {
    ...plan,
    rowsRead,
    rejected: rules.total,
    rejectedByRule: rules.byRule,
    units,
  };
  await deps.objects.write(deps.buckets.results, planKey(job), JSON.stringify(joined), 'application/json');
  // The drop is read: partner hashes leave it (the ranges' objects go when the ingest ends).
  await deps.objects.delete(plan.drop.bucket, plan.drop.key);
  return { units: units.length };
}

/** The drop of an ingest (its key by the drop layout). */
export const dropKeyOf = (job: IngestJob) => OBJECT_KEYS.partnerDrop(job.partnerId, job.audienceId);
