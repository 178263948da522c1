/** Advertiser matches: start one, watch it, list them, download the result. */
import { DomainError } from '../domain/errors.ts';
import type { MatchRecord } from '../domain/jobs.ts';
import { listStateAt } from '../domain/lists/list-lifetime.ts';
import type { JobPage } from '../domain/ports.ts';
import { type Principal, requireRole } from '../domain/principal.ts';
import { resolveK } from '../domain/privacy/privacy-params.ts';
import { MATCH_TIMEOUT_SECONDS, OBJECT_KEYS } from '../infra/definitions.ts';
import { assertMatchAffordable } from './budgets.ts';
import { DOWNLOAD_URL_SECONDS, type UseCaseContext } from './context.ts';
import { LIST_LIFETIME_DAYS } from './lists.ts';

export interface StartMatchInput {
  listId: string;
  partnerId: string;
  minSegmentSize?: number;
}

export async function startMatch(ctx: UseCaseContext, principal: Principal, input: StartMatchInput) {
  requireRole(principal, 'advertiser');
  const k = resolveK(ctx.settings.minSegmentSize, input.minSegmentSize);
  const list = await ctx.jobs.get('list', principal.tenantId, input.listId);
  if (!list) throw new DomainError('not-found', 'No such list.');
  if (list.status === 'FAILED') {
    throw new DomainError(
      'list-failed',
      `The list could not be read (${list.errorCode ?? 'failed'}); upload it again.`,
    );
  }
  if (listStateAt(list, ctx.now(), LIST_LIFETIME_DAYS) === 'EXPIRED') {
    throw new DomainError(
      'list-expired',
      `Uploaded lists are kept ${LIST_LIFETIME_DAYS * 24} hours and this one has expired: register and upload it again.`,
    );
  }
  const uploaded =
    list.format === 'hashed'
      ? await ctx.objects.exists(ctx.buckets.uploads, OBJECT_KEYS.hashedList(principal.tenantId, list.listId))
      : list.status === 'READY';
  if (!uploaded) {
    throw new DomainError(
      'list-not-ready',
      list.format === 'raw' && list.status === 'HASHING'
        ? 'The list is still being hashed; try again in a moment.'
        : 'The list has not been uploaded yet: PUT it to the upload URL first.',
    );
  }
  const snapshot = await ctx.audiences.snapshot(input.partnerId);
  if (!snapshot || snapshot.segments.length === 0) {
    throw new DomainError('partner-not-found', 'No such partner, or it has no audiences yet.');
  }
  if (snapshot.profile !== list.profile) {
    throw new DomainError(
      'profile-mismatch',
      `This partner's audiences are hashed with the ${snapshot.profile} profile; the list was hashed with ${list.profile}. Hash it again with --profile ${snapshot.profile}.`,
    );
  }
  // Refused before anything runs when either budget cannot pay for one match.
  await assertMatchAffordable(ctx, principal.tenantId, input.partnerId);
  // Checked last, just before the match is created: two starts at the same instant may both pass.
  // Matches older than the match timeout are dead, whatever their record says, and do not count.
  const since = new Date(ctx.now().getTime() - MATCH_TIMEOUT_SECONDS * 1000);
  const inFlight = await ctx.jobs.countMatchesInFlight(principal.tenantId, since);
  if (inFlight >= ctx.maxRunningMatches) {
    throw new DomainError(
      'too-many-running-matches',
      `${inFlight} of your matches are still running; at most ${ctx.maxRunningMatches} may run at once. Start this one when one of them has finished.`,
    );
  }
  const now = ctx.now().toISOString();
  const match: MatchRecord = {
    kind: 'match',
    tenantId: principal.tenantId,
    matchId: ctx.newId(),
    listId: list.listId,
    partnerId: input.partnerId,
    minSegmentSize: k,
    status: 'QUEUED',
    progress: { phase: 'queued', shardsDone: 0, shardsTotal: 0 },
    snapshot,
    ...(list.summary ? { summary: list.summary } : {}),
    createdAt: now,
    updatedAt: now,
  };
  await ctx.jobs.create(match);
  try {
    await ctx.runner.start({ tenantId: principal.tenantId, matchId: match.matchId });
  } catch (error) {
    await ctx.jobs.update('match', principal.tenantId, match.matchId, {
      status: 'FAILED',
      errorCode: 'match-not-started',
      errorDetail: 'The match could not be started; try again.',
    });
    throw error;
  }
  return { matchId: match.matchId, status: match.status };
}

export async function getMatch(
  ctx: UseCaseContext,
  principal: Principal,
  matchId: string,
): Promise<MatchRecord> {
  requireRole(principal, 'advertiser', 'admin');
  const match = await ctx.jobs.get('match', principal.tenantId, matchId);
  if (!match) throw new DomainError('not-found', 'No such match.');
  return match;
}

export async function listMatches(ctx: UseCaseContext, principal: Principal, page: JobPage = {}) {
  requireRole(principal, 'advertiser', 'admin');
  return ctx.jobs.list('match', principal.tenantId, page);
}

export async function downloadMatch(
  ctx: UseCaseContext,
  principal: Principal,
  matchId: string,
  format: 'csv' | 'json',
) {
  const match = await getMatch(ctx, principal, matchId);
  if (match.status !== 'SUCCEEDED') {
    throw new DomainError(
      'match-not-finished',
      `The match is ${match.status}; a result exists once it SUCCEEDED.`,
    );
  }
  const key =
    format === 'csv'
      ? OBJECT_KEYS.resultCsv(match.tenantId, matchId)
      : OBJECT_KEYS.resultJson(match.tenantId, matchId);
  const url = await ctx.objects.presignGet(
    ctx.buckets.results,
    key,
    DOWNLOAD_URL_SECONDS,
    `audience-${matchId}.${format}`,
  );
  return {
    url,
    format,
    expiresAt: new Date(ctx.now().getTime() + DOWNLOAD_URL_SECONDS * 1000).toISOString(),
  };
}
