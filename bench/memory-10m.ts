/**
 * Memory (bar: "a 10 million row list matched with peak RSS under 512 MB").
 *
 * Writes a hashed list (one 64-hex hash per line; ~10 % duplicate rows, ~5 % partner members,
 * ~0.1 % invalid lines) to a temp file, then runs the real split and shard steps on it in a child
 * process (bench/memory-child.ts) whose own peak RSS is the measure. Two children:
 * - `full`: partner store (1M members in memory) + splitMatch + matchOneShard x16 + reduceTallies:
 *   the bar applies to its peak;
 * - `split only`: splitMatch alone (what the match-split Lambda holds), for the breakdown.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OBJECT_KEYS } from '../shared/infra/definitions.ts';
import { runBenchChild } from './child-run.ts';
import { BUCKETS, LIST_ID, memberLabel, TENANT } from './memory-child.ts';
import { labelDigestHex, prng } from './synthetic.ts';
import { type BenchOutput, check, human, type ReportRow, round } from './table.ts';

export const PEAK_RSS_BAR_MB = 512;

export interface MemoryMeasurements {
  rows: number;
  /** CPU seconds of the split step, per million rows. */
  splitSecondsPerMillionRows: number;
  /** CPU seconds of matching with the in-memory store (no DynamoDB waits), per million rows. */
  matchSecondsPerMillionRows: number;
  shardBytesPerMillionRows: number;
}

