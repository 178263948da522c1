/**
 * Recovery, case by case, on the embedded stack's real stores: dead jobs fabricated as a crash, a
 * timeout or a lost event leaves them, then one recovery run. Files are kept in the results bucket
 * under their usual prefixes (a bucket with no upload trigger), so no handler races the fabricated
 * state: the events the test means to be lost are lost.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/api-client.ts';
import { type EmbeddedStack, startEmbeddedStack } from '../../local/embedded-stack.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { DynamoAudienceStore } from '../../shared/adapters/dynamodb/audience-store.ts';
import { DynamoJobStore } from '../../shared/adapters/dynamodb/job-store.ts';
import { rotatePepperFile } from '../../shared/adapters/pepper.ts';
import { useCaseContext } from '../../shared/adapters/runtime.ts';
import type { AudienceUploadRecord, JobRecord, ListRecord, MatchRecord } from '../../shared/domain/jobs.ts';
import { OBJECT_KEYS } from '../../shared/infra/definitions.ts';
import type { UseCaseContext } from '../../shared/use-cases/context.ts';
import { LIVENESS_BOUNDS_SECONDS } from '../../shared/use-cases/job-liveness.ts';
import { splitDirPrefix } from '../../shared/use-cases/match-pipeline.ts';
import { recoverJobs } from '../../shared/use-cases/recover-jobs.ts';
import { memberHash, range, seedPartner } from './helpers.ts';

let stack: EmbeddedStack;
let dataDir: string;
let ctx: UseCaseContext;
let current: string;
const ADVERTISER = 'acme-retail';
const PARTNER = 'northwind-data';

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'onboard-recover-'));
  // No periodic sweep: the one recovery that runs is the test's own.
  stack = await startEmbeddedStack({
    dataDir,
    ephemeral: true,
    sweepEveryMs: 0,
    env: { POWERTOOLS_LOG_LEVEL: 'WARN' },
  });
  await stack.idle();
  await seedPartner(new ApiClient(stack.apiUrl, stack.token(PARTNER, 'partner')), PARTNER, [
    { segmentId: 'seg-a', name: 'A', people: range(0, 100) },
  ]);
  await stack.idle();
  const real = useCaseContext();
  current = stack.env.ONBOARD_INSTANCE_ID as string;
  ctx = {
    ...real,
    buckets: { ...real.buckets, uploads: real.buckets.results, partnerDrops: real.buckets.results },
  };
});

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const at = (ms: number) => () => new Date(ms);
const later = (seconds: number) => ({ ...ctx, now: at(Date.now() + seconds * 1000) });
/** Stores that write as a previous start of the stack (or, with no instance, as AWS does). */
const storesOf = (instance?: string) => ({
  jobs: new DynamoJobStore(awsClients().dynamodb, stack.env.JOBS_TABLE as string, 30, instance),
  audiences: new DynamoAudienceStore(
    awsClients().dynamodb,
    stack.env.AUDIENCES_TABLE as string,
    {},
    () => new Date(),
    instance,
  ),
});
const exists = (key: string) => ctx.objects.exists(ctx.buckets.results, key);
const stamp = () => new Date().toISOString();
let seq = 0;
/** Time-ordered ids (an hour old: older than any margin). */
const newId = () => `${(Date.now() - 3_600_000).toString(36).padStart(9, '0')}-${process.pid}-${++seq}`;

const rawList = (status: ListRecord['status'], extra: Partial<ListRecord> = {}): ListRecord => ({
  kind: 'list',
  tenantId: ADVERTISER,
  listId: newId(),
  status,
  format: 'raw',
  profile: 'google',
  identifierKind: 'email',
  encoding: 'hex',
  createdAt: stamp(),
  updatedAt: stamp(),
  ...extra,
});
const runningMatch = (): MatchRecord => ({
  kind: 'match',
  tenantId: ADVERTISER,
  matchId: newId(),
  listId: 'some-list',
  partnerId: PARTNER,
  minSegmentSize: 50,
  status: 'RUNNING',
  progress: { phase: 'matching', shardsDone: 1, shardsTotal: 2 },
  createdAt: stamp(),
  updatedAt: stamp(),
});
const upload = (status: AudienceUploadRecord['status']): AudienceUploadRecord => ({
  kind: 'audience',
  tenantId: PARTNER,
  audienceId: newId(),
  status,
  profile: 'google',
  segments: [{ segmentId: 'seg-z', name: 'Z', description: '' }],
  createdAt: stamp(),
  updatedAt: stamp(),
});
const RAW = `${range(0, 10)
  .map((n) => `Person.${n}@Example.com`)
  .join('\n')}\n`;
