/** Partner catalogs (readable by every tenant: names and sizes only), and partner audience uploads. */
import { DomainError } from '../domain/errors.ts';
import type { AudienceUploadRecord, SegmentDeclaration } from '../domain/jobs.ts';
import type { Profile } from '../domain/model.ts';
import { type Principal, requirePartnerAccess, requireRole } from '../domain/principal.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import { UPLOAD_URL_SECONDS, type UseCaseContext } from './context.ts';
import { type IngestDeps, ingestAudience } from './ingest-audience.ts';
import type { RekeyDeps } from './rotate-pepper.ts';

export const AUDIENCE_CONTENT_TYPE = 'text/csv; charset=utf-8';

export async function listPartnerCatalogs(ctx: UseCaseContext, _principal: Principal) {
  const partners = [];
  for (const partnerId of await ctx.audiences.listPartners()) {
    const catalog = await ctx.audiences.readCatalog(partnerId);
    if (!catalog) continue;
    partners.push({
      partnerId,
      profile: catalog.profile,
      baseSize: catalog.baseSize,
      segments: catalog.segments.map(({ segmentId, name, description, size }) => ({
        segmentId,
        name,
        description,
        size,
      })),
    });
  }
  return { partners };
}

export async function createAudienceUpload(
  ctx: UseCaseContext,
  principal: Principal,
  partnerId: string,
  input: { profile: Profile; segments: SegmentDeclaration[] },
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
  };
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
