/**
 * Recovery: after a crash, a timeout or a lost event, every interrupted job either resumes or ends
 * FAILED with the code `interrupted`, the locks of dead holders are released, and everything the
 * dead jobs left is deleted. It runs with each maintenance sweep (hourly in AWS; at start and every
 * minute in the embedded stack). A job is dead per shared/use-cases/job-liveness.ts.
 *
 * - A raw list HASHING: hashed again from its raw object while that is still there (once: a list
 *   that kills its worker twice ends FAILED), else FAILED; its raw and partial hashed objects go.
 * - A raw list or a partner drop whose upload event never came: handled now, as the event would.
 * - A partner ingest INGESTING (in any of its steps): FAILED, its drop and intermediate files
 *   deleted, the partner lock it held released. Tokens its shards wrote for versions never made
 *   current are ignored by readers and dropped when their items are next merged.
 * - A match QUEUED or RUNNING: FAILED. A charge reduce already made stays spent: the noise may
 *   have been drawn, and the ledger is only ever refilled by the operator's audited grant.
 *   Its shards, tallies, unreleased result files and local split files are deleted.
 * - Shards and tallies of matches no longer in flight (a run killed after it finished, or failed
 *   by the state machine's Catch): deleted; likewise the intermediate files of ingests no longer
 *   INGESTING (a last step that died between setting the outcome and deleting them).
 * - An ingest run by the ingest state machine (AWS) is judged like any other: each of its steps
 *   updates the record, so it is dead once no step has ended for longer than one step can take.
 * - Raw uploads and drops whose job is over: deleted (raw emails and partner hashes do not stay).
 * - Re-keying left half-way (a partner still on an old pepper key): resumed (it is idempotent).
 */
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../domain/errors.ts';
import type { AudienceUploadRecord, ListRecord, MatchRecord } from '../domain/jobs.ts';
import { FUNCTION_TIMEOUT_SECONDS, OBJECT_KEYS, TRIGGERS } from '../infra/definitions.ts';
import type { UseCaseContext } from './context.ts';
import { parseDropKey } from './ingest-audience.ts';
import { ingestDirPrefix } from './ingest-pipeline.ts';
import { type DeathCause, deathOf, LIVENESS_MARGIN_SECONDS } from './job-liveness.ts';
import { hashRawList } from './lists.ts';
import { splitDirPrefix } from './match-pipeline.ts';
import { ingestDrop, rekeyDeps } from './partners.ts';
import { rekeyPartner } from './rotate-pepper.ts';

export interface RecoveryOptions {
  /** This start of the embedded stack (ONBOARD_INSTANCE_ID); absent in AWS. */
  instance?: string;
  /** Milliseconds this run has left (the maintenance function's remaining time); unbounded locally. */
  remainingMs?: () => number;
}

export interface RecoveryReport {
  /** Raw lists hashed again or at last, drops ingested at last, partners re-keyed. */
  resumed: number;
  /** Jobs ended FAILED `interrupted`. */
  interrupted: number;
  locksReleased: number;
  /** Objects deleted: raw uploads, drops, shards, tallies, unreleased results, partial hashed lists. */
  objectsDeleted: number;
}

/** A dead job is resumed at most this many times, so a list that crashes its worker cannot loop. */
export const MAX_RECOVERIES = 1;

const DETAILS = {
  list: 'Hashing was interrupted (the service restarted or timed out) and the raw upload is gone: upload the list again.',
  ingest:
    'The ingest was interrupted (the service restarted or timed out); the live versions of the segments are unchanged. Declare the segments and upload the file again.',
  ingestLive:
    'The ingest was interrupted (the service restarted or timed out) after its new segment versions went live; its report is lost. Upload the file again for a report.',
  match:
    'The match was interrupted (the service restarted or a step timed out) and stopped; nothing was released. Start it again; any privacy budget it had already been charged stays spent.',
} as const;