const DROP = `sha256,segment_id\n${range(0, 60)
  .map((n) => `${memberHash(n)},seg-z`)
  .join('\n')}\n`;
const reread = <R extends JobRecord>(r: R) =>
  ctx.jobs.get(
    r.kind,
    r.tenantId,
    r.kind === 'list' ? r.listId : r.kind === 'match' ? r.matchId : r.audienceId,
  );

/** A dead match's files: a shard, a tally, an unreleased result and the split's local directory. */
async function matchFiles(m: MatchRecord) {
  const files = [
    OBJECT_KEYS.shard(m.matchId, 1),
    OBJECT_KEYS.tally(m.matchId, 0),
    OBJECT_KEYS.resultJson(m.tenantId, m.matchId),
  ];
  for (const key of files) await ctx.objects.write(ctx.buckets.results, key, 'x');
  const dir = await mkdtemp(join(tmpdir(), splitDirPrefix(m.matchId)));
  await writeFile(join(dir, '0.bin'), 'x');
  return files;
}
const splitDirs = async (m: MatchRecord) =>
  (await readdir(tmpdir())).filter((d) => d.startsWith(splitDirPrefix(m.matchId)));

describe('recovery in the embedded stack: what a previous start left in flight is dead at once', () => {
  it('hashes a raw list again, fails a match and an ingest with `interrupted`, frees their locks and files', async () => {
    const previous = storesOf('previous-start');
    const list = rawList('HASHING');
    await previous.jobs.create(list);
    await ctx.objects.write(ctx.buckets.uploads, OBJECT_KEYS.rawList(ADVERTISER, list.listId), RAW);
    const match = runningMatch();
    await previous.jobs.create(match);
    const files = await matchFiles(match);
    const ingest = upload('INGESTING');
    await previous.jobs.create(ingest);
    await ctx.objects.write(
      ctx.buckets.partnerDrops,
      OBJECT_KEYS.partnerDrop(PARTNER, ingest.audienceId),
      DROP,
    );
    expect(await previous.audiences.acquireLock(PARTNER, `${ingest.audienceId}-1`, 900)).toBe(true);
    // A match of this start, running: alive, and its files stay.
    const alive = runningMatch();
    await ctx.jobs.create(alive);
    await ctx.objects.write(ctx.buckets.results, OBJECT_KEYS.shard(alive.matchId, 0), 'x');

    const report = await recoverJobs(ctx, { instance: current });

    expect(await reread(list)).toMatchObject({ status: 'READY', recoveries: 1, summary: { valid: 10 } });
    expect(await exists(OBJECT_KEYS.rawList(ADVERTISER, list.listId))).toBe(false);
    expect(await reread(match)).toMatchObject({ status: 'FAILED', errorCode: 'interrupted' });
    for (const key of files) expect(await exists(key), key).toBe(false);
    expect(await splitDirs(match)).toEqual([]);
    expect(await reread(ingest)).toMatchObject({ status: 'FAILED', errorCode: 'interrupted' });
    expect(await exists(OBJECT_KEYS.partnerDrop(PARTNER, ingest.audienceId))).toBe(false);
    expect(await ctx.audiences.readLock(PARTNER)).toBeUndefined();
    expect(await reread(alive)).toMatchObject({ status: 'RUNNING' });
    expect(await exists(OBJECT_KEYS.shard(alive.matchId, 0))).toBe(true);
    expect(report).toMatchObject({ resumed: 1, interrupted: 2, locksReleased: 1 });
    await ctx.jobs.update('match', ADVERTISER, alive.matchId, { status: 'SUCCEEDED' });
  });

  it('releases a sweep or re-keying lock of a previous start, never one of this start', async () => {
    await storesOf('previous-start').audiences.acquireLock(PARTNER, 'sweep-1', 900);
    await recoverJobs(ctx, { instance: current });
    expect(await ctx.audiences.readLock(PARTNER)).toBeUndefined();
    await ctx.audiences.acquireLock(PARTNER, 'sweep-2', 900);
    await recoverJobs(ctx, { instance: current });
    expect(await ctx.audiences.readLock(PARTNER)).toMatchObject({ owner: 'sweep-2', instance: current });
    await ctx.audiences.releaseLock(PARTNER, 'sweep-2');
  });
});

