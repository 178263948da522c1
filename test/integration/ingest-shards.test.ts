/**
 * Ingest shard by shard (issue #9): the steps after the split (people units, the gate, identifier
 * parts, finish) on the embedded stack's real stores and worker threads, driven through the
 * ingest's own seams (IngestDeps: where the map steps run, who starts the steps after the split),
 * never a stand-in for the product.
 *
 * - A people unit or an identifier part that fails fails the ingest with `ingest-failed`: the live
 *   catalog and what a match reads of every member item are unchanged, the ingest's work files and
 *   the manifests and filter it wrote are gone, the partner lock is free.
 * - Every step run twice (a retry) leaves exactly what it left once; finish retried after its flip
 *   publishes nothing more (one catalog budget charge) and flips nothing more.
 * - The worker-thread map gives exactly what one-after-another gives.
 * - A match run while an ingest is half-way through its identifier parts sees the old versions
 *   whole; one run after sees the new versions whole.
 * - Recovery judges an ingest handed to the state machine by its steps' updates, and ends it.
 * - A step that runs longer than the lock's lifetime renews it as it goes, and stops when another
 *   ingest took it.
 *
 * Drops are put in the results bucket (startIngestStack), so no S3 event races the test's own
 * ingest.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { awsClients } from '../../shared/adapters/aws-clients.ts';
import { currentTokens } from '../../shared/domain/audiences/membership.ts';
import type { AudienceUploadRecord } from '../../shared/domain/jobs.ts';
import type { PartnerCatalog } from '../../shared/domain/model.ts';
import { OBJECT_KEYS } from '../../shared/infra/definitions.ts';
import type { UseCaseContext } from '../../shared/use-cases/context.ts';
import {
  type IngestDeps,
  type IngestJob,
  type IngestMap,
  ingestAudience,
  runIngestStep,
} from '../../shared/use-cases/ingest-audience.ts';
import { type IngestPlan, lockKeeper } from '../../shared/use-cases/ingest-pipeline.ts';
import { LIVENESS_BOUNDS_SECONDS } from '../../shared/use-cases/job-liveness.ts';
import { ingestDeps } from '../../shared/use-cases/partners.ts';
import { recoverJobs } from '../../shared/use-cases/recover-jobs.ts';
import {
  bySegment,
  http,
  objectsUnder,
  partnerCsv,
  range,
  type SeedSegment,
  startIngestStack,
  type TestStack,
} from './helpers.ts';

let t: TestStack;
let ctx: UseCaseContext;
/** Many S3 and DynamoDB round trips on a shared machine: a bound on a hang, not a timing bar. */
const SLOW = 300_000;

beforeAll(async () => {
  ({ stack: t, ctx } = await startIngestStack());
});

afterAll(async () => {
  await t?.stop();
});

const OLD: SeedSegment[] = [
  { segmentId: 'a', name: 'A', people: range(0, 300) },
  { segmentId: 'b', name: 'B', people: range(1_000, 200) },
];
/** Replaces a (some people leave, some join, some stay) and b stays as it is. */
const NEW_A: SeedSegment[] = [{ segmentId: 'a', name: 'A', people: range(150, 250) }];

/** Declares an upload through the API and puts its drop where no trigger sees it. */
async function declare(partnerId: string, segments: readonly SeedSegment[]): Promise<string> {
  const created = await http(t, 'POST', `/v1/partners/${partnerId}/audiences`, {
    token: t.token(partnerId, 'partner'),
    body: { profile: 'google', segments: segments.map(({ segmentId, name }) => ({ segmentId, name })) },
  });
  expect(created.status, created.text).toBe(201);
  const audienceId = created.json.audienceId as string;
  await ctx.objects.write(
    ctx.buckets.partnerDrops,
    OBJECT_KEYS.partnerDrop(partnerId, audienceId),
    partnerCsv(segments),
    'text/csv',
  );
  return audienceId;
}