export async function recoverJobs(
  ctx: UseCaseContext,
  options: RecoveryOptions = {},
): Promise<RecoveryReport> {
  const report: RecoveryReport = { resumed: 0, interrupted: 0, locksReleased: 0, objectsDeleted: 0 };
  // Matches created from here on are not in the scan below: their files are never orphans.
  const scannedAt = ctx.now();
  const alive = new Set<string>();
  for (const record of await ctx.jobs.listInFlight()) {
    const death = deathOf(record, ctx.now(), options.instance);
    if (!death) {
      if (record.kind === 'match') alive.add(record.matchId);
      continue;
    }
    await guarded(ctx, record.kind, () => {
      if (record.kind === 'match') return interruptMatch(ctx, record, death, report);
      if (record.kind === 'audience') return interruptIngest(ctx, record, death, report);
      return recoverHashing(ctx, record, death, options, report);
    });
  }
  await guarded(ctx, 'uploads', () => claimRawUploads(ctx, options, report));
  await guarded(ctx, 'drops', () => claimDrops(ctx, options, report));
  await guarded(ctx, 'leftovers', () => deleteOrphanMatchFiles(ctx, alive, scannedAt, report));
  await guarded(ctx, 'ingest-leftovers', () => deleteOrphanIngestWork(ctx, report));
  if (options.instance) await guarded(ctx, 'locks', () => releaseLocksOfPreviousStarts(ctx, options, report));
  await guarded(ctx, 'rekey', () => resumeRekeying(ctx, options, report));
  if (report.resumed + report.interrupted + report.locksReleased + report.objectsDeleted > 0)
    ctx.logger.info('recovery: done', { ...report });
  return report;
}

/** One failed step is logged and the others still run; the next sweep tries it again. */
async function guarded(ctx: UseCaseContext, step: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    ctx.logger.error('recovery: step failed', {
      step,
      code: isDomainError(error) ? error.code : error instanceof Error ? error.name : 'error',
    });
  }
}

const hasTimeFor = (options: RecoveryOptions, seconds: number) =>
  !options.remainingMs || options.remainingMs() > seconds * 1000;

async function deleteObject(ctx: UseCaseContext, bucket: string, key: string, report: RecoveryReport) {
  if (!(await ctx.objects.exists(bucket, key))) return;
  await ctx.objects.delete(bucket, key);
  report.objectsDeleted++;
}

async function deletePrefix(ctx: UseCaseContext, bucket: string, prefix: string, report: RecoveryReport) {
  for (const key of await ctx.objects.list(bucket, prefix)) {
    await ctx.objects.delete(bucket, key);
    report.objectsDeleted++;
  }
}

async function interruptMatch(
  ctx: UseCaseContext,
  match: MatchRecord,
  cause: DeathCause,
  report: RecoveryReport,
) {
  const { tenantId, matchId } = match;
  // Files first: whoever sees FAILED finds them gone.
  for (const prefix of [`shards/${matchId}/`, `tallies/${matchId}/`])
    await deletePrefix(ctx, ctx.buckets.results, prefix, report);
  await removeLocalFiles(splitDirPrefix(matchId));
  const stopped = await ctx.jobs.update(
    'match',
    tenantId,
    matchId,
    { status: 'FAILED', errorCode: 'interrupted', errorDetail: DETAILS.match },
    ['QUEUED', 'RUNNING'],
  );
  // Released meanwhile (a slow reduce finishing): its result stays.
  if (!stopped) return;
  report.interrupted++;
  ctx.logger.warn('recovery: match interrupted', { matchId, cause, phase: match.progress.phase });
  // Result files a reduce wrote before it died were never released.
  const resultPrefix = OBJECT_KEYS.resultJson(tenantId, matchId).replace(/json$/, '');
  await deletePrefix(ctx, ctx.buckets.results, resultPrefix, report);
}

/** A job's local scratch files (the embedded stack's temporary directory; /tmp in Lambda). */
async function removeLocalFiles(prefix: string): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

