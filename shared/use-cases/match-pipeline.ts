/**
 * The match pipeline, as three steps that run the same way in AWS (Step Functions: split, a
 * Distributed Map of shards, reduce) and in the embedded stack (worker threads):
 * 1. split: stream the hashed list (one person a line, `e:<hash>,p:<hash>`), count rows, split the
 *    people by the prefix of their primary identifier into disjoint shards;
 * 2. shard: dedupe one shard, key every identifier with the pepper, look up the partner people
 *    they identify, write its tally and the sorted run of its matched partner people;
 * 3. reduce: add the list people up (disjoint shards add exactly), merge the runs so each partner
 *    person counts once across shards, apply the privacy rules once, spend budget, write the
 *    result; shards, tallies and runs are deleted.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainError, isDomainError } from '../domain/errors.ts';
import type { MatchRecord } from '../domain/jobs.ts';
import { openList } from '../domain/lists/parse-list.ts';
import { parsePersonLine, type TaggedHash } from '../domain/lists/person-line.ts';
import {
  DIGEST_BYTES,
  matchShard,
  reduceShards,
  ShardTables,
  type ShardTally,
  shardOf,
} from '../domain/matching/match-shard.ts';
import { ID_BYTES, MAX_PERSON_IDS, ShardFileBuffer, shardBlocks } from '../domain/matching/shard-file.ts';
import { type AudienceSnapshot, IDENTIFIER_KINDS } from '../domain/model.ts';
import type { AudienceKeyer } from '../domain/ports.ts';
import { applyPrivacy, assertListSize } from '../domain/privacy/apply-privacy.ts';
import { combineFingerprints, ListFingerprint } from '../domain/privacy/list-fingerprint.ts';
import { resolveK } from '../domain/privacy/privacy-params.ts';
import { reuseRelease } from '../domain/privacy/reuse-release.ts';
import { renderResultCsv, renderResultJson } from '../domain/result/render-csv.ts';
import type { ListSummary, MatchResult } from '../domain/result/result-schema.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import { budgetBlock, currentBudgets, spendForMatch } from './budgets.ts';
import type { UseCaseContext } from './context.ts';
import { commonKinds } from './matches.ts';
import { loadMembershipFilter } from './membership-filters.ts';

export interface MatchJob {
  tenantId: string;
  matchId: string;
}

export interface SplitOutput extends MatchJob {
  shards: number[];
}

async function loadMatch(ctx: UseCaseContext, job: MatchJob): Promise<MatchRecord> {
  const match = await ctx.jobs.get('match', job.tenantId, job.matchId);
  if (!match) throw new DomainError('not-found', 'No such match.');
  return match;
}

/** The local directory of a split's shard files (recovery removes it when the split died). */
export const splitDirPrefix = (matchId: string) => `onboard-split-${matchId}-`;

