/** Advertiser matches: start one, watch it, list them, download the result. */
import { DomainError } from '../domain/errors.ts';
import type { MatchRecord } from '../domain/jobs.ts';
import { listStateAt } from '../domain/lists/list-lifetime.ts';
import { type AudienceSnapshot, catalogKinds, type IdentifierKind, orderedKinds } from '../domain/model.ts';
import type { JobPage } from '../domain/ports.ts';
import { type Principal, requireRole } from '../domain/principal.ts';
import { assertListSize } from '../domain/privacy/apply-privacy.ts';
import { budgetLeft, toMicro } from '../domain/privacy/budget.ts';
import { resolveK } from '../domain/privacy/privacy-params.ts';
import { MATCH_TIMEOUT_SECONDS, OBJECT_KEYS } from '../infra/definitions.ts';
import { assertMatchAffordable, currentBudgets } from './budgets.ts';
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
  const snapshot = await partnerSnapshot(ctx, input.partnerId);
  if (list.kinds) commonKinds(snapshot, list.kinds);
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

async function partnerSnapshot(ctx: UseCaseContext, partnerId: string): Promise<AudienceSnapshot> {
  const snapshot = await ctx.audiences.snapshot(partnerId);
  if (!snapshot || snapshot.segments.length === 0) {
    throw new DomainError('partner-not-found', 'No such partner, or it has no audiences yet.');
  }
  return snapshot;
}

/** The kinds of the list that the partner has; refuses a list that could match nobody. */
export function commonKinds(
  snapshot: Pick<AudienceSnapshot, 'segments'>,
  kinds: readonly IdentifierKind[],
): IdentifierKind[] {
  const partner = catalogKinds(snapshot.segments);
  const common = orderedKinds(kinds.filter((k) => partner.includes(k)));
  if (common.length === 0) {
    throw new DomainError(
      'no-common-identifier-kind',
      `The list holds ${orderedKinds(kinds).join(' and ') || 'no identifier'}; this partner's audiences hold ${partner.join(' and ')} only, so it could match nobody. Match a list with ${partner.join(' or ')} identifiers.`,
    );
  }
  return common;
}

export interface CheckMatchInput {
  partnerId: string;
  kinds: IdentifierKind[];
  minSegmentSize?: number;
  distinct?: number;
}

/**
 * POST /v1/matches/check: whether a match can run, before anything is hashed, uploaded or spent:
 * the partner exists, the kinds overlap, k is in range, both budgets can pay for a match, and
 * (once the list is hashed locally) its distinct people reach the minimum. Refusals are the same
 * problems `POST /v1/matches` and the pipeline would give later.
 */
export async function checkMatch(ctx: UseCaseContext, principal: Principal, input: CheckMatchInput) {
  requireRole(principal, 'advertiser');
  const k = resolveK(ctx.settings.minSegmentSize, input.minSegmentSize);
  const snapshot = await partnerSnapshot(ctx, input.partnerId);
  const kinds = commonKinds(snapshot, input.kinds);
  await assertMatchAffordable(ctx, principal.tenantId, input.partnerId);
  if (input.distinct !== undefined) assertListSize({ distinct: input.distinct }, ctx.settings.minListSize);
  const noise = !ctx.settings.unsafeNoiseOffForTests;
  const { own, shared } = await currentBudgets(ctx, principal.tenantId, input.partnerId);
  return {
    partnerId: input.partnerId,
    profile: snapshot.profile,
    kinds,
    k,
    minListSize: ctx.settings.minListSize,
    rhoPerMatch: ctx.settings.rhoPerMatch,
    matchesLeft: noise
      ? Math.floor(Math.min(budgetLeft(own), budgetLeft(shared)) / toMicro(ctx.settings.rhoPerMatch))
      : null,
  };
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