describe('recovery in AWS: a job is dead once its record is older than its phase can take', () => {
  it('leaves jobs alone within their bounds and recovers them past them', async () => {
    const aws = storesOf(undefined);
    const match = runningMatch();
    await aws.jobs.create(match);
    const files = await matchFiles(match);
    const ingest = upload('INGESTING');
    await aws.jobs.create(ingest);

    await recoverJobs(later(LIVENESS_BOUNDS_SECONDS.ingesting - 60));
    expect(await reread(ingest)).toMatchObject({ status: 'INGESTING' });
    expect(await reread(match)).toMatchObject({ status: 'RUNNING' });
    expect(await exists(files[0] as string)).toBe(true);

    await recoverJobs(later(LIVENESS_BOUNDS_SECONDS.ingesting + 60));
    expect(await reread(ingest)).toMatchObject({ status: 'FAILED', errorCode: 'interrupted' });
    expect(await reread(match)).toMatchObject({ status: 'RUNNING' });

    await recoverJobs(later(LIVENESS_BOUNDS_SECONDS.match + 60));
    expect(await reread(match)).toMatchObject({ status: 'FAILED', errorCode: 'interrupted' });
    for (const key of files) expect(await exists(key), key).toBe(false);
  });

  it('a list whose hashing died twice ends FAILED and its raw and partial hashed objects are deleted', async () => {
    const list = rawList('HASHING', { recoveries: 1 });
    await storesOf(undefined).jobs.create(list);
    const raw = OBJECT_KEYS.rawList(ADVERTISER, list.listId);
    const hashed = OBJECT_KEYS.hashedList(ADVERTISER, list.listId);
    await ctx.objects.write(ctx.buckets.uploads, raw, RAW);
    await ctx.objects.write(ctx.buckets.uploads, hashed, 'partial');
    await recoverJobs(later(LIVENESS_BOUNDS_SECONDS.hashing + 60));
    expect(await reread(list)).toMatchObject({ status: 'FAILED', errorCode: 'interrupted' });
    expect(await exists(raw)).toBe(false);
    expect(await exists(hashed)).toBe(false);
  });

  it('handles uploads whose event was lost, once late enough, and deletes uploads whose job is over', async () => {
    const aws = storesOf(undefined);
    const list = rawList('AWAITING_UPLOAD');
    await aws.jobs.create(list);
    await ctx.objects.write(ctx.buckets.uploads, OBJECT_KEYS.rawList(ADVERTISER, list.listId), RAW);
    const drop = upload('AWAITING_UPLOAD');
    await aws.jobs.create(drop);
    await ctx.objects.write(
      ctx.buckets.partnerDrops,
      OBJECT_KEYS.partnerDrop(PARTNER, drop.audienceId),
      DROP,
    );
    const done = rawList('READY');
    await aws.jobs.create(done);
    await ctx.objects.write(ctx.buckets.uploads, OBJECT_KEYS.rawList(ADVERTISER, done.listId), RAW);

    await recoverJobs(later(60));
    expect(await reread(list)).toMatchObject({ status: 'AWAITING_UPLOAD' });
    expect(await reread(drop)).toMatchObject({ status: 'AWAITING_UPLOAD' });
    expect(await exists(OBJECT_KEYS.rawList(ADVERTISER, done.listId))).toBe(false);

    await recoverJobs(later(LIVENESS_BOUNDS_SECONDS.dropUnclaimed + 60));
    expect(await reread(list)).toMatchObject({ status: 'READY' });
    expect(await reread(drop)).toMatchObject({ status: 'SUCCEEDED', report: { accepted: 60 } });
    expect(await exists(OBJECT_KEYS.rawList(ADVERTISER, list.listId))).toBe(false);
    expect(await exists(OBJECT_KEYS.partnerDrop(PARTNER, drop.audienceId))).toBe(false);
  });

  it('deletes shards and tallies of matches no longer in flight, not of one just created', async () => {
    const finished = runningMatch();
    await ctx.jobs.create({ ...finished, status: 'SUCCEEDED' });
    await ctx.objects.write(ctx.buckets.results, OBJECT_KEYS.tally(finished.matchId, 2), 'x');
    const young = `${Date.now().toString(36).padStart(9, '0')}-young`;
    await ctx.objects.write(ctx.buckets.results, OBJECT_KEYS.shard(young, 0), 'x');
    await recoverJobs(ctx);
    expect(await exists(OBJECT_KEYS.tally(finished.matchId, 2))).toBe(false);
    expect(await exists(OBJECT_KEYS.shard(young, 0))).toBe(true);
    await ctx.objects.delete(ctx.buckets.results, OBJECT_KEYS.shard(young, 0));
  });

  it('resumes re-keying left half-way after a pepper rotation', async () => {
    const before = await ctx.audiences.readCatalog(PARTNER);
    rotatePepperFile(stack.env.PEPPER_FILE as string);
    const now = await ctx.currentKeyId();
    expect(before?.keyId).not.toBe(now);
    const report = await recoverJobs(ctx, { instance: current });
    expect((await ctx.audiences.readCatalog(PARTNER))?.keyId).toBe(now);
    expect(report.resumed).toBeGreaterThanOrEqual(1);
  });
});
