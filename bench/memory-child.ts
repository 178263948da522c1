/**
 * The memory-10m bench's child process: runs the real match pipeline steps on a hashed list file,
 * alone in its process, and prints one JSON line with its peak RSS (VmHWM: see peakRssMb)
 * and the phase timings.
 *
 *   node --import tsx bench/memory-child.ts --root DIR --members N [--shards 16] [--split-only]
 *
 * The steps are the product's own: `splitMatch` (openList with the hash classifier, the list
 * summary, shardOf, shard files) and `matchOneShard` (shardBlocks, matchShard with the node HMAC
 * keyer) from shared/use-cases/match-pipeline.ts, then `reduceTallies`. Their context is minimal:
 * S3 is replaced by a file-backed ObjectStore under DIR (streams in, streams out: no buffering
 * beyond the stream's), the job store by an in-memory stub, and the partner's audiences by a
 * MemoryAudienceStore of N members (built first; its RSS is reported apart). In AWS the split and
 * each shard are separate Lambdas and the audiences are in DynamoDB, so this one process holding all
 * three is an upper bound of each one's footprint.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MemoryAudienceStore } from '../shared/adapters/memory/memory-audience-store.ts';
import { hmacKeyer } from '../shared/adapters/pepper.ts';
import type { ListRecord, MatchRecord } from '../shared/domain/jobs.ts';
import { reduceShards, type ShardTally } from '../shared/domain/matching/match-shard.ts';
import { type ByteRange, ObjectChanged, type ObjectStat, type ObjectStore } from '../shared/domain/ports.ts';
import type { UseCaseContext } from '../shared/use-cases/context.ts';
import { matchOneShard, splitMatch } from '../shared/use-cases/match-pipeline.ts';
import { peakRssMb } from './bench-row.ts';
import { BENCH_PEPPER } from './match-memory.ts';
import { labelDigest, membersBySegment, partnerMemberships, segmentIdOf } from './synthetic.ts';

export const TENANT = 'bench-tenant';
export const LIST_ID = 'bench-list';
export const MATCH_ID = 'bench-match';
export const BUCKETS = { uploads: 'uploads', partnerDrops: 'partner-drops', results: 'results' };
export const SEGMENTS = 50;
export const PARTNER_SEED = 77;
/** The label of partner member i (the parent writes member digests into the list by the same label). */
export const memberLabel = (i: number) => `member:${i}`;

/** An ObjectStore on local files: bucket/key -> root/bucket/key. */
export class FileObjectStore implements ObjectStore {
  constructor(private readonly root: string) {}
  path(bucket: string, key: string): string {
    return join(this.root, bucket, key);
  }
  async *read(bucket: string, key: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    if (range && range.end <= range.start) return;
    if (range?.etag && (await this.stat(bucket, key))?.etag !== range.etag) throw new ObjectChanged(key);
    const bounds = range ? { start: range.start, end: range.end - 1 } : {};
    for await (const chunk of createReadStream(this.path(bucket, key), bounds)) yield chunk as Uint8Array;
  }
  async stat(bucket: string, key: string): Promise<ObjectStat | undefined> {
    try {
      const s = await stat(this.path(bucket, key));
      return { size: s.size, etag: `${s.mtimeMs}-${s.size}` };
    } catch {
      return undefined;
    }
  }
  async readText(bucket: string, key: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(bucket, key), 'utf8');
    } catch {
      return undefined;
    }
  }
  async write(
    bucket: string,
    key: string,
    body: string | Uint8Array | AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const file = this.path(bucket, key);
    await mkdir(dirname(file), { recursive: true });
    if (typeof body === 'string' || body instanceof Uint8Array) await writeFile(file, body);
    else await pipeline(Readable.from(body), createWriteStream(file));
  }
  async delete(bucket: string, key: string): Promise<void> {
    await rm(this.path(bucket, key), { force: true });
  }
  async exists(bucket: string, key: string): Promise<boolean> {
    return (await this.readText(bucket, key)) !== undefined;
  }
  async list(bucket: string, prefix: string): Promise<string[]> {
    const dir = dirname(this.path(bucket, `${prefix}x`));
    try {
      const base = prefix.slice(0, prefix.lastIndexOf('/') + 1);
      return (await readdir(dir))
        .map((f) => base + f)
        .filter((k) => k.startsWith(prefix))
        .sort();
    } catch {
      return [];
    }
  }
  presignPut(): Promise<string> {
    throw new Error('not in the bench');
  }
  presignGet(): Promise<string> {
    throw new Error('not in the bench');
  }
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const cpuSince = (before: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
};
const rssMb = () => mb(process.memoryUsage().rss);

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`memory-child: --${name} is required`);
  return v;
}

