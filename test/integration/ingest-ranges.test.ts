/**
 * A members file of any size, split by byte ranges (issue #9): the drop is cut at line starts and
 * each range split by its own worker, then joined. On the embedded stack's real stores and worker
 * threads, through the ingest's own seams (IngestDeps.splitRangeBytes cuts a small file into many
 * ranges, as a large one is cut in production):
 *
 * - a file cut into many ranges gives exactly what it gives read whole: the report (rows read,
 *   rejections by rule with their row numbers in the file), member items, manifests, filters and
 *   catalog; with CRLF line ends, a byte order mark, blank lines and rejections across the cuts;
 * - a file-level error (a quoted line break) is told at its line in the file, wherever the cuts fall;
 * - the row limit counts the whole file;
 * - a drop replaced while its ranges are read fails the ingest instead of mixing two files.
 *
 * Drops are put in the results bucket (startIngestStack), so no S3 event races the test's own
 * ingest.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AudienceUploadRecord } from '../../shared/domain/jobs.ts';
import { OBJECT_KEYS } from '../../shared/infra/definitions.ts';
import type { UseCaseContext } from '../../shared/use-cases/context.ts';
import {
  type IngestDeps,
  type IngestJob,
  type IngestMap,
  ingestAudience,
  runIngestStep,
} from '../../shared/use-cases/ingest-audience.ts';
import { ingestDeps } from '../../shared/use-cases/partners.ts';
import { http, memberHash, objectsUnder, startIngestStack, type TestStack } from './helpers.ts';

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

const phoneHash = (n: number) =>
  createHash('sha256')
    .update(`+1555${String(n).padStart(7, '0')}`)
    .digest('hex');

/**
 * 700 data lines: people in a and b (some with a phone, some in both), and between them the rows a
 * partner's file gets wrong: bad hashes (more than a report names), unknown and missing segments,
 * blank lines, duplicates.
 */
function messyFile(lineEnd: '\n' | '\r\n'): { text: string; rows: number } {
  const lines = ['email_sha256,phone_sha256,segment_id'];
  for (let i = 0; i < 700; i++) {
    const n = i % 500;
    if (i % 23 === 5) lines.push(`not-a-hash-${i},,a`);
    else if (i % 41 === 7) lines.push(`${memberHash(n)},,zz`);
    else if (i % 53 === 9) lines.push(`${memberHash(n)},${phoneHash(n)},`);
    else if (i % 67 === 11) lines.push('');
    else lines.push(`${memberHash(n)},${n % 3 === 0 ? phoneHash(n) : ''},${n % 4 === 0 ? 'b' : 'a'}`);
  }
  return { text: `\ufeff${lines.join(lineEnd)}${lineEnd}`, rows: 700 };
}

/** Declares an upload of segments a and b and puts its drop where no trigger sees it. */
async function declare(partnerId: string, text: string, maxRejectedShare = 0.5): Promise<string> {
  const created = await http(t, 'POST', `/v1/partners/${partnerId}/audiences`, {
    token: t.token(partnerId, 'partner'),
    body: {
      profile: 'google',
      maxRejectedShare,
      segments: [
        { segmentId: 'a', name: 'A' },
        { segmentId: 'b', name: 'B' },
      ],
    },
  });
  expect(created.status, created.text).toBe(201);
  const audienceId = created.json.audienceId as string;
  await ctx.objects.write(
    ctx.buckets.partnerDrops,
    OBJECT_KEYS.partnerDrop(partnerId, audienceId),
    text,
    'text/csv',
  );
  return audienceId;
}

/** The embedded stack's own map (worker threads), counting the split's ranges. */
function countingMap(): { map: IngestMap; ranges: () => number } {
  const run = ctx.ingestRunner?.map;
  if (!run) throw new Error('the embedded stack has no ingest runner');
  let ranges = 0;
  return {
    map: (step, job, items) => {
      if (step === 'split') ranges = items.length;
      return run.call(ctx.ingestRunner, step, job, items);
    },
    ranges: () => ranges,
  };
}

