/** Partner catalogs (readable by every tenant: names and sizes only), and partner audience uploads. */
import { DomainError, isDomainError } from '../domain/errors.ts';
import type { AudienceUploadRecord, SegmentDeclaration } from '../domain/jobs.ts';
import { catalogKinds, type Profile } from '../domain/model.ts';
import { type Principal, requirePartnerAccess, requireRole } from '../domain/principal.ts';
import { allowanceOf, budgetLeft, fromMicro, toMicro } from '../domain/privacy/budget.ts';
import {
  CATALOG_ROUNDING,
  type CatalogCounts,
  type PublishedCounts,
  publishCatalogCounts,
  withheldCatalogCounts,
} from '../domain/privacy/catalog-release.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import { accountOf } from './budgets.ts';
import { UPLOAD_URL_SECONDS, type UseCaseContext } from './context.ts';
import { type IngestDeps, type IngestStepInput, ingestAudience, runIngestStep } from './ingest-audience.ts';
import type { RekeyDeps } from './rotate-pepper.ts';

export const AUDIENCE_CONTENT_TYPE = 'text/csv; charset=utf-8';

export async function listPartnerCatalogs(ctx: UseCaseContext, _principal: Principal) {
  const partners = [];
  for (const partnerId of await ctx.audiences.listPartners()) {
    const catalog = await ctx.audiences.readCatalog(partnerId);
    if (!catalog) continue;
    // Only published sizes leave the service: noisy, rounded, and none under k.
    // Kinds are learned at ingest: what a list must hold to match anyone here.
    partners.push({
      partnerId,
      profile: catalog.profile,
      kinds: catalogKinds(catalog.segments),
      baseSize: catalog.publishedBaseSize ?? null,
      segments: catalog.segments.map(({ segmentId, name, description, publishedSize, kinds }) => ({
        segmentId,
        name,
        description,
        kinds: kinds ?? ['email'],
        size: publishedSize ?? null,
      })),
    });
  }
  return { partners };
}

export async function createAudienceUpload(
  ctx: UseCaseContext,
  principal: Principal,
  partnerId: string,
  input: { profile: Profile; segments: SegmentDeclaration[]; maxRejectedShare?: number; dryRun?: boolean },
) {
  requirePartnerAccess(principal, partnerId);
  const catalog = await ctx.audiences.readCatalog(partnerId);
  if (catalog && catalog.profile !== input.profile) {
    throw new DomainError(
      'profile-mismatch',
      `This partner's audiences are hashed with the ${catalog.profile} profile; every upload must use it.`,
    );
  }
  const audienceId = ctx.newId();
  const now = ctx.now().toISOString();
  const record: AudienceUploadRecord = {
    kind: 'audience',
    tenantId: partnerId,
    audienceId,
    status: 'AWAITING_UPLOAD',
    profile: input.profile,
    segments: input.segments,
    ...(input.maxRejectedShare !== undefined ? { maxRejectedShare: input.maxRejectedShare } : {}),
    ...(input.dryRun ? { dryRun: true } : {}),
    createdAt: now,
    updatedAt: now,
  };
  await ctx.jobs.create(record);
  const url = await ctx.objects.presignPut(
    ctx.buckets.partnerDrops,
    OBJECT_KEYS.partnerDrop(partnerId, audienceId),
    UPLOAD_URL_SECONDS,
    AUDIENCE_CONTENT_TYPE,
  );
  return {
    audienceId,
    upload: {
      url,
      method: 'PUT' as const,
      headers: { 'content-type': AUDIENCE_CONTENT_TYPE },
      expiresAt: new Date(ctx.now().getTime() + UPLOAD_URL_SECONDS * 1000).toISOString(),
    },
  };
}

export async function getAudienceUpload(
  ctx: UseCaseContext,
  principal: Principal,
  partnerId: string,
  audienceId: string,
) {
  requirePartnerAccess(principal, partnerId);
  const record = await ctx.jobs.get('audience', partnerId, audienceId);
  if (!record) throw new DomainError('not-found', 'No such partner audience.');
  return record;
}

export function ingestDeps(ctx: UseCaseContext): IngestDeps {
  return {
    jobs: ctx.jobs,
    audiences: ctx.audiences,
    objects: ctx.objects,
    keyer: ctx.keyer,
    buckets: { partnerDrops: ctx.buckets.partnerDrops, results: ctx.buckets.results },
    logger: ctx.logger,
    maxRows: ctx.maxIngestRows,
    retireGraceSeconds: ctx.retireGraceSeconds,
    now: ctx.now,
    publishSizes: (partnerId, chargeId, counts) => publishSizes(ctx, partnerId, chargeId, counts),
    ...(ctx.ingestRunner?.map ? { mapIngest: ctx.ingestRunner.map.bind(ctx.ingestRunner) } : {}),
    ...(ctx.ingestRunner?.start ? { startIngest: ctx.ingestRunner.start.bind(ctx.ingestRunner) } : {}),
  };
}

/**
 * The sizes of a new catalog version, as published: noisy, paid from the partner's catalog budget
 * of the period (once per upload, so a retried ingest pays once), or withheld when it is spent.
 */
async function publishSizes(
  ctx: UseCaseContext,
  partnerId: string,
  chargeId: string,
  counts: CatalogCounts,
): Promise<PublishedCounts> {
  const s = ctx.settings;
  const k = s.minSegmentSize;
  if (s.unsafeNoiseOffForTests) return publishCatalogCounts(counts, { k, rho: undefined });
  const account = accountOf(ctx, 'catalog', partnerId);
  let left: number;
  try {
    const after = await ctx.ledger.spend(
      account,
      chargeId,
      toMicro(s.rhoPerCatalog),
      allowanceOf('catalog', s),
    );
    left = budgetLeft(after);
  } catch (error) {
    if (!(isDomainError(error) && error.code === 'privacy-budget-exhausted')) throw error;
    ctx.logger.warn('ingest: catalog budget spent, sizes withheld', { partnerId, period: account.period });
    return withheldCatalogCounts(counts);
  }
  const published = publishCatalogCounts(counts, { k, rho: s.rhoPerCatalog });
  await ctx.ledger.audit({
    tenantId: partnerId,
    matchId: chargeId,
    partnerId,
    at: ctx.now().toISOString(),
    event: 'catalog-published',
    k,
    rhoSpent: s.rhoPerCatalog,
    period: account.period,
    rhoLeft: fromMicro(left),
    noise: 'discrete-gaussian',
    rounding: `nearest-${CATALOG_ROUNDING}`,
    suppressedSegments: [...published.segments.values()].filter((v) => v === null).length,
  });
  return published;
}

export function rekeyDeps(ctx: UseCaseContext): RekeyDeps {
  return { ...ingestDeps(ctx), currentKeyId: ctx.currentKeyId, rekeyer: ctx.rekeyer };
}

/** Operator: start re-keying every partner after a pepper rotation (runs in the background). */
export async function startRekey(ctx: UseCaseContext, principal: Principal) {
  requireRole(principal, 'admin');
  const keyId = await ctx.currentKeyId();
  await ctx.maintenance.start('rekey');
  return { status: 'started', keyId };
}

export function ingestDrop(ctx: UseCaseContext, objectKey: string) {
  return ingestAudience(ingestDeps(ctx), objectKey);
}

/** One step of an ingest after its plan (a state machine task, or a worker thread's map item). */
export function ingestStep(ctx: UseCaseContext, input: IngestStepInput) {
  return runIngestStep(ingestDeps(ctx), input);
}