/** Ingests a file with the given deps; returns the upload record as it ended. */
async function ingest(
  partnerId: string,
  segments: readonly SeedSegment[],
  deps: IngestDeps = ingestDeps(ctx),
): Promise<AudienceUploadRecord> {
  const audienceId = await declare(partnerId, segments);
  await ingestAudience(deps, OBJECT_KEYS.partnerDrop(partnerId, audienceId));
  return (await ctx.jobs.get('audience', partnerId, audienceId)) as AudienceUploadRecord;
}

/** Every member item key of a partner (Audiences table, member#{partner}#{keyId}#{key}). */
async function memberKeys(partnerId: string): Promise<{ keyId: string; key: string }[]> {
  const out: { keyId: string; key: string }[] = [];
  let start: Record<string, never> | undefined;
  do {
    const page = await awsClients().dynamodb.send(
      new ScanCommand({
        TableName: t.stack.env.AUDIENCES_TABLE,
        ProjectionExpression: 'pk',
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of page.Items ?? []) {
      const [kind, partner, keyId, key] = (item.pk?.S ?? '').split('#');
      if (kind === 'member' && partner === partnerId && keyId && key) out.push({ keyId, key });
    }
    start = page.LastEvaluatedKey as Record<string, never> | undefined;
  } while (start);
  return out;
}

/** Every member item of a partner as stored, people and tokens in a fixed order. */
async function items(partnerId: string) {
  const keys = await memberKeys(partnerId);
  const out: Record<string, unknown> = {};
  for (const keyId of new Set(keys.map((k) => k.keyId))) {
    const records = await ctx.audiences.readMembers(
      partnerId,
      keyId,
      keys.filter((k) => k.keyId === keyId).map((k) => k.key),
    );
    for (const [key, r] of records)
      out[key] = {
        kind: r.kind,
        links: [...(r.links ?? [])].sort(),
        people: r.people
          .map((p) => ({ person: p.person, tokens: [...p.tokens].sort() }))
          .sort((x, y) => x.person.localeCompare(y.person)),
      };
  }
  return out;
}

/** What a match reads of a partner: its catalog and, per member item, each person's current tokens. */
async function matchView(partnerId: string) {
  const catalog = (await ctx.audiences.readCatalog(partnerId)) as PartnerCatalog;
  const current = new Set(currentTokens(catalog.segments));
  const readable: Record<string, string[]> = {};
  for (const [key, item] of Object.entries(
    (await items(partnerId)) as Record<string, { people: { person: string; tokens: string[] }[] }>,
  )) {
    const seen = item.people.flatMap((p) =>
      p.tokens.filter((tk) => current.has(tk)).map((tk) => `${p.person}:${tk}`),
    );
    if (seen.length > 0) readable[key] = seen;
  }
  return { catalog, readable };
}

/** Objects under a prefix of the results bucket, with their contents. */
const results = (prefix: string) => objectsUnder(ctx.objects, ctx.buckets.results, prefix);

/** Everything an ingest of a partner has written: items, work files, manifests, filters. */
async function written(partnerId: string, job?: IngestJob) {
  return {
    items: await items(partnerId),
    work: job ? await results(OBJECT_KEYS.ingestWork(job.partnerId, job.audienceId)) : {},
    manifests: await results(`manifests/${partnerId}/`),
    filters: await results(`filters/${partnerId}/`),
  };
}

/** The embedded stack's own map (worker threads). */
const workerMap = (): IngestMap => {
  const map = ctx.ingestRunner?.map;
  if (!map) throw new Error('the embedded stack has no ingest runner');
  return map.bind(ctx.ingestRunner);
};

describe('a failed shard fails the ingest without touching the live versions', () => {
  it.each([
    ['split', 0],
    ['people', 0],
    ['identifiers', 9],
  ] as const)(
    'a %s item (%i) that fails: ingest-failed, live catalog and readable items unchanged, its files gone',
    async (failStep, failItem) => {
      const partnerId = `fail-${failStep}`;
      expect((await ingest(partnerId, OLD)).status).toBe('SUCCEEDED');
      const before = await matchView(partnerId);
      const manifestsBefore = await results(`manifests/${partnerId}/`);
      const filtersBefore = await results(`filters/${partnerId}/`);
      const real = workerMap();
      // Every other item of the map runs for real (member items get the new version's tokens), then
      // the map fails as a Distributed Map whose item failed every retry does.
      const failing: IngestMap = async (step, job, items) => {
        await real(
          step,
          job,
          items.filter((i) => !(step === failStep && i === failItem)),
        );
        if (step === failStep) throw new Error(`${step} item ${failItem} failed`);
      };
      const ended = await ingest(partnerId, NEW_A, { ...ingestDeps(ctx), mapIngest: failing });

      expect(ended).toMatchObject({ status: 'FAILED', errorCode: 'ingest-failed' });
      expect(ended.errorDetail).toMatch(/unchanged/);
      const after = await matchView(partnerId);
      expect(after.catalog).toEqual(before.catalog);
      expect(after.readable).toEqual(before.readable);
      // The work files, and the manifests and filter parts written for versions never made current.
      expect(
        await ctx.objects.list(ctx.buckets.results, OBJECT_KEYS.ingestWork(partnerId, ended.audienceId)),
      ).toEqual([]);
      expect(await results(`manifests/${partnerId}/`)).toEqual(manifestsBefore);
      expect(await results(`filters/${partnerId}/`)).toEqual(filtersBefore);
      expect(
        await ctx.objects.exists(
          ctx.buckets.partnerDrops,
          OBJECT_KEYS.partnerDrop(partnerId, ended.audienceId),
        ),
      ).toBe(false);
      expect(await ctx.audiences.readLock(partnerId)).toBeUndefined();

      // Uploaded again, it goes through: nothing was left half-way.
      const again = await ingest(partnerId, NEW_A);
      expect(again.status).toBe('SUCCEEDED');
      expect(again.report?.segments).toEqual([expect.objectContaining({ segmentId: 'a', members: 250 })]);
    },
    SLOW,
  );
});

describe('a retry is idempotent', () => {
  it(
    'every people unit, the gate and every identifier part run twice leave what they left once; finish retried after its flip publishes and flips once',
    async () => {
      const partnerId = 'retry-twice';
      expect((await ingest(partnerId, OLD)).status).toBe('SUCCEEDED');
      const publishes: string[] = [];
      // Noise on for this ingest: publishing its sizes charges the partner's catalog budget.
      const noisy = { ...ctx, settings: { ...ctx.settings, unsafeNoiseOffForTests: false } };
      const base = ingestDeps(noisy);
      let handedOff: (IngestJob & { ranges: number[] }) | undefined;
      const deps: IngestDeps = {
        ...base,
        publishSizes: (p, chargeId, counts) => {
          publishes.push(chargeId);
          return base.publishSizes(p, chargeId, counts);
        },
        // As in AWS: the ingest plans, then hands the rest to the state machine (here, this test).
        startIngest: async (job) => {
          handedOff = job;
        },
      };
      const audienceId = await declare(partnerId, NEW_A);
      expect(await ingestAudience(deps, OBJECT_KEYS.partnerDrop(partnerId, audienceId))).toBe('INGESTING');
      const job = handedOff as IngestJob & { ranges: number[] };
      expect(job).toMatchObject({ partnerId, audienceId, ranges: [0] });
      // Handed off with the lock held: the state machine's last step releases it.
      expect((await ctx.audiences.readLock(partnerId))?.owner).toMatch(new RegExp(`^${audienceId}-`));

      const twice = async (input: Parameters<typeof runIngestStep>[1]) => {
        const first = await runIngestStep(deps, input);
        const once = await written(partnerId, job);
        const second = await runIngestStep(deps, input);
        expect(second).toEqual(first);
        expect(await written(partnerId, job)).toEqual(once);
        return first;
      };
      for (const r of job.ranges) await twice({ ...job, step: 'split', item: r });
      const joined = await twice({ ...job, step: 'join' });
      expect(joined.units?.length).toBeGreaterThan(0);
      for (const unit of joined.units ?? []) await twice({ ...job, step: 'people', item: unit });
      const gate = await twice({ ...job, step: 'gate' });
      expect(gate).toEqual({ done: false, parts: range(0, 16) });
      for (const part of gate.parts ?? []) await twice({ ...job, step: 'identifiers', item: part });
      const live = await ctx.audiences.readCatalog(partnerId);

      // finish dies after its flip, before the ingest's outcome is written; the state machine retries it.
      let dying = true;
      const jobs: IngestDeps['jobs'] = Object.create(deps.jobs);
      jobs.update = async (...args: Parameters<IngestDeps['jobs']['update']>) => {
        if (dying && args[3]?.status === 'SUCCEEDED') {
          dying = false;
          throw new Error('the finish invocation died');
        }
        return deps.jobs.update(...args);
      };
      const dies: IngestDeps = { ...deps, jobs };
      await expect(runIngestStep(dies, { ...job, step: 'finish' })).rejects.toThrow('died');
      const flipped = (await ctx.audiences.readCatalog(partnerId)) as PartnerCatalog;
      expect(flipped.revision).toBe((live?.revision ?? 0) + 1);
      expect(flipped.filter?.id).toBe(audienceId);
      expect(await runIngestStep(deps, { ...job, step: 'finish' })).toEqual({ done: true });

      expect(await ctx.audiences.readCatalog(partnerId)).toEqual(flipped);
      expect(publishes).toEqual([audienceId]);
      const charges = (await ctx.ledger.auditTrail(partnerId)).filter(
        (e) => e.event === 'catalog-published' && e.matchId === audienceId,
      );
      expect(charges).toHaveLength(1);
      const ended = (await ctx.jobs.get('audience', partnerId, audienceId)) as AudienceUploadRecord;
      expect(ended.status).toBe('SUCCEEDED');
      expect(ended.report).toMatchObject({ accepted: 250, segments: [{ segmentId: 'a', members: 250 }] });
      expect(
        await ctx.objects.list(ctx.buckets.results, OBJECT_KEYS.ingestWork(partnerId, audienceId)),
      ).toEqual([]);
      expect(await ctx.audiences.readLock(partnerId)).toBeUndefined();
    },
    SLOW,
  );

  it(
    'worker threads give exactly what one step after another gives',
    async () => {
      // Two partners, one clock: the same versions, so the same tokens, manifests and filters.
      const at = (ms: number) => () => new Date(ms);
      const t0 = Date.now() - 60_000;
      const run = async (partnerId: string, mapIngest?: IngestMap) => {
        const deps = (now: () => Date): IngestDeps => {
          const d: IngestDeps = { ...ingestDeps(ctx), now };
          if (mapIngest) d.mapIngest = mapIngest;
          else delete d.mapIngest;
          return d;
        };
        const seeded = await ingest(partnerId, OLD, deps(at(t0)));
        expect(seeded.status).toBe('SUCCEEDED');
        const ended = await ingest(
          partnerId,
          [...NEW_A, { segmentId: 'c', name: 'C', people: range(280, 40) }],
          deps(at(t0 + 1_000)),
        );
        expect(ended.status).toBe('SUCCEEDED');
        const { catalog } = await matchView(partnerId);
        // Partner and audience ids (in object keys, filter ids) aside, everything is equal.
        return JSON.parse(
          JSON.stringify({ report: ended.report, catalog, ...(await written(partnerId)) })
            .replaceAll(partnerId, 'P')
            .replaceAll(seeded.audienceId, 'A0')
            .replaceAll(ended.audienceId, 'A1'),
        );
      };
      const parallel = await run('same-parallel', workerMap());
      const sequential = await run('same-sequential');
      expect(Object.keys(parallel.items).length).toBeGreaterThan(500);
      // The new filter's 16 parts, and the replaced one's (swept after the grace period).
      expect(Object.keys(parallel.filters)).toHaveLength(32);
      expect(parallel.items).toEqual(sequential.items);
      expect(parallel.manifests).toEqual(sequential.manifests);
      expect(parallel.filters).toEqual(sequential.filters);
      expect(parallel.report).toEqual(sequential.report);
      expect(parallel.catalog).toEqual(sequential.catalog);
    },
    SLOW,
  );
});

describe('a match during an ingest sees the old or the new versions, never a mix', () => {
  it(
    'half-way through the identifier parts a match sees the old versions whole; after, the new ones',
    async () => {
      const partnerId = 'flip-partner';
      expect((await ingest(partnerId, OLD)).status).toBe('SUCCEEDED');
      const advertiser = t.client('flip-advertiser', 'advertiser');
      // People 0..399: 300 in a and none of b before; 250 in a after.
      const list = { text: `${range(0, 400).map(personEmail).join('\n')}\n` };
      const match = async () => {
        const { match: m } = await runMatch(advertiser, { partnerId, list, quiet: true });
        expect(m.status).toBe('SUCCEEDED');
        return bySegment(m);
      };
      const real = workerMap();
      let during: Awaited<ReturnType<typeof match>> | undefined;
      const pausing: IngestMap = async (step, job, items) => {
        if (step !== 'identifiers') return real(step, job, items);
        const half = Math.floor(items.length / 2);
        await real(step, job, items.slice(0, half));
        // Half of the member items now carry the new version's tokens: a reader must ignore them.
        during = await match();
        await real(step, job, items.slice(half));
      };
      const ended = await ingest(partnerId, NEW_A, { ...ingestDeps(ctx), mapIngest: pausing });
      expect(ended.status).toBe('SUCCEEDED');
      expect(during?.a).toMatchObject({ matched: 300 });
      expect(during?.b).toMatchObject({ matched: null });
      const after = await match();
      expect(after.a).toMatchObject({ matched: 250 });
      expect(after.b).toMatchObject({ matched: null });
    },
    SLOW,
  );
});

describe('recovery judges an ingest run by the state machine', () => {
  it(
    'alive while its steps keep its record fresh; once they stop, FAILED interrupted with its files and lock gone, and a late step changes nothing',
    async () => {
      const partnerId = 'handed-off';
      expect((await ingest(partnerId, OLD)).status).toBe('SUCCEEDED');
      const before = await matchView(partnerId);
      let handedOff: (IngestJob & { ranges: number[] }) | undefined;
      const deps: IngestDeps = {
        ...ingestDeps(ctx),
        startIngest: async (job) => {
          handedOff = job;
        },
      };
      const audienceId = await declare(partnerId, NEW_A);
      expect(await ingestAudience(deps, OBJECT_KEYS.partnerDrop(partnerId, audienceId))).toBe('INGESTING');
      const job = handedOff as IngestJob & { ranges: number[] };
      for (const r of job.ranges) await runIngestStep(deps, { ...job, step: 'split', item: r });
      const { units } = await runIngestStep(deps, { ...job, step: 'join' });
      for (const unit of units ?? []) await runIngestStep(deps, { ...job, step: 'people', item: unit });
      const work = OBJECT_KEYS.ingestWork(partnerId, audienceId);
      const later = (seconds: number) => ({ ...ctx, now: () => new Date(Date.now() + seconds * 1000) });

      // As in AWS (no instance): judged by the time since its last step ended.
      await recoverJobs(later(LIVENESS_BOUNDS_SECONDS.ingesting - 60));
      expect(await ctx.jobs.get('audience', partnerId, audienceId)).toMatchObject({ status: 'INGESTING' });
      expect(await ctx.objects.list(ctx.buckets.results, work)).not.toEqual([]);
      expect((await ctx.audiences.readLock(partnerId))?.owner).toMatch(new RegExp(`^${audienceId}-`));

      await recoverJobs(later(LIVENESS_BOUNDS_SECONDS.ingesting + 60));
      expect(await ctx.jobs.get('audience', partnerId, audienceId)).toMatchObject({
        status: 'FAILED',
        errorCode: 'interrupted',
      });
      expect(await ctx.objects.list(ctx.buckets.results, work)).toEqual([]);
      expect(await ctx.audiences.readLock(partnerId)).toBeUndefined();

      // The execution wakes up: its step finds nothing to work on, its Catch's fail step changes nothing.
      await expect(runIngestStep(deps, { ...job, step: 'gate' })).rejects.toThrow();
      await runIngestStep(deps, { ...job, step: 'fail', error: { Error: 'Error', Cause: '{}' } });
      expect(await ctx.jobs.get('audience', partnerId, audienceId)).toMatchObject({
        status: 'FAILED',
        errorCode: 'interrupted',
      });
      expect(await matchView(partnerId)).toEqual(before);
    },
    SLOW,
  );

  it(
    "the fail step keeps a step's domain error code",
    async () => {
      const partnerId = 'fail-code';
      expect((await ingest(partnerId, OLD)).status).toBe('SUCCEEDED');
      let handedOff: (IngestJob & { ranges: number[] }) | undefined;
      const deps: IngestDeps = {
        ...ingestDeps(ctx),
        startIngest: async (job) => {
          handedOff = job;
        },
      };
      const audienceId = await declare(partnerId, NEW_A);
      await ingestAudience(deps, OBJECT_KEYS.partnerDrop(partnerId, audienceId));
      const job = handedOff as IngestJob & { ranges: number[] };
      // What Step Functions hands the Catch for a Lambda that threw a DomainError.
      const cause = JSON.stringify({
        errorType: 'DomainError',
        errorMessage: 'conflict: The catalog changed during the ingest; nothing was released. Upload again.',
      });
      expect(
        await runIngestStep(deps, { ...job, step: 'fail', error: { Error: 'DomainError', Cause: cause } }),
      ).toEqual({
        done: true,
      });
      expect(await ctx.jobs.get('audience', partnerId, audienceId)).toMatchObject({
        status: 'FAILED',
        errorCode: 'conflict',
        errorDetail: 'The catalog changed during the ingest; nothing was released. Upload again.',
      });
      expect(
        await ctx.objects.list(ctx.buckets.results, OBJECT_KEYS.ingestWork(partnerId, audienceId)),
      ).toEqual([]);
      expect(await ctx.audiences.readLock(partnerId)).toBeUndefined();
    },
    SLOW,
  );
});

describe('a long step keeps its partner lock', () => {
  it('renews it once a third of its lifetime has passed, and stops when another ingest holds it', async () => {
    const partnerId = 'p-lock-keeper';
    const base = ingestDeps(ctx);
    let renewals = 0;
    const deps: IngestDeps = {
      ...base,
      lockTtlSeconds: 900,
      audiences: Object.assign(Object.create(base.audiences), {
        acquireLock: (partner: string, owner: string, ttl: number) => {
          renewals++;
          return base.audiences.acquireLock(partner, owner, ttl);
        },
      }),
    };
    const plan = { partnerId, audienceId: 'a-lock', owner: 'ingest:a-lock:1' } as IngestPlan;
    let now = 0;
    const keeper = await lockKeeper(deps, plan, () => now);
    expect(renewals).toBe(1);
    expect((await ctx.audiences.readLock(partnerId))?.owner).toBe(plan.owner);
    now += 299_000;
    await keeper.keep();
    expect(renewals).toBe(1);
    now += 2_000;
    await keeper.keep();
    expect(renewals).toBe(2);
    const renewed = (await ctx.audiences.readLock(partnerId))?.expiresAt ?? 0;
    expect(renewed).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 899);
    // The lock lapsed and another ingest took it: the step stops rather than write beside it.
    await ctx.audiences.releaseLock(partnerId, plan.owner);
    expect(await ctx.audiences.acquireLock(partnerId, 'ingest:other:1', 900)).toBe(true);
    now += 301_000;
    await expect(keeper.keep()).rejects.toMatchObject({ code: 'conflict' });
    expect((await ctx.audiences.readLock(partnerId))?.owner).toBe('ingest:other:1');
    await ctx.audiences.releaseLock(partnerId, 'ingest:other:1');
  });
});