async function interruptIngest(
  ctx: UseCaseContext,
  upload: AudienceUploadRecord,
  cause: DeathCause,
  report: RecoveryReport,
) {
  const { tenantId: partnerId, audienceId } = upload;
  // Versions are numbered from the time they were made, after the ingest started.
  const catalog = await ctx.audiences.readCatalog(partnerId);
  const startedMs = Date.parse(upload.updatedAt);
  const declared = new Set(upload.segments.map((s) => s.segmentId));
  const live = catalog?.segments.filter((s) => declared.has(s.segmentId)) ?? [];
  const wentLive = live.length === declared.size && live.every((s) => s.version >= startedMs);
  await deleteObject(ctx, ctx.buckets.partnerDrops, OBJECT_KEYS.partnerDrop(partnerId, audienceId), report);
  // Its people shards and identifier runs (partner hashes and keyed values) go with it.
  await deletePrefix(ctx, ctx.buckets.results, OBJECT_KEYS.ingestWork(partnerId, audienceId), report);
  // A split or step killed mid-way leaves its spilled shards (partner digests) in the temp directory.
  await removeLocalFiles(ingestDirPrefix(audienceId));
  // The ingest's lock owner is `{audienceId}-{time}` (ingest-audience.ts): its holder is dead.
  const lock = await ctx.audiences.readLock(partnerId);
  if (lock?.owner.startsWith(`${audienceId}-`)) {
    await ctx.audiences.releaseLock(partnerId, lock.owner);
    report.locksReleased++;
  }
  const stopped = await ctx.jobs.update(
    'audience',
    partnerId,
    audienceId,
    {
      status: 'FAILED',
      errorCode: 'interrupted',
      errorDetail: wentLive ? DETAILS.ingestLive : DETAILS.ingest,
    },
    ['INGESTING'],
  );
  if (stopped) {
    report.interrupted++;
    ctx.logger.warn('recovery: ingest interrupted', { partnerId, audienceId, cause, wentLive });
  }
}

async function recoverHashing(
  ctx: UseCaseContext,
  list: ListRecord,
  cause: DeathCause,
  options: RecoveryOptions,
  report: RecoveryReport,
) {
  const { tenantId, listId } = list;
  const rawKey = OBJECT_KEYS.rawList(tenantId, listId);
  const recoveries = list.recoveries ?? 0;
  if (recoveries < MAX_RECOVERIES && (await ctx.objects.exists(ctx.buckets.uploads, rawKey))) {
    // Too little time left in this run: the next sweep resumes it.
    if (!hasTimeFor(options, FUNCTION_TIMEOUT_SECONDS['list-upload'])) return;
    if (await ctx.jobs.update('list', tenantId, listId, { recoveries: recoveries + 1 }, ['HASHING'])) {
      ctx.logger.warn('recovery: list hashing resumed', { tenantId, listId, cause });
      await hashRawList(ctx, rawKey);
      report.resumed++;
    }
    return;
  }
  await deleteObject(ctx, ctx.buckets.uploads, rawKey, report);
  // A hashed list written before the crash belongs to no READY list.
  await deleteObject(ctx, ctx.buckets.uploads, OBJECT_KEYS.hashedList(tenantId, listId), report);
  const stopped = await ctx.jobs.update(
    'list',
    tenantId,
    listId,
    { status: 'FAILED', errorCode: 'interrupted', errorDetail: DETAILS.list },
    ['HASHING'],
  );
  if (stopped) {
    report.interrupted++;
    ctx.logger.warn('recovery: list hashing interrupted', { tenantId, listId, cause });
  }
}

const RAW_KEY = /^raw\/([^/]+)\/([^/]+)$/;

/** Raw uploads: the event of one never claimed is handled now; one whose job is over is deleted. */
async function claimRawUploads(ctx: UseCaseContext, options: RecoveryOptions, report: RecoveryReport) {
  for (const key of await ctx.objects.list(ctx.buckets.uploads, TRIGGERS.rawListPrefix)) {
    const [, tenantId = '', listId = ''] = RAW_KEY.exec(key) ?? [];
    const list = tenantId ? await ctx.jobs.get('list', tenantId, listId) : undefined;
    if (list?.format === 'raw' && list.status === 'HASHING') continue;
    if (list?.format === 'raw' && list.status === 'AWAITING_UPLOAD') {
      const death = deathOf(list, ctx.now(), options.instance);
      if (!death || !hasTimeFor(options, FUNCTION_TIMEOUT_SECONDS['list-upload'])) continue;
      ctx.logger.warn('recovery: raw list event lost, hashing now', { tenantId, listId, cause: death });
      await hashRawList(ctx, key);
      report.resumed++;
      continue;
    }
    await ctx.objects.delete(ctx.buckets.uploads, key);
    report.objectsDeleted++;
  }
}

