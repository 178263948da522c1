/**
 * Partner ingest: a members file (a header of identifier columns, `email_sha256`, `phone_sha256`
 * (`sha256` is an email), and `segment_id`; one row a person in a segment) replaces the segments
 * declared when its upload URL was asked for. Every row is validated and counted; accepted members
 * are keyed with the pepper and written as a new version of each segment, shard by shard
 * (shared/use-cases/ingest-pipeline.ts); the catalog is flipped to the new versions in one
 * conditional write, so a running match sees the old or the new version, never a mix; the
 * replaced versions are swept once no match can still be reading them. The drop is deleted
 * whatever the outcome: partner hashes do not stay at rest.
 */
import { token } from '../domain/audiences/membership.ts';
import { FILTER_PARTS } from '../domain/audiences/membership-filter.ts';
import { DomainError, isDomainError } from '../domain/errors.ts';
import type { AudienceUploadRecord } from '../domain/jobs.ts';
import type { PartnerCatalog } from '../domain/model.ts';
import type {
  AudienceKeyer,
  AudienceWriter,
  DomainLogger,
  JobStore,
  MemberRecord,
  ObjectStore,
} from '../domain/ports.ts';
import type { CatalogCounts, PublishedCounts } from '../domain/privacy/catalog-release.ts';
import { OBJECT_KEYS } from '../infra/definitions.ts';
import { linesOf } from './ingest-files.ts';
import {
  deleteIngestWork,
  finishIngest,
  gateIngest,
  type IngestJob,
  IngestRefused,
  ingestIdentifierPart,
  ingestPeopleUnit,
  mapInProcess,
  splitIngest,
} from './ingest-pipeline.ts';

export { DEFAULT_MAX_REJECTED_SHARE, decodeMemberHash } from './ingest-pipeline.ts';

/**
 * Runs the map steps of an ingest: its people units, then its filter parts. Worker threads in the
 * embedded stack; one after another in this process when absent.
 */
export type IngestMap = (step: 'people' | 'identifiers', job: IngestJob, items: number[]) => Promise<void>;

export interface IngestDeps {
  jobs: JobStore;
  audiences: AudienceWriter;
  objects: ObjectStore;
  /** The keyer of a pepper key id; the current key when none is given. */
  keyer(keyId?: string): Promise<AudienceKeyer>;
  buckets: { partnerDrops: string; results: string };
  logger: DomainLogger;
  maxRows: number;
  retireGraceSeconds: number;
  now?: () => Date;
  lockTtlSeconds?: number;
  /** How long to wait for another ingest of the same partner to finish. */
  lockWaitMs?: number;
  /**
   * Publishes the sizes of a new catalog version: noisy, charged to the partner's catalog budget
   * once per upload (`chargeId`), or withheld when that budget is spent.
   */
  publishSizes(partnerId: string, chargeId: string, counts: CatalogCounts): Promise<PublishedCounts>;
  /** Where the map steps run (default: in this process, one item at a time). */
  mapIngest?: IngestMap;
}

/** Members read and written per step of a sweep. */
const CHUNK = 1_000;

const DROP_KEY = /^audiences\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.csv$/;

export function parseDropKey(key: string): { partnerId: string; audienceId: string } | undefined {
  const m = DROP_KEY.exec(key);
  return m ? { partnerId: m[1] as string, audienceId: m[2] as string } : undefined;
}

export async function ingestAudience(
  deps: IngestDeps,
  objectKey: string,
): Promise<AudienceUploadRecord['status'] | 'ignored'> {
  const now = deps.now ?? (() => new Date());
  const ids = parseDropKey(objectKey);
  if (!ids) {
    // The key itself is not logged: a hand-made key could hold anything, an email included.
    deps.logger.warn('ingest: object key outside the drop layout, deleted');
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }
  const { partnerId, audienceId } = ids;
  const upload = await deps.jobs.get('audience', partnerId, audienceId);
  if (!upload) {
    deps.logger.warn('ingest: no upload record for this drop, deleted', { partnerId, audienceId });
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }
  const started = await deps.jobs.update('audience', partnerId, audienceId, { status: 'INGESTING' }, [
    'AWAITING_UPLOAD',
    'INGESTING',
  ]);
  if (!started) {
    // A drop PUT again after its ingest ended: partner hashes do not stay at rest either way.
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }

  const owner = `${audienceId}-${now().getTime()}`;
  const locked = await waitForLock(deps, partnerId, owner);
  try {
    if (!locked) {
      throw new DomainError(
        'conflict',
        'Another ingest for this partner is still running; upload again later.',
      );
    }
    if (!(await deps.objects.exists(deps.buckets.partnerDrops, objectKey))) return 'ignored';
    const report = await ingestLocked(deps, upload, objectKey, owner, now);
    await deps.jobs.update('audience', partnerId, audienceId, { status: 'SUCCEEDED', report });
    deps.logger.info('ingest: succeeded', {
      partnerId,
      audienceId,
      rowsRead: report.rowsRead,
      accepted: report.accepted,
      rejected: report.rejected,
    });
    return 'SUCCEEDED';
  } catch (error) {
    const code = isDomainError(error) ? error.code : 'ingest-failed';
    const detail = isDomainError(error)
      ? error.detail
      : 'The file could not be ingested; nothing was changed.';
    deps.logger.error('ingest: failed', {
      partnerId,
      audienceId,
      code,
      error: isDomainError(error) ? undefined : error instanceof Error ? error.name : 'unknown',
    });
    await deps.jobs.update('audience', partnerId, audienceId, {
      status: 'FAILED',
      errorCode: code,
      errorDetail: detail,
      // A refused file keeps its report: the rows and rules to fix.
      ...(error instanceof IngestRefused ? { report: error.report } : {}),
    });
    return 'FAILED';
  } finally {
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    if (locked) await deps.audiences.releaseLock(partnerId, owner);
  }
}