/** Writes the list; returns its size in bytes. */
export function writeHashedList(file: string, rows: number, members: number, seed = 5): number {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  const rnd = prng(seed);
  const recent: string[] = [];
  let buf = '';
  let bytes = 0;
  try {
    for (let i = 0; i < rows; i++) {
      const u = rnd();
      let line: string;
      if (u < 0.1 && recent.length > 0) line = recent[Math.floor(rnd() * recent.length)] as string;
      else if (u < 0.15) line = labelDigestHex(memberLabel(Math.floor(rnd() * members)));
      else if (u > 0.999) line = u > 0.9995 ? '' : 'not-a-hash';
      else line = labelDigestHex(`list:${i}`);
      if (line.length === 64) {
        if (recent.length < 4096) recent.push(line);
        else recent[i & 4095] = line;
      }
      buf += `${line}\n`;
      if (buf.length >= 1 << 20) {
        bytes += writeSync(fd, buf);
        buf = '';
      }
    }
    if (buf) bytes += writeSync(fd, buf);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

interface ChildResult {
  splitOnly: boolean;
  shards: number;
  storeSeconds: number;
  splitSeconds: number;
  splitCpuSeconds: number;
  matchSeconds: number;
  matchCpuSeconds: number;
  cpuSeconds: number;
  afterStore: { rssMb: number; maxRssMb: number; heapUsedMb: number };
  afterSplit: { rssMb: number; maxRssMb: number };
  shardMaxRss: number[];
  maxRssMb: number;
  summary?: { rows: number; valid: number; invalid: number; duplicates: number };
  tally: { distinct: number; matched: number; segments: number; maxSegmentsPerPerson: number } | null;
}

async function runChild(args: string[]): Promise<{ result: ChildResult; wallSeconds: number }> {
  const t0 = performance.now();
  const result = await runBenchChild<ChildResult>('memory-child.ts', args);
  return { result, wallSeconds: (performance.now() - t0) / 1000 };
}

export async function benchMemory10m(
  options: { quick?: boolean } = {},
): Promise<BenchOutput & { measurements?: MemoryMeasurements }> {
  const rows = options.quick ? 1_000_000 : 10_000_000;
  // The partner store stands in for DynamoDB inside the same process: kept small so the peak is the pipeline's.
  const members = options.quick ? 100_000 : 200_000;
  const root = await mkdtemp(join(tmpdir(), 'onboard-bench-mem-'));
  try {
    const listFile = join(root, BUCKETS.uploads, OBJECT_KEYS.hashedList(TENANT, LIST_ID));
    const tGen = performance.now();
    writeHashedList(listFile, rows, members);
    const genSeconds = (performance.now() - tGen) / 1000;

    const split = await runChild(['--root', root, '--split-only']);
    const full = await runChild(['--root', root, '--members', String(members)]);
    const r = full.result;
    const listMb = round((await stat(listFile)).size / 1024 / 1024, 1);
    const pipelineSeconds = r.splitSeconds + r.matchSeconds;
    const ok = r.maxRssMb < PEAK_RSS_BAR_MB;
    const measurements: MemoryMeasurements = {
      rows,
      splitSecondsPerMillionRows: round((r.splitCpuSeconds * 1e6) / rows, 3),
      matchSecondsPerMillionRows: round((r.matchCpuSeconds * 1e6) / rows, 3),
      shardBytesPerMillionRows: Math.round(((r.summary?.valid ?? rows) * 32 * 1e6) / rows),
    };
    const reportRows: ReportRow[] = [
      {
        name: `memory-10m: splitMatch + matchOneShard x${r.shards} + reduceTallies on a ${human(rows)}-row file (child process, in-memory partner of ${human(members)})`,
        rows,
        seconds: round(pipelineSeconds),
        rowsPerSecond: Math.round(rows / pipelineSeconds),
        ratioToBaseline: null,
        peakRssMb: r.maxRssMb,
        peakRssBarMb: PEAK_RSS_BAR_MB,
        listFileMb: listMb,
        listGenSecondsExcluded: round(genSeconds, 1),
        splitSeconds: round(r.splitSeconds, 2),
        splitCpuSeconds: round(r.splitCpuSeconds, 2),
        matchSeconds: round(r.matchSeconds, 2),
        matchCpuSeconds: round(r.matchCpuSeconds, 2),
        storeBuildSecondsExcluded: round(r.storeSeconds, 2),
        childWallSeconds: round(full.wallSeconds, 1),
        childCpuSeconds: round(r.cpuSeconds, 1),
        rssAfterStoreMb: r.afterStore.rssMb,
        maxRssAfterStoreMb: r.afterStore.maxRssMb,
        maxRssAfterSplitMb: r.afterSplit.maxRssMb,
        maxRssAfterFirstShardMb: r.shardMaxRss[0] ?? null,
        summary: r.summary
          ? { rows: r.summary.rows, valid: r.summary.valid, invalid: r.summary.invalid }
          : null,
        tally: r.tally,
      },
      {
        name: `memory-10m: splitMatch alone (match-split Lambda's work; child process)`,
        rows,
        seconds: round(split.result.splitSeconds),
        rowsPerSecond: Math.round(rows / split.result.splitSeconds),
        ratioToBaseline: null,
        peakRssMb: split.result.maxRssMb,
        baselineRssMb: split.result.afterStore.maxRssMb,
      },
    ];
    const checks = [
      check(
        'memory-10m',
        `peak RSS, ${human(rows)}-row list matched (split + 16 shards + in-memory partner, one process)`,
        `${r.maxRssMb} MB (store ${r.afterStore.maxRssMb}, after split ${r.afterSplit.maxRssMb})`,
        `< ${PEAK_RSS_BAR_MB} MB`,
        ok,
      ),
      check(
        'memory-10m',
        'peak RSS of the split step alone (match-split Lambda)',
        `${split.result.maxRssMb} MB (process at start ${split.result.afterStore.maxRssMb})`,
        `< ${PEAK_RSS_BAR_MB} MB`,
        split.result.maxRssMb < PEAK_RSS_BAR_MB,
      ),
    ];
    const notes = [
      `memory-10m: the child runs the real splitMatch and matchOneShard (shared/use-cases/match-pipeline.ts) with a file-backed ObjectStore instead of S3 (so no lib-storage part buffers: in AWS add up to 2 x 5 MiB per shard upload), a stub job store and a MemoryAudienceStore instead of DynamoDB; shards run one after another in the same process. List: ${human(rows)} rows, ${listMb} MB.`,
    ];
    return { rows: reportRows, checks, notes, measurements };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
