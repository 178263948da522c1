/**
 * Deleting what an advertiser owns: a list (its record and its hashed and raw objects) and a match
 * (its record, its result files, anything a crashed run left, and its entry in the release index
 * that replays are recognised by). Each deletion is audited with ids only. Deleting never refunds
 * a privacy budget: the spend of a released match stays in its period's account, and a list
 * matched again after its match was deleted is a new release, paid again (docs/privacy.md).
 *
 * Retention runs through the same paths (`enforceRetention`, from the maintenance sweep): a list's
 * objects go when its lifetime ends, its record, every match and every partner upload record after
 * `retentionDays`. The bucket lifecycles and the table's TTL are backstops a day later.
 */
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';
import { requireRole } from '../domain/principal.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import type { UseCaseContext } from './context.ts';

const IN_FLIGHT = new Set(['QUEUED', 'RUNNING']);
const IN_FLIGHT_LIST = new Set(['HASHING']);

export async function auditDeletion(
  ctx: UseCaseContext,
  tenantId: string,
  id: string,
  partnerId: string,
  event:
    | 'list-deleted'
    | 'match-deleted'
    | 'list-expired'
    | 'match-expired'
    | 'people-erased'
    | 'segment-deleted',
) {
  await ctx.ledger.audit({
    tenantId,
    matchId: id,
    partnerId,
    at: ctx.now().toISOString(),
    event,
    k: ctx.settings.minSegmentSize,
    rhoSpent: 0,
    rhoLeft: null,
    noise: ctx.settings.unsafeNoiseOffForTests ? 'none' : 'discrete-gaussian',
    rounding: ctx.settings.rounding,
    suppressedSegments: 0,
  });
}

/** DELETE /v1/lists/{id}: the list's record and every object of it. */
export async function deleteList(ctx: UseCaseContext, principal: Principal, listId: string) {
  requireRole(principal, 'advertiser');
  const list = await ctx.jobs.get('list', principal.tenantId, listId);
  if (!list) throw new DomainError('not-found', 'No such list.');
  // Objects first: a crash after this leaves a record pointing at nothing, never data without a record.
  await purgeListObjects(ctx, principal.tenantId, listId);
  await ctx.jobs.remove('list', principal.tenantId, listId);
  await auditDeletion(ctx, principal.tenantId, listId, '', 'list-deleted');
  ctx.logger.info('list: deleted', { listId });
  return { listId, deleted: true as const };
}

/** DELETE /v1/matches/{id}: a finished match, its files and its replay entry. */
export async function deleteMatch(ctx: UseCaseContext, principal: Principal, matchId: string) {
  requireRole(principal, 'advertiser');
  const match = await ctx.jobs.get('match', principal.tenantId, matchId);
  if (!match) throw new DomainError('not-found', 'No such match.');
  if (IN_FLIGHT.has(match.status)) {
    throw new DomainError('conflict', 'The match is still running; delete it once it has finished.');
  }
  await purgeMatch(ctx, principal.tenantId, matchId, match.partnerId);
  await auditDeletion(ctx, principal.tenantId, matchId, match.partnerId, 'match-deleted');
  ctx.logger.info('match: deleted', { matchId });
  return { matchId, deleted: true as const };
}

/** A list's hashed and raw objects. */
async function purgeListObjects(ctx: UseCaseContext, tenantId: string, listId: string) {
  await ctx.objects.delete(ctx.buckets.uploads, OBJECT_KEYS.hashedList(tenantId, listId));
  await ctx.objects.delete(ctx.buckets.uploads, OBJECT_KEYS.rawList(tenantId, listId));
}

export interface RetentionReport {
  listObjectsPurged: number;
  listsExpired: number;
  matchesExpired: number;
  /** Partner upload records (ingest reports: counts and row numbers, nothing personal). */
  uploadsExpired: number;
}

/**
 * Retention, by the deletion paths: objects of lists past their lifetime, then records of lists and
 * finished matches older than `retentionDays` (a match with its files and its replay entry).
 * Audited like deletions. In-flight work is left to recovery.
 */
export async function enforceRetention(
  ctx: UseCaseContext,
  listLifetimeDays: number,
): Promise<RetentionReport> {
  const now = ctx.now();
  const report: RetentionReport = {
    listObjectsPurged: 0,
    listsExpired: 0,
    matchesExpired: 0,
    uploadsExpired: 0,
  };
  const retentionCutoff = new Date(now.getTime() - ctx.retentionDays * 86_400_000);
  const lifetimeCutoff = new Date(now.getTime() - listLifetimeDays * 86_400_000);
  for (const list of await ctx.jobs.listCreatedBefore('list', lifetimeCutoff)) {
    if (IN_FLIGHT_LIST.has(list.status)) continue;
    if (Date.parse(list.createdAt) < retentionCutoff.getTime()) {
      await purgeListObjects(ctx, list.tenantId, list.listId);
      await ctx.jobs.remove('list', list.tenantId, list.listId);
      await auditDeletion(ctx, list.tenantId, list.listId, '', 'list-expired');
      report.listsExpired++;
    } else if (!list.objectsPurgedAt) {
      await purgeListObjects(ctx, list.tenantId, list.listId);
      await ctx.jobs.update('list', list.tenantId, list.listId, { objectsPurgedAt: now.toISOString() });
      report.listObjectsPurged++;
    }
  }
  for (const match of await ctx.jobs.listCreatedBefore('match', retentionCutoff)) {
    if (IN_FLIGHT.has(match.status)) continue;
    await purgeMatch(ctx, match.tenantId, match.matchId, match.partnerId);
    await auditDeletion(ctx, match.tenantId, match.matchId, match.partnerId, 'match-expired');
    report.matchesExpired++;
  }
  for (const upload of await ctx.jobs.listCreatedBefore('audience', retentionCutoff)) {
    if (upload.status === 'INGESTING') continue;
    await ctx.jobs.remove('audience', upload.tenantId, upload.audienceId);
    report.uploadsExpired++;
  }
  if (Object.values(report).some((n) => n > 0)) ctx.logger.info('retention: enforced', { ...report });
  return report;
}

/** Everything kept for one match, gone: result files, leftovers of a run, the replay entry, the record. */
export async function purgeMatch(ctx: UseCaseContext, tenantId: string, matchId: string, partnerId: string) {
  // Every download format of the result (`results/{tenant}/{match}.json`, `.csv`, ...).
  const resultPrefix = OBJECT_KEYS.resultJson(tenantId, matchId).replace(/json$/, '');
  for (const prefix of [resultPrefix, `shards/${matchId}/`, `tallies/${matchId}/`]) {
    for (const key of await ctx.objects.list(ctx.buckets.results, prefix))
      await ctx.objects.delete(ctx.buckets.results, key);
  }
  await ctx.ledger.forgetRelease(tenantId, partnerId, matchId);
  await ctx.jobs.remove('match', tenantId, matchId);
}