async function main(): Promise<void> {
  const root = arg('root');
  const members = Number(arg('members', '0'));
  const shardCount = Number(arg('shards', '16'));
  const splitOnly = process.argv.includes('--split-only');
  const t0 = performance.now();

  // 1. The partner (not part of the pipeline's own footprint: DynamoDB in AWS).
  const keyer = hmacKeyer(BENCH_PEPPER);
  const store = new MemoryAudienceStore();
  if (!splitOnly && members > 0) {
    const partner = partnerMemberships(members, SEGMENTS, PARTNER_SEED);
    const keys = new Array<string>(members);
    for (let i = 0; i < members; i++) keys[i] = keyer.key(labelDigest(memberLabel(i)));
    membersBySegment(partner, SEGMENTS).forEach((ms, s) => {
      const id = segmentIdOf(s);
      store.putSegment(
        'bench-partner',
        { segmentId: id, name: id, description: 'synthetic' },
        ms.map((m) => keys[m] as string),
      );
    });
  }
  const snapshot = store.snapshotNow('bench-partner');
  const storeSeconds = (performance.now() - t0) / 1000;
  const afterStore = {
    rssMb: rssMb(),
    maxRssMb: peakRssMb(),
    heapUsedMb: mb(process.memoryUsage().heapUsed),
  };

  // 2. A minimal context around the real use cases.
  const now = new Date().toISOString();
  let match: MatchRecord = {
    kind: 'match',
    tenantId: TENANT,
    matchId: MATCH_ID,
    listId: LIST_ID,
    partnerId: 'bench-partner',
    minSegmentSize: 50,
    status: 'QUEUED',
    progress: { phase: 'queued', shardsDone: 0, shardsTotal: 0 },
    ...(snapshot ? { snapshot } : {}),
    createdAt: now,
    updatedAt: now,
  };
  // A hashed list of one email digest (hex) a line, as `onboard match` uploads one.
  const list: ListRecord = {
    kind: 'list',
    tenantId: TENANT,
    listId: LIST_ID,
    status: 'READY',
    format: 'hashed',
    profile: 'basic',
    identifierKind: 'email',
    encoding: 'hex',
    createdAt: now,
    updatedAt: now,
  };
  const objects = new FileObjectStore(root);
  const quiet = () => {};
  const ctx = {
    buckets: BUCKETS,
    objects,
    audiences: store,
    shardCount,
    keyer: async () => keyer,
    stableKeyer: async () => keyer,
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    now: () => new Date(),
    jobs: {
      get: async (kind: string) => (kind === 'match' ? match : list),
      update: async (_kind: string, _t: string, _id: string, patch: Partial<MatchRecord>) => {
        match = { ...match, ...patch };
        return true;
      },
      shardDone: async () => {},
    },
  } as unknown as UseCaseContext;
  const job = { tenantId: TENANT, matchId: MATCH_ID };

  // 3. Split.
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  const { shards } = await splitMatch(ctx, job);
  const splitSeconds = (performance.now() - t1) / 1000;
  const splitCpuSeconds = cpuSince(cpu1);
  const afterSplit = { rssMb: rssMb(), maxRssMb: peakRssMb() };
  const summary = match.summary;

  // 4. Shards, one after another (each is its own Lambda in AWS).
  let matchSeconds = 0;
  let matchCpuSeconds = 0;
  let tally: ShardTally | undefined;
  const shardMaxRss: number[] = [];
  if (!splitOnly) {
    const t2 = performance.now();
    const cpu2 = process.cpuUsage();
    for (const shard of shards) {
      await matchOneShard(ctx, { ...job, shard });
      shardMaxRss.push(peakRssMb());
    }
    matchSeconds = (performance.now() - t2) / 1000;
    matchCpuSeconds = cpuSince(cpu2);
    const tallies: (ShardTally & { key: string })[] = [];
    for (const key of await objects.list(BUCKETS.results, `tallies/${MATCH_ID}/`)) {
      if (!key.endsWith('.json')) continue;
      tallies.push({
        ...(JSON.parse((await objects.readText(BUCKETS.results, key)) ?? '{}') as ShardTally),
        key,
      });
    }
    tally = await reduceShards(
      tallies.map((t) => ({
        distinct: t.distinct,
        listByKind: t.listByKind,
        run: objects.read(BUCKETS.results, t.key.replace(/\.json$/, '.run')),
      })),
      snapshot as NonNullable<typeof snapshot>,
    );
  }
  const cpu = process.cpuUsage();
  process.stdout.write(
    `${JSON.stringify({
      splitOnly,
      shards: shards.length,
      storeSeconds,
      splitSeconds,
      splitCpuSeconds,
      matchSeconds,
      matchCpuSeconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      afterStore,
      afterSplit,
      shardMaxRss,
      maxRssMb: peakRssMb(),
      summary,
      tally: tally
        ? {
            distinct: tally.distinct,
            matched: tally.matched,
            segments: Object.keys(tally.perSegment).length,
            maxSegmentsPerPerson: tally.maxSegmentsPerPerson,
          }
        : null,
    })}\n`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`memory-child failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