/** Step 1. Returns the shard numbers that hold at least one digest. */
export async function splitMatch(ctx: UseCaseContext, job: MatchJob): Promise<SplitOutput> {
  const match = await loadMatch(ctx, job);
  // Only a match still queued (or retried while running) goes on: one marked FAILED because its
  // start looked lost must not run and spend budget after the client was told it failed.
  const running = await ctx.jobs.update(
    'match',
    job.tenantId,
    job.matchId,
    { status: 'RUNNING', progress: { phase: 'splitting', shardsDone: 0, shardsTotal: 0 } },
    ['QUEUED', 'RUNNING'],
  );
  if (!running) throw new DomainError('conflict', 'The match is no longer queued.');
  const list = await ctx.jobs.get('list', job.tenantId, match.listId);
  if (!list) throw new DomainError('not-found', 'The list of this match is gone (lists expire after a day).');

  const shardCount = ctx.shardCount;
  const dir = await mkdtemp(join(tmpdir(), splitDirPrefix(job.matchId)));
  const shards = new ShardFiles(dir, shardCount);
  // Rows and validity only: duplicates and distinct people are counted per shard (shards are
  // disjoint), so the split holds no per-row state and its memory stays flat for any list size.
  let rows = 0;
  const invalidByReason: Record<string, number> = {};
  try {
    const opened = await openList(
      ctx.objects.read(ctx.buckets.uploads, OBJECT_KEYS.hashedList(job.tenantId, list.listId)),
      {
        mode: 'lines',
        classify: (raw) => classifyHashedRow(raw, list.identifierKind),
      },
    );
    for await (const batch of opened.batches) {
      for (const row of batch) {
        rows++;
        if (row.outcome.ok)
          await shards.add(parsePersonLine(row.outcome.output, list.identifierKind) as TaggedHash[]);
        else invalidByReason[row.outcome.reason] = (invalidByReason[row.outcome.reason] ?? 0) + 1;
      }
    }
    const stray = invalidByReason['raw-identifier'] ?? 0;
    if (stray > strayRowsAllowed(rows)) {
      // Emails or phone numbers where hashes belong, more than a stray few (the CLI writes an empty
      // line for an invalid row, never its text): raw identifiers must not stay at rest, so the
      // upload goes at once.
      await ctx.objects.delete(ctx.buckets.uploads, OBJECT_KEYS.hashedList(job.tenantId, list.listId));
      throw new DomainError(
        'invalid-input',
        `${stray} rows of the uploaded list look like raw emails or phone numbers, not SHA-256 hashes (at most ${strayRowsAllowed(rows)} are skipped), so the upload was deleted. Upload hashes (onboard hash), or register the list as raw.`,
      );
    }
    if (stray > 0) {
      // A stray few are skipped and counted; the stored list is rewritten without them, so no raw
      // value stays at rest while the list waits for other matches.
      await rewriteWithoutRawRows(ctx, OBJECT_KEYS.hashedList(job.tenantId, list.listId), dir, (line) =>
        classifyHashedRow(line, list.identifierKind),
      );
    }
    const written = await shards.close();
    for (const shard of written) {
      await ctx.objects.write(
        ctx.buckets.results,
        OBJECT_KEYS.shard(job.matchId, shard),
        createReadStream(shards.path(shard)),
      );
    }
    const invalid = Object.values(invalidByReason).reduce((a, b) => a + b, 0);
    const counted: ListSummary = {
      rows,
      valid: rows - invalid,
      invalid,
      invalidByReason,
      duplicates: 0,
      distinct: 0,
    };
    // The advertiser's machine knows why rows were invalid (the server sees empty lines); its
    // summary is used when it describes this very file.
    const listSummary: ListSummary =
      list.summary && list.summary.rows === counted.rows && list.summary.valid === counted.valid
        ? list.summary
        : counted;
    await ctx.jobs.update('match', job.tenantId, job.matchId, {
      summary: listSummary,
      progress: { phase: 'matching', shardsDone: 0, shardsTotal: written.length },
    });
    ctx.logger.info('match: split', {
      matchId: job.matchId,
      rows: counted.rows,
      valid: counted.valid,
      shards: written.length,
    });
    return { ...job, shards: written };
  } finally {
    shards.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** One row of a hashed upload: a person's tagged hashes, or why it is not one. */
function classifyHashedRow(raw: string, kind: Parameters<typeof parsePersonLine>[1]) {
  const value = raw.trim();
  if (value === '') return { ok: false as const, reason: 'empty' };
  const ids = value.length <= MAX_LINE ? parsePersonLine(value, kind) : undefined;
  if (ids && ids.length <= MAX_IDS && ids.every((id) => HEX64.test(id.hash) || BASE64_32.test(id.hash)))
    return { ok: true as const, key: '', output: value };
  return { ok: false as const, reason: RAW_IDENTIFIER.test(value) ? 'raw-identifier' : 'invalid-hash' };
}

/** Raw-looking rows a hashed list may hold and still match (skipped): 1 % of its rows, at most 100. */
export function strayRowsAllowed(rows: number): number {
  return Math.min(100, Math.floor(rows / 100));
}

/**
 * Rewrites a stored hashed list with every raw-looking row emptied (row numbers kept), through a
 * private local file: the raw values leave the bucket, the hashes stay for the list's other matches.
 */
async function rewriteWithoutRawRows(
  ctx: UseCaseContext,
  key: string,
  dir: string,
  classify: (line: string) => ReturnType<typeof classifyHashedRow>,
): Promise<void> {
  const path = join(dir, 'rewritten.txt');
  const out = createWriteStream(path, { mode: 0o600 });
  let carry = '';
  const emit = async (line: string) => {
    const outcome = classify(line);
    const text = `${!outcome.ok && outcome.reason === 'raw-identifier' ? '' : line}\n`;
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  };
  const decoder = new TextDecoder();
  for await (const chunk of ctx.objects.read(ctx.buckets.uploads, key)) {
    const lines = (carry + decoder.decode(chunk, { stream: true })).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) await emit(line);
  }
  carry += decoder.decode();
  if (carry !== '') await emit(carry);
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  await ctx.objects.write(ctx.buckets.uploads, key, createReadStream(path));
  await rm(path, { force: true });
}
/** What an unhashed identifier looks like: an at sign, or seven digits in a row (a phone). */
const RAW_IDENTIFIER = /@|\d[\d\s().-]{5,}\d/;
const BASE64_32 = /^[A-Za-z0-9+/]{43}=$/;
const SHARD_BUFFER_BYTES = 256 * 1024;
const MAX_IDS = MAX_PERSON_IDS;
const MAX_LINE = MAX_IDS * 47;

/**
 * List people appended to one local file per shard (by the prefix of their primary identifier)
 * through a fixed buffer each: hex or base64 is decoded straight into the buffer (no object per
 * row), so memory is shards x 256 KiB whatever the list's size.
 */
class ShardFiles {
  private readonly buffers: ShardFileBuffer[] = [];
  private readonly files = new Map<number, WriteStream>();
  constructor(
    private readonly dir: string,
    private readonly shardCount: number,
  ) {
    for (let i = 0; i < shardCount; i++) this.buffers.push(new ShardFileBuffer(SHARD_BUFFER_BYTES));
  }

  path(shard: number): string {
    return join(this.dir, `${shard}.bin`);
  }

  async add(ids: readonly TaggedHash[]): Promise<void> {
    // The person's record in the scratch: [count] then [kind index][digest] per identifier.
    const scratch = this.scratch;
    scratch[0] = ids.length;
    ids.forEach((id, i) => {
      const at = 1 + i * ID_BYTES;
      scratch[at] = IDENTIFIER_KINDS.indexOf(id.kind);
      scratch.write(id.hash, at + 1, id.hash.length === 64 ? 'hex' : 'base64');
    });
    const shard = shardOf(scratch.subarray(2, 2 + DIGEST_BYTES), this.shardCount);
    if (!(this.buffers[shard] as ShardFileBuffer).fits(ids.length)) await this.flush(shard);
    (this.buffers[shard] as ShardFileBuffer).addRecord(scratch);
  }

  private readonly scratch = Buffer.alloc(1 + MAX_IDS * ID_BYTES);

  private async flush(shard: number): Promise<void> {
    const buffer = this.buffers[shard] as ShardFileBuffer;
    if (buffer.used === 0) return;
    const out = this.files.get(shard) ?? createWriteStream(this.path(shard));
    this.files.set(shard, out);
    // The stream keeps the written bytes until they are flushed: hand them over, start afresh.
    const full = buffer.bytes();
    this.buffers[shard] = new ShardFileBuffer(SHARD_BUFFER_BYTES);
    if (!out.write(full)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }

  /** Flushes and closes every file; returns the shards that hold at least one digest. */
  async close(): Promise<number[]> {
    for (let shard = 0; shard < this.buffers.length; shard++) await this.flush(shard);
    await Promise.all(
      [...this.files.values()].map(
        (f) =>
          new Promise<void>((resolve, reject) =>
            f.end((err?: Error | null) => (err ? reject(err) : resolve())),
          ),
      ),
    );
    return [...this.files.keys()].sort((a, b) => a - b);
  }

  destroy(): void {
    for (const f of this.files.values()) f.destroy();
  }
}

/**
 * The shard tables of this process (a Lambda container, a worker thread), kept from shard to
 * shard: a shard clears and reuses idle ones instead of allocating its own.
 */
const idleTables: ShardTables[] = [];

/** A shard's tally as stored between the shard and reduce steps. */
type StoredTally = ShardTally & { listFingerprint: string };

/** Step 2. Matches one shard; idempotent (a retried shard rewrites the same tally). */
export async function matchOneShard(
  ctx: UseCaseContext,
  job: MatchJob & { shard: number },
): Promise<ShardTally> {
  const match = await loadMatch(ctx, job);
  if (!match.snapshot) throw new DomainError('match-failed', 'The match has no pinned audience snapshot.');
  const shardKey = OBJECT_KEYS.shard(job.matchId, job.shard);
  const tallyKey = OBJECT_KEYS.tally(job.matchId, job.shard);
  // A retried shard whose work was done (its shard object is gone, its tally is there) is not
  // matched or counted again.
  const done = await ctx.objects.readText(ctx.buckets.results, tallyKey);
  if (done && !(await ctx.objects.exists(ctx.buckets.results, shardKey)))
    return JSON.parse(done) as ShardTally;
  const keyer = await ctx.keyer(match.snapshot.keyId);
  const fingerprint = listFingerprinter(await ctx.stableKeyer(), job.tenantId, match.partnerId);
  // The partner's membership filter, pinned with the snapshot: reads of people it surely lacks are skipped.
  const filter = await loadMembershipFilter(ctx.objects, ctx.buckets.results, match.snapshot);
  const tables = idleTables.pop() ?? new ShardTables();
  const { run, ...tally } = await matchShard({
    blocks: shardBlocks(ctx.objects.read(ctx.buckets.results, shardKey)),
    snapshot: match.snapshot,
    store: ctx.audiences,
    keyer,
    tables,
    peopleSink: fingerprint,
    ...(filter ? { mayHold: filter.mayHold } : {}),
  }).finally(() => idleTables.push(tables));
  if (filter) {
    ctx.logger.debug('match: shard filtered', {
      matchId: job.matchId,
      shard: job.shard,
      asked: filter.asked,
      skipped: filter.skipped,
      partsLoaded: filter.partsLoaded,
    });
  }
  // The run first: a tally is only there once the shard's matched people are.
  await ctx.objects.write(
    ctx.buckets.results,
    OBJECT_KEYS.matchedRun(job.matchId, job.shard),
    run,
    'application/octet-stream',
  );
  // The tally carries the shard's list fingerprint: reduce recognises replays without the list.
  const stored: StoredTally = { ...tally, listFingerprint: fingerprint.value() };
  await ctx.objects.write(ctx.buckets.results, tallyKey, JSON.stringify(stored), 'application/json');
  await ctx.jobs.shardDone(job.tenantId, job.matchId);
  // Last: the shard object's absence is what marks this shard done for a retry.
  await ctx.objects.delete(ctx.buckets.results, shardKey);
  return tally;
}

/**
 * The list's fingerprint, for replays (list-fingerprint.ts): keyed under a secret scope derived
 * from the pepper ring's first key (which rotation never removes, so a replay is still recognised
 * after a rotation) and scoped to this advertiser and partner, so the same distinct people in any
 * order and any shards give the same value. Nothing per person is kept.
 */
function listFingerprinter(stable: AudienceKeyer, tenantId: string, partnerId: string): ListFingerprint {
  const scope = Buffer.from(
    stable.key(createHash('sha256').update(`difference-check|${tenantId}|${partnerId}`).digest()),
    'base64url',
  );
  return new ListFingerprint(scope);
}

/** The partner data a release was computed from: segment versions, and erasures applied since. */
const versionsOf = (snapshot: AudienceSnapshot) =>
  snapshot.segments
    .map((s) => `${s.segmentId}#${s.version}`)
    .sort()
    .join(',') + (snapshot.erasures ? `;erasures=${snapshot.erasures}` : '');

/** Step 3. Applies the privacy rules once to the whole list and releases the result. */
export async function reduceMatch(ctx: UseCaseContext, job: MatchJob): Promise<MatchRecord['status']> {
  const match = await loadMatch(ctx, job);
  if (match.status === 'SUCCEEDED' || match.status === 'FAILED') return match.status;
  const tallyKeys = await ctx.objects.list(ctx.buckets.results, `tallies/${job.matchId}/`);
  try {
    await ctx.jobs.update('match', job.tenantId, job.matchId, {
      progress: { ...match.progress, phase: 'reducing' },
    });
    const snapshot = match.snapshot;
    if (!snapshot || !match.summary) throw new DomainError('match-failed', 'The match was not split.');
    const tallies: (StoredTally & { key: string })[] = [];
    for (const key of tallyKeys.filter((k) => k.endsWith('.json'))) {
      tallies.push({ ...JSON.parse((await ctx.objects.readText(ctx.buckets.results, key)) ?? '{}'), key });
    }
    // Each partner person once across shards: the shards' sorted runs, merged as streams.
    const tally = await reduceShards(
      tallies.map((t) => ({
        distinct: t.distinct,
        listByKind: t.listByKind,
        run: ctx.objects.read(ctx.buckets.results, t.key.replace(/\.json$/, '.run')),
      })),
      snapshot,
    );
    const listSummary: ListSummary = {
      ...match.summary,
      distinct: tally.distinct,
      duplicates: match.summary.valid - tally.distinct,
      byKind: Object.fromEntries(Object.entries(tally.listByKind).filter(([, n]) => n > 0)),
    };
    const settings = ctx.settings;
    // Refuse before spending: a refused list costs no budget.
    assertListSize(listSummary, settings.minListSize);
    commonKinds(
      snapshot,
      IDENTIFIER_KINDS.filter((kind) => tally.listByKind[kind] > 0),
    );

    const listFingerprint = combineFingerprints(tallies.map((t) => t.listFingerprint));
    const versions = versionsOf(snapshot);
    const k = resolveK(settings.minSegmentSize, match.minSegmentSize);

    // The same people against the same partner data: the earliest release again, post-processed
    // for this k, with no new noise and no spend, so re-running cannot average the noise away.
    const earlier = await ctx.ledger.releases(job.tenantId, match.partnerId, ctx.now());
    const replay = earlier.find((e) => e.listFingerprint === listFingerprint && e.versions === versions);
    const original = replay ? await ctx.jobs.get('match', job.tenantId, replay.matchId) : undefined;
    if (replay && original?.result) {
      const noiseOn = !settings.unsafeNoiseOffForTests;
      const budgets = noiseOn ? await currentBudgets(ctx, job.tenantId, match.partnerId) : undefined;
      const result = reuseRelease(original.result, {
        k,
        now: ctx.now(),
        replayOf: replay.matchId,
        budget: budgets ? budgetBlock(ctx, budgets.own, budgets.shared, 0) : null,
      });
      await releaseResult(ctx, job, match, result, listSummary, 'match-replayed');
      return 'SUCCEEDED';
    }

    // Spend first (atomically, once per match, in both accounts), then release.
    const budget = settings.unsafeNoiseOffForTests
      ? undefined
      : await spendForMatch(ctx, job.tenantId, match.partnerId, job.matchId);
    const result = applyPrivacy({
      tally,
      snapshot,
      listSummary,
      settings,
      requestedK: match.minSegmentSize,
      ...(budget ? { budget } : {}),
      now: ctx.now(),
    });
    await ctx.ledger.recordRelease(
      {
        tenantId: job.tenantId,
        partnerId: match.partnerId,
        matchId: job.matchId,
        listFingerprint,
        versions,
        k,
        createdAt: ctx.now().toISOString(),
      },
      Math.floor(ctx.now().getTime() / 1000) + ctx.retentionDays * 86_400,
    );
    await releaseResult(ctx, job, match, result, listSummary, 'match-released');
    ctx.logger.info('match: released', { matchId: job.matchId, segments: result.segments.length });
    return 'SUCCEEDED';
  } catch (error) {
    await failMatch(ctx, job, error);
    return 'FAILED';
  } finally {
    for (const key of tallyKeys) await ctx.objects.delete(ctx.buckets.results, key);
  }
}

async function releaseResult(
  ctx: UseCaseContext,
  job: MatchJob,
  match: MatchRecord,
  result: MatchResult,
  listSummary: ListSummary,
  event: 'match-released' | 'match-replayed',
): Promise<void> {
  await ctx.objects.write(
    ctx.buckets.results,
    OBJECT_KEYS.resultJson(job.tenantId, job.matchId),
    renderResultJson(result),
    'application/json',
  );
  await ctx.objects.write(
    ctx.buckets.results,
    OBJECT_KEYS.resultCsv(job.tenantId, job.matchId),
    renderResultCsv(result),
    'text/csv; charset=utf-8',
  );
  await ctx.jobs.update('match', job.tenantId, job.matchId, {
    status: 'SUCCEEDED',
    result,
    summary: listSummary,
    progress: { ...match.progress, phase: 'done', shardsDone: match.progress.shardsTotal },
  });
  await ctx.ledger.audit({
    tenantId: job.tenantId,
    matchId: job.matchId,
    partnerId: match.partnerId,
    at: ctx.now().toISOString(),
    event,
    k: result.privacy.k,
    rhoSpent: result.privacy.budget?.rhoSpent ?? 0,
    ...(result.privacy.budget ? { period: result.privacy.budget.period } : {}),
    rhoLeft: result.privacy.budget?.advertiserLeft ?? null,
    noise: result.privacy.noise.mechanism,
    rounding: result.privacy.rounding,
    suppressedSegments: result.segments.filter((s) => s.suppressed).length,
    ...(result.replayOf ? { replayOf: result.replayOf } : {}),
  });
}

/** Marks a match FAILED with a stable code and a safe detail; cleans up its shards. */
export async function failMatch(ctx: UseCaseContext, job: MatchJob, error: unknown): Promise<void> {
  const code = isDomainError(error) ? error.code : 'match-failed';
  const detail = isDomainError(error) ? error.detail : 'The match failed on our side; nothing was released.';
  ctx.logger.error('match: failed', {
    matchId: job.matchId,
    code,
    ...(isDomainError(error) ? {} : { error: error instanceof Error ? error.name : 'unknown' }),
  });
  const match = await ctx.jobs.get('match', job.tenantId, job.matchId);
  // Already final (failed by split itself, or released): clean up, audit nothing twice.
  const final = match?.status === 'FAILED' || match?.status === 'SUCCEEDED';
  for (const prefix of [`shards/${job.matchId}/`]) {
    for (const key of await ctx.objects.list(ctx.buckets.results, prefix))
      await ctx.objects.delete(ctx.buckets.results, key);
  }
  if (final) return;
  if (match && code !== 'match-failed') {
    await ctx.ledger.audit({
      tenantId: job.tenantId,
      matchId: job.matchId,
      partnerId: match.partnerId,
      at: ctx.now().toISOString(),
      event: 'match-refused',
      k: match.minSegmentSize,
      rhoSpent: 0,
      rhoLeft: null,
      noise: ctx.settings.unsafeNoiseOffForTests ? 'none' : 'discrete-gaussian',
      rounding: ctx.settings.rounding,
      suppressedSegments: 0,
      code,
    });
  }
  // Audit first, status last: whoever sees FAILED can already read why in the audit trail.
  await ctx.jobs.update('match', job.tenantId, job.matchId, {
    status: 'FAILED',
    errorCode: code,
    errorDetail: detail,
  });
}