/** Partner drops: likewise. */
async function claimDrops(ctx: UseCaseContext, options: RecoveryOptions, report: RecoveryReport) {
  for (const key of await ctx.objects.list(ctx.buckets.partnerDrops, TRIGGERS.partnerDropPrefix)) {
    const ids = parseDropKey(key);
    const upload = ids ? await ctx.jobs.get('audience', ids.partnerId, ids.audienceId) : undefined;
    if (upload?.status === 'INGESTING') continue;
    if (upload?.status === 'AWAITING_UPLOAD') {
      const death = deathOf(upload, ctx.now(), options.instance);
      if (!death || !hasTimeFor(options, FUNCTION_TIMEOUT_SECONDS.ingest)) continue;
      ctx.logger.warn('recovery: drop event lost, ingesting now', { ...ids, cause: death });
      await ingestDrop(ctx, key);
      report.resumed++;
      continue;
    }
    await ctx.objects.delete(ctx.buckets.partnerDrops, key);
    report.objectsDeleted++;
  }
}

/** Milliseconds of a time-ordered id (shared/domain/ids.ts), NaN when it is not one. */
const idTimeMs = (id: string) => Number.parseInt(id.split('-')[0] ?? '', 36);

/** Shards and tallies of matches no longer in flight. */
async function deleteOrphanMatchFiles(
  ctx: UseCaseContext,
  alive: ReadonlySet<string>,
  scannedAt: Date,
  report: RecoveryReport,
) {
  // Ids come from other functions' clocks: a margin keeps a match created just now out of reach.
  const newest = scannedAt.getTime() - LIVENESS_MARGIN_SECONDS * 1000;
  for (const prefix of ['shards/', 'tallies/']) {
    for (const key of await ctx.objects.list(ctx.buckets.results, prefix)) {
      const matchId = key.split('/')[1] ?? '';
      if (alive.has(matchId) || idTimeMs(matchId) > newest) continue;
      await ctx.objects.delete(ctx.buckets.results, key);
      report.objectsDeleted++;
    }
  }
}

/**
 * Intermediate files of ingests no longer in flight (a step that ended its ingest and died before
 * deleting them). An ingest is INGESTING before it writes any, so a running one is never touched.
 */
async function deleteOrphanIngestWork(ctx: UseCaseContext, report: RecoveryReport) {
  const over = new Map<string, boolean>();
  for (const key of await ctx.objects.list(ctx.buckets.results, 'ingest/')) {
    const [, partnerId = '', audienceId = ''] = key.split('/');
    const id = `${partnerId}/${audienceId}`;
    if (!over.has(id))
      over.set(id, (await ctx.jobs.get('audience', partnerId, audienceId))?.status !== 'INGESTING');
    if (!over.get(id)) continue;
    await ctx.objects.delete(ctx.buckets.results, key);
    report.objectsDeleted++;
  }
}

/** Embedded stack: a partner lock taken by a previous start of the stack has no holder any more. */
async function releaseLocksOfPreviousStarts(
  ctx: UseCaseContext,
  options: RecoveryOptions,
  report: RecoveryReport,
) {
  for (const partnerId of await ctx.audiences.listPartners()) {
    const lock = await ctx.audiences.readLock(partnerId);
    if (lock?.instance && lock.instance !== options.instance) {
      await ctx.audiences.releaseLock(partnerId, lock.owner);
      report.locksReleased++;
    }
  }
}

/** A partner still keyed under an older pepper key than the ring's current one: re-keying died. */
async function resumeRekeying(ctx: UseCaseContext, options: RecoveryOptions, report: RecoveryReport) {
  const partners = await ctx.audiences.listPartners();
  if (partners.length === 0) return;
  const current = await ctx.currentKeyId();
  const deps = { ...rekeyDeps(ctx), lockWaitMs: 1_000 };
  for (const partnerId of partners) {
    const catalog = await ctx.audiences.readCatalog(partnerId);
    if (!catalog || catalog.keyId === current) continue;
    if (!hasTimeFor(options, FUNCTION_TIMEOUT_SECONDS.maintenance / 2)) return;
    // A partner busy (ingesting, or re-keyed by a live run) throws `conflict`: the next sweep retries.
    await guarded(ctx, 'rekey', async () => {
      if (await rekeyPartner(deps, partnerId)) report.resumed++;
    });
  }
}