export async function waitForLock(deps: IngestDeps, partnerId: string, owner: string): Promise<boolean> {
  const deadline = Date.now() + (deps.lockWaitMs ?? 60_000);
  for (let delay = 50; ; delay = Math.min(delay * 2, 2_000)) {
    if (await deps.audiences.acquireLock(partnerId, owner, deps.lockTtlSeconds ?? 900)) return true;
    if (Date.now() + delay > deadline) return false;
    await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
  }
}

async function ingestLocked(
  deps: IngestDeps,
  upload: AudienceUploadRecord,
  objectKey: string,
  owner: string,
  now: () => Date,
) {
  const job: IngestJob = { partnerId: upload.tenantId, audienceId: upload.audienceId };
  const map: IngestMap =
    deps.mapIngest ??
    ((step, j, items) =>
      mapInProcess(items, (item) =>
        step === 'people'
          ? ingestPeopleUnit(deps, { ...j, unit: item })
          : ingestIdentifierPart(deps, { ...j, part: item }),
      ));
  const t0 = Date.now();
  const step = (name: string, fields: Record<string, unknown> = {}) =>
    deps.logger.debug('ingest: step done', { ...job, step: name, ms: Date.now() - t0, ...fields });
  try {
    const plan = await splitIngest(deps, upload, objectKey, owner, now);
    step('split', { rows: plan.rowsRead, units: plan.units.length });
    // The drop is read: partner hashes leave it (the people shards go when the ingest ends).
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    await map(
      'people',
      job,
      plan.units.map((_, i) => i),
    );
    step('people');
    const dryRun = await gateIngest(deps, upload, job);
    if (dryRun) return dryRun;
    await map(
      'identifiers',
      job,
      Array.from({ length: FILTER_PARTS }, (_, i) => i),
    );
    step('identifiers');
    const report = await finishIngest(deps, upload, job, now);
    // Sweep versions retired long enough ago that no running match can still read them.
    await sweepRetired(deps, upload.tenantId, now);
    step('finish');
    return report;
  } finally {
    await deleteIngestWork(deps, job);
  }
}

/** The keyed values of a segment version: its part objects, and the older single object. */
export async function* manifestKeys(
  deps: Pick<IngestDeps, 'objects' | 'buckets'>,
  partnerId: string,
  keyId: string,
  segmentId: string,
  version: number,
): AsyncIterable<string> {
  for (const key of await manifestObjects(deps, partnerId, keyId, segmentId, version))
    yield* linesOf(deps.objects.read(deps.buckets.results, key));
}

async function manifestObjects(
  deps: Pick<IngestDeps, 'objects' | 'buckets'>,
  partnerId: string,
  keyId: string,
  segmentId: string,
  version: number,
): Promise<string[]> {
  const legacy = OBJECT_KEYS.manifest(partnerId, keyId, segmentId, version);
  const parts = await deps.objects.list(deps.buckets.results, legacy.replace(/\.keys$/, '/'));
  return (await deps.objects.exists(deps.buckets.results, legacy)) ? [legacy, ...parts] : parts;
}

/**
 * Rewrites each object of a segment version's manifest (parts, and the older single object) with
 * only the keys `keep` accepts; an object left unchanged is not written.
 */
