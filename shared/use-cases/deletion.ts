/**
 * Deleting what an advertiser owns: a list (its record and its hashed and raw objects) and a match
 * (its record, its result files, anything a crashed run left, and its entry in the release index
 * that replays are recognised by). Each deletion is audited with ids only. Deleting never refunds
 * a privacy budget: the spend of a released match stays in its period's account, and a list
 * matched again after its match was deleted is a new release, paid again (docs/privacy.md).
 */
import { DomainError } from '../domain/errors.ts';
import type { Principal } from '../domain/principal.ts';
import { requireRole } from '../domain/principal.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import type { UseCaseContext } from './context.ts';

const IN_FLIGHT = new Set(['QUEUED', 'RUNNING']);

async function auditDeletion(
  ctx: UseCaseContext,
  tenantId: string,
  id: string,
  partnerId: string,
  event: 'list-deleted' | 'match-deleted',
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
  await ctx.objects.delete(ctx.buckets.uploads, OBJECT_KEYS.hashedList(principal.tenantId, listId));
  await ctx.objects.delete(ctx.buckets.uploads, OBJECT_KEYS.rawList(principal.tenantId, listId));
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