async function ingest(
  partnerId: string,
  text: string,
  deps: Partial<IngestDeps> = {},
): Promise<AudienceUploadRecord> {
  const audienceId = await declare(partnerId, text);
  await ingestAudience({ ...ingestDeps(ctx), ...deps }, OBJECT_KEYS.partnerDrop(partnerId, audienceId));
  return (await ctx.jobs.get('audience', partnerId, audienceId)) as AudienceUploadRecord;
}

/** Objects under a prefix of the results bucket, with their contents. */
const results = (prefix: string) => objectsUnder(ctx.objects, ctx.buckets.results, prefix);

/** What an ingest left of a partner, ids replaced so two partners compare. */
async function outcome(partnerId: string, ended: AudienceUploadRecord) {
  const catalog = await ctx.audiences.readCatalog(partnerId);
  const manifests = await results(`manifests/${partnerId}/`);
  const filters = await results(`filters/${partnerId}/`);
  const keys = Object.keys(manifests).length
    ? [...new Set(Object.values(manifests).flatMap((m) => Buffer.from(m, 'base64').toString().split('\n')))]
    : [];
  const items = await ctx.audiences.readMembers(partnerId, catalog?.keyId ?? '', keys.filter(Boolean));
  const view = {
    status: ended.status,
    errorCode: ended.errorCode,
    errorDetail: ended.errorDetail,
    report: ended.report,
    catalog,
    manifests,
    filters,
    items: [...items].sort(([a], [b]) => a.localeCompare(b)),
  };
  return JSON.parse(
    JSON.stringify(view).replaceAll(partnerId, 'P').replaceAll(ended.audienceId, 'A'),
  ) as typeof view;
}

describe('a file cut into byte ranges gives what it gives read whole', () => {
  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ] as const)(
    '%s line ends: the same report (row numbers in the file), items, manifests, filters and catalog',
    async (name, lineEnd) => {
      const { text, rows } = messyFile(lineEnd);
      const now = () => new Date(Date.parse('2026-11-30T12:00:00Z'));
      const whole = countingMap();
      const cut = countingMap();
      const a = await ingest(`whole-${name}`, text, { now, mapIngest: whole.map });
      const b = await ingest(`cut-${name}`, text, { now, mapIngest: cut.map, splitRangeBytes: 1 });
      expect(whole.ranges()).toBe(1);
      // Nearly as many ranges as a file may have (MAX_RANGES, 64): cuts between all kinds of rows.
      expect(cut.ranges()).toBeGreaterThan(32);

      expect(a.status).toBe('SUCCEEDED');
      expect(a.report?.rowsRead).toBe(rows);
      // More bad hashes than a report names: the first 20, in file order, across the cuts.
      const badHash = a.report?.rejectedByRule['invalid-hash'];
      expect(badHash?.count).toBeGreaterThan(20);
      expect(badHash?.rows).toEqual(
        Array.from({ length: 700 }, (_, i) => i)
          .filter((i) => i % 23 === 5)
          .slice(0, 20)
          .map((i) => i + 1),
      );
      expect(Object.keys(a.report?.rejectedByRule ?? {}).sort()).toEqual(
        ['empty', 'invalid-hash', 'missing-segment', 'unknown-segment'].sort(),
      );
      const [left, right] = [await outcome(`whole-${name}`, a), await outcome(`cut-${name}`, b)];
      expect(left.items.length).toBeGreaterThan(400);
      expect(right).toEqual(left);
      // The drop and the ranges' objects are gone.
      expect(
        await ctx.objects.list(ctx.buckets.results, OBJECT_KEYS.ingestWork(`cut-${name}`, b.audienceId)),
      ).toEqual([]);
      expect(
        await ctx.objects.exists(
          ctx.buckets.partnerDrops,
          OBJECT_KEYS.partnerDrop(`cut-${name}`, b.audienceId),
        ),
      ).toBe(false);
    },
    SLOW,
  );
});

