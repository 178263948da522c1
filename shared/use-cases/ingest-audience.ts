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
import { DOMAIN_ERROR_CODES, DomainError, type DomainErrorCode, isDomainError } from '../domain/errors.ts';
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
  type IngestPlan,
  IngestRefused,
  ingestIdentifierPart,
  ingestPeopleUnit,
  loadPlan,
  mapInProcess,
} from './ingest-pipeline.ts';
import { dropKeyOf, joinIngest, planIngest, splitIngestRange } from './ingest-split.ts';

export type { IngestJob } from './ingest-pipeline.ts';
export { DEFAULT_MAX_REJECTED_SHARE, decodeMemberHash } from './ingest-pipeline.ts';

/** Members read and written per step of a sweep. */
const CHUNK = 1_000;

/**
 * Runs the map steps of an ingest: its people units, then its filter parts. Worker threads in the
 * embedded stack; one after another in this process when absent. A map fails when any item fails,
 * once every item has settled.
 */
export type IngestMap = (step: IngestMapStep, job: IngestJob, items: number[]) => Promise<void>;
export type IngestMapStep = 'split' | 'people' | 'identifiers';

/** The steps after the plan, as the ingest state machine (or the worker threads) runs them. */
export type IngestStepInput = IngestJob &
  (
    | { step: IngestMapStep; item: number }
    | { step: 'join' | 'gate' | 'finish' }
    /** The state machine's Catch: `error` is its error name and cause, as Step Functions gives them. */
    | { step: 'fail'; error?: { Error?: string; Cause?: string } }
  );

export interface IngestStepOutput {
  /** The ingest has ended (its status is final, its work files are gone, its lock released). */
  done: boolean;
  /** After the join: the people units to map over. */
  units?: number[];
  /** After the gate: the identifier parts to map over (none once done). */
  parts?: number[];
}

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
  /** The bytes of the drop one split range reads (default RANGE_BYTES; small in tests). */
  splitRangeBytes?: number;
  /** Where the map steps run (default: in this process, one item at a time). */
  mapIngest?: IngestMap;
  /**
   * Hands the steps after the plan to the ingest state machine (AWS), which ends the ingest; absent,
   * they run in this invocation through `mapIngest`.
   */
  startIngest?: (job: IngestJob & { ranges: number[] }) => Promise<void>;
}

const DROP_KEY = /^audiences\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.csv$/;

export function parseDropKey(key: string): { partnerId: string; audienceId: string } | undefined {
  const m = DROP_KEY.exec(key);
  return m ? { partnerId: m[1] as string, audienceId: m[2] as string } : undefined;
}

/** The partner lock's owner of an ingest is `{audienceId}-{time}`: recovery finds it by that prefix. */
const ownerPrefix = (audienceId: string) => `${audienceId}-`;

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
  const job: IngestJob = { partnerId, audienceId };
  const upload = await deps.jobs.get('audience', partnerId, audienceId);
  if (!upload) {
    deps.logger.warn('ingest: no upload record for this drop, deleted', { partnerId, audienceId });
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }
  // A retried event after the join took the drop: the first attempt (or its state machine) has it.
  if (!(await deps.objects.exists(deps.buckets.partnerDrops, objectKey))) return 'ignored';
  // An event delivered twice while this drop's ingest runs (its state machine reads the drop by
  // ranges until the join): that ingest holds the partner lock; leave it alone. One that died is
  // ended by recovery.
  if (
    upload.status === 'INGESTING' &&
    (await deps.audiences.readLock(partnerId))?.owner.startsWith(ownerPrefix(audienceId))
  )
    return 'ignored';
  const started = await deps.jobs.update('audience', partnerId, audienceId, { status: 'INGESTING' }, [
    'AWAITING_UPLOAD',
    'INGESTING',
  ]);
  if (!started) {
    // A drop PUT again after its ingest ended: partner hashes do not stay at rest either way.
    await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    return 'ignored';
  }

  const owner = `${ownerPrefix(audienceId)}${now().getTime()}`;
  const locked = await waitForLock(deps, partnerId, owner);
  let handedOff = false;
  // Only the identifier parts write manifests and filter parts a failure must delete.
  let outputs = false;
  try {
    if (!locked) {
      throw new DomainError(
        'conflict',
        'Another ingest for this partner is still running; upload again later.',
      );
    }
    if (!(await deps.objects.exists(deps.buckets.partnerDrops, objectKey))) return 'ignored';
    const plan = await planIngest(deps, upload, objectKey, owner, now);
    const ranges = plan.drop.ranges.map((_, i) => i);
    if (deps.startIngest) {
      // The drop stays until the join has read it; the state machine deletes it whatever happens.
      await deps.startIngest({ ...job, ranges });
      handedOff = true;
      return 'INGESTING';
    }
    const map = deps.mapIngest ?? inProcessMap(deps);
    await map('split', job, ranges);
    const joined = await runIngestStep(deps, { ...job, step: 'join' });
    await map('people', job, joined.units ?? []);
    const gate = await runIngestStep(deps, { ...job, step: 'gate' });
    if (gate.done) return (await deps.jobs.get('audience', partnerId, audienceId))?.status ?? 'FAILED';
    outputs = true;
    await map('identifiers', job, gate.parts ?? []);
    await runIngestStep(deps, { ...job, step: 'finish' });
    return 'SUCCEEDED';
  } catch (error) {
    await failIngest(deps, job, error, { ...(locked ? { owner } : {}), outputs });
    return 'FAILED';
  } finally {
    if (!handedOff) await deps.objects.delete(deps.buckets.partnerDrops, objectKey);
    // Not ours to release once handed off: the state machine's last step releases it.
    if (locked && !handedOff) await deps.audiences.releaseLock(partnerId, owner);
  }
}