export async function pruneManifest(
  deps: Pick<IngestDeps, 'objects' | 'buckets'>,
  partnerId: string,
  keyId: string,
  segmentId: string,
  version: number,
  keep: (key: string) => boolean,
): Promise<void> {
  for (const object of await manifestObjects(deps, partnerId, keyId, segmentId, version)) {
    const keys: string[] = [];
    let dropped = false;
    for await (const key of linesOf(deps.objects.read(deps.buckets.results, object))) {
      if (keep(key)) keys.push(key);
      else dropped = true;
    }
    if (dropped)
      await deps.objects.write(
        deps.buckets.results,
        object,
        keys.length ? `${keys.join('\n')}\n` : '',
        'text/plain',
      );
  }
}

export async function readManifest(
  deps: Pick<IngestDeps, 'objects' | 'buckets'>,
  partnerId: string,
  keyId: string,
  segmentId: string,
  version: number,
): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of manifestKeys(deps, partnerId, keyId, segmentId, version)) keys.push(key);
  return keys;
}

/** A stream of keys in chunks of `size`. */
async function* chunksOf(keys: AsyncIterable<string>, size: number): AsyncIterable<string[]> {
  let chunk: string[] = [];
  for await (const key of keys) {
    chunk.push(key);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

/**
 * Removes the tokens of versions retired more than the grace period ago, then forgets them.
 * Runs under the partner's ingest lock (at the end of each ingest).
 */
export async function sweepRetired(deps: IngestDeps, partnerId: string, now: () => Date): Promise<number> {
  const catalog = await deps.audiences.readCatalog(partnerId);
  if (!catalog) return 0;
  const cutoff = now().getTime() - deps.retireGraceSeconds * 1000;
  const due = catalog.retired.filter((r) => Date.parse(r.retiredAt) <= cutoff);
  const dueKeys = (catalog.retiredKeys ?? []).filter((r) => Date.parse(r.retiredAt) <= cutoff);
  const dueFilters = (catalog.retiredFilters ?? []).filter((r) => Date.parse(r.retiredAt) <= cutoff);
  if (due.length === 0 && dueKeys.length === 0 && dueFilters.length === 0) return 0;
  const dueTokens = new Set(due.map((r) => token(r.segmentId, r.version)));
  let swept = 0;
  for (const r of due) {
    for await (const chunk of chunksOf(
      manifestKeys(deps, partnerId, catalog.keyId, r.segmentId, r.version),
      CHUNK,
    )) {
      const existing = await deps.audiences.readMembers(partnerId, catalog.keyId, chunk);
      const writes: MemberRecord[] = [];
      for (const record of existing.values()) {
        let changed = false;
        const kept = record.people.map(({ person, tokens }) => {
          const left = tokens.filter((t) => !dueTokens.has(t));
          changed ||= left.length !== tokens.length;
          return { person, tokens: left };
        });
        if (changed) writes.push({ ...record, people: kept });
      }
      await deps.audiences.writeMembers(partnerId, catalog.keyId, writes);
      swept += writes.length;
    }
  }
  // Members keyed under a rotated-out key id: every item goes, then the key's manifests.
  for (const rk of dueKeys) {
    for (const m of rk.manifests) {
      for await (const chunk of chunksOf(
        manifestKeys(deps, partnerId, rk.keyId, m.segmentId, m.version),
        CHUNK,
      )) {
        await deps.audiences.writeMembers(
          partnerId,
          rk.keyId,
          chunk.map((key) => ({ key, kind: 'email' as const, people: [] })),
        );
        swept += chunk.length;
      }
    }
  }
  const updated: PartnerCatalog = {
    ...catalog,
    retired: catalog.retired.filter((r) => !dueTokens.has(token(r.segmentId, r.version))),
    retiredKeys: (catalog.retiredKeys ?? []).filter((r) => !dueKeys.includes(r)),
    retiredFilters: (catalog.retiredFilters ?? []).filter((r) => !dueFilters.includes(r)),
    revision: catalog.revision + 1,
    updatedAt: now().toISOString(),
  };
  if (await deps.audiences.writeCatalog(updated, catalog.revision)) {
    const gone = [
      ...due.map((r) => ({ keyId: catalog.keyId, ...r })),
      ...dueKeys.flatMap((rk) => rk.manifests.map((m) => ({ keyId: rk.keyId, ...m }))),
    ];
    for (const m of gone) {
      for (const key of await manifestObjects(deps, partnerId, m.keyId, m.segmentId, m.version))
        await deps.objects.delete(deps.buckets.results, key);
    }
    for (const f of dueFilters) {
      for (let part = 0; part < f.parts; part++)
        await deps.objects.delete(
          deps.buckets.results,
          OBJECT_KEYS.filterPart(partnerId, f.keyId, f.id, part),
        );
    }
  }
  return swept;
}