describe('errors of the whole file, wherever the cuts fall', () => {
  it(
    'a quoted line break is refused at its line in the file, the drop and work files gone',
    async () => {
      const lines = messyFile('\n').text.split('\n');
      // Data line 500 (file line 501) opens a quote that spans a line break.
      lines[500] = `"${memberHash(1)}\n",,a`;
      const text = lines.join('\n');
      const a = await ingest('quote-whole', text);
      const b = await ingest('quote-cut', text, { splitRangeBytes: 1 });
      for (const ended of [a, b]) {
        expect(ended).toMatchObject({ status: 'FAILED', errorCode: 'invalid-input' });
        expect(ended.errorDetail).toContain('line 501 holds a line break');
      }
      expect(b.errorDetail).toBe(a.errorDetail);
      expect(
        await ctx.objects.list(ctx.buckets.results, OBJECT_KEYS.ingestWork('quote-cut', b.audienceId)),
      ).toEqual([]);
      expect(
        await ctx.objects.exists(
          ctx.buckets.partnerDrops,
          OBJECT_KEYS.partnerDrop('quote-cut', b.audienceId),
        ),
      ).toBe(false);
      expect(await ctx.audiences.readCatalog('quote-cut')).toBeUndefined();
      expect(await ctx.audiences.readLock('quote-cut')).toBeUndefined();
    },
    SLOW,
  );

  it(
    'the row limit counts the rows of every range',
    async () => {
      const { text } = messyFile('\n');
      const ended = await ingest('too-many', text, { splitRangeBytes: 1, maxRows: 699 });
      expect(ended).toMatchObject({ status: 'FAILED', errorCode: 'invalid-input' });
      expect(ended.errorDetail).toMatch(/700 rows, more than the 699/);
      expect(await ctx.audiences.readCatalog('too-many')).toBeUndefined();
    },
    SLOW,
  );

  it(
    'a drop replaced while its ranges are read fails the ingest (conflict) instead of mixing two files',
    async () => {
      const partnerId = 'replaced';
      const { text } = messyFile('\n');
      let handedOff: (IngestJob & { ranges: number[] }) | undefined;
      const deps: IngestDeps = {
        ...ingestDeps(ctx),
        splitRangeBytes: 1,
        startIngest: async (job) => {
          handedOff = job;
        },
      };
      const audienceId = await declare(partnerId, text);
      const drop = OBJECT_KEYS.partnerDrop(partnerId, audienceId);
      expect(await ingestAudience(deps, drop)).toBe('INGESTING');
      const job = handedOff as IngestJob & { ranges: number[] };
      await runIngestStep(deps, { ...job, step: 'split', item: 0 });
      // The partner PUTs another file to the same URL while the split runs.
      await ctx.objects.write(ctx.buckets.partnerDrops, drop, text.replaceAll(',b', ',a'), 'text/csv');
      await expect(runIngestStep(deps, { ...job, step: 'split', item: 1 })).rejects.toThrow(
        /replaced while it was being ingested/,
      );
      // A second event for the drop while its ingest runs is left to that ingest.
      expect(await ingestAudience(deps, drop)).toBe('ignored');
      // The state machine's Catch: the ingest fails with the step's code, the drop is gone.
      const cause = JSON.stringify({
        errorType: 'DomainError',
        errorMessage:
          'conflict: The members file was replaced while it was being ingested; nothing was released. Upload it again.',
      });
      await runIngestStep(deps, { ...job, step: 'fail', error: { Error: 'DomainError', Cause: cause } });
      expect(await ctx.jobs.get('audience', partnerId, audienceId)).toMatchObject({
        status: 'FAILED',
        errorCode: 'conflict',
      });
      expect(await ctx.objects.exists(ctx.buckets.partnerDrops, drop)).toBe(false);
      expect(await ctx.audiences.readLock(partnerId)).toBeUndefined();
    },
    SLOW,
  );
});