/** The map steps one item after another in this process. */
function inProcessMap(deps: IngestDeps): IngestMap {
  return (step, job, items) =>
    mapInProcess(items, (item) => runIngestStep(deps, { ...job, step, item }).then(() => undefined));
}

/**
 * One step of an ingest after its plan: a split range, a people unit or an identifier part
 * (idempotent), the join (the whole file's counts and units; the drop deleted), the gate (which
 * ends a refused file or a dry run), finish (publish, flip, sweep, end; a retry after
 * the flip neither publishes nor flips again), or fail (the state machine's Catch).
 */
export async function runIngestStep(deps: IngestDeps, input: IngestStepInput): Promise<IngestStepOutput> {
  const now = deps.now ?? (() => new Date());
  const job: IngestJob = { partnerId: input.partnerId, audienceId: input.audienceId };
  switch (input.step) {
    case 'split': {
      const started = performance.now();
      const { rows } = await splitIngestRange(deps, await uploadOf(deps, job), { ...job, range: input.item });
      logStep(deps, job, { step: 'split', item: input.item, started, rows });
      return { done: false };
    }
    case 'join': {
      const { units } = await joinIngest(deps, job);
      return { done: false, units: Array.from({ length: units }, (_, i) => i) };
    }
    case 'people': {
      const started = performance.now();
      const { rows } = await ingestPeopleUnit(deps, { ...job, unit: input.item });
      logStep(deps, job, { step: 'people', item: input.item, started, rows });
      return { done: false };
    }
    case 'identifiers': {
      const started = performance.now();
      const { items } = await ingestIdentifierPart(deps, { ...job, part: input.item });
      logStep(deps, job, { step: 'identifiers', item: input.item, started, items });
      return { done: false };
    }
    case 'gate': {
      const upload = await uploadOf(deps, job);
      try {
        const dryRun = await gateIngest(deps, upload, job);
        if (dryRun) {
          await endIngest(deps, job, { status: 'SUCCEEDED', report: dryRun });
          return { done: true, parts: [] };
        }
      } catch (error) {
        if (!(error instanceof IngestRefused)) throw error;
        await failIngest(deps, job, error, { outputs: false });
        return { done: true, parts: [] };
      }
      return { done: false, parts: Array.from({ length: FILTER_PARTS }, (_, i) => i) };
    }
    case 'finish': {
      const upload = await uploadOf(deps, job);
      const report = await finishIngest(deps, upload, job, now);
      // Sweep versions retired long enough ago that no running match can still read them.
      await sweepRetired(deps, job.partnerId, now);
      await endIngest(deps, job, { status: 'SUCCEEDED', report });
      return { done: true };
    }
    case 'fail':
      await failIngest(deps, job, stateMachineError(input.error), { outputs: true });
      return { done: true };
  }
}

/** A map item's duration and size, at debug level: what one worker does a second (the bench reads it). */
function logStep(
  deps: IngestDeps,
  job: IngestJob,
  step: { step: string; item: number; started: number; rows?: number; items?: number },
): void {
  const { started, ...rest } = step;
  deps.logger.debug('ingest: step done', { ...job, ...rest, ms: Math.round(performance.now() - started) });
}

async function uploadOf(deps: IngestDeps, job: IngestJob): Promise<AudienceUploadRecord> {
  const upload = await deps.jobs.get('audience', job.partnerId, job.audienceId);
  if (!upload) throw new DomainError('not-found', 'No such partner audience.');
  return upload;
}

/**
 * A Lambda error as the state machine's Catch hands it over: a domain error keeps its code (its
 * message is `code: detail`); anything else is `ingest-failed`.
 */
function stateMachineError(error: { Error?: string; Cause?: string } | undefined): unknown {
  let message = '';
  try {
    message = String((JSON.parse(error?.Cause ?? '{}') as { errorMessage?: unknown }).errorMessage ?? '');
  } catch {
    // A cause that is not a Lambda error (a states error): no code to keep.
  }
  const m = /^([a-z-]+): ([\s\S]*)$/.exec(message);
  if (m && DOMAIN_ERROR_CODES.includes(m[1] as DomainErrorCode))
    return new DomainError(m[1] as DomainErrorCode, m[2] as string);
  return new Error(error?.Error ?? 'ingest step failed');
}

/**
 * Ends an ingest as FAILED: nothing released, its work files (and with `outputs`, the manifests and
 * filter parts its identifier parts may have written) deleted, its lock released.
 */
async function failIngest(
  deps: IngestDeps,
  job: IngestJob,
  error: unknown,
  options: { owner?: string; outputs: boolean },
): Promise<void> {
  const code = isDomainError(error) ? error.code : 'ingest-failed';
  const detail = isDomainError(error)
    ? error.detail
    : 'A step of the ingest failed; the live versions of the segments are unchanged. Upload the file again.';
  deps.logger.error('ingest: failed', {
    ...job,
    code,
    error: isDomainError(error) ? undefined : error instanceof Error ? error.name : 'unknown',
  });
  await endIngest(
    deps,
    job,
    {
      status: 'FAILED',
      errorCode: code,
      errorDetail: detail,
      // A refused file keeps its report: the rows and rules to fix.
      ...(error instanceof IngestRefused ? { report: error.report } : {}),
    },
    options,
  );
}

/**
 * The last thing an ingest does, whatever its outcome: its status set (only while INGESTING: a late
 * retry cannot undo an outcome), its intermediate files deleted (partner hashes do not stay at
 * rest), and for a failed ingest the manifests and filter parts it wrote for versions never made
 * current; then the partner lock released. The status goes first: a step retried after a crash
 * here still finds the plan and counts it needs, and recovery deletes the work files of an ingest
 * no longer in flight.
 */
async function endIngest(
  deps: IngestDeps,
  job: IngestJob,
  outcome: Pick<AudienceUploadRecord, 'status' | 'report' | 'errorCode' | 'errorDetail'>,
  options: { owner?: string; outputs?: boolean } = {},
): Promise<void> {
  const plan = await loadPlan(deps, job).catch(() => undefined);
  const ended = await deps.jobs.update('audience', job.partnerId, job.audienceId, outcome, ['INGESTING']);
  if (ended && outcome.status === 'SUCCEEDED' && outcome.report) {
    const { rowsRead, accepted, rejected } = outcome.report;
    deps.logger.info('ingest: succeeded', { ...job, rowsRead, accepted, rejected });
  }
  if (plan && outcome.status === 'FAILED' && options.outputs) await deleteUnreleasedOutputs(deps, plan);
  // An ingest that ends before its join read the drop: partner hashes do not stay at rest.
  await deps.objects.delete(deps.buckets.partnerDrops, dropKeyOf(job));
  await deleteIngestWork(deps, job);
  const lock = options.owner ?? plan?.owner ?? (await deps.audiences.readLock(job.partnerId))?.owner;
  if (lock?.startsWith(ownerPrefix(job.audienceId))) await deps.audiences.releaseLock(job.partnerId, lock);
}

/** A failed ingest's manifests and filter parts, unless the catalog was flipped to them after all. */
async function deleteUnreleasedOutputs(deps: IngestDeps, plan: IngestPlan): Promise<void> {
  const catalog = await deps.audiences.readCatalog(plan.partnerId);
  if (catalog?.filter?.id === plan.audienceId) return;
  const { results } = deps.buckets;
  const prefixes = [
    ...plan.segments.map((segmentId, i) =>
      OBJECT_KEYS.manifest(plan.partnerId, plan.keyId, segmentId, plan.versions[i] as number).replace(
        /\.keys$/,
        '/',
      ),
    ),
    OBJECT_KEYS.filterPart(plan.partnerId, plan.keyId, plan.audienceId, 0).replace(/[^/]*$/, ''),
  ];
  for (const prefix of prefixes)
    for (const key of await deps.objects.list(results, prefix)) await deps.objects.delete(results, key);
}

export async function waitForLock(deps: IngestDeps, partnerId: string, owner: string): Promise<boolean> {
  const deadline = Date.now() + (deps.lockWaitMs ?? 60_000);
  for (let delay = 50; ; delay = Math.min(delay * 2, 2_000)) {
    if (await deps.audiences.acquireLock(partnerId, owner, deps.lockTtlSeconds ?? 900)) return true;
    if (Date.now() + delay > deadline) return false;
    await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
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
