/**
 * Lambda bundle benchmark: bundles every handler with the house esbuild options, then measures
 * its size and its module load-and-init time in a fresh `node` process (bars: < 1 MB minified,
 * < 150 ms). Run by `npm run bench`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleHandler } from '../cdk/bundle.ts';
import { LAMBDA_HANDLERS, type LambdaHandlerName } from '../cdk/handlers.ts';
import type { BenchRow } from './bench-row.ts';

export const BUNDLE_BYTES_BAR = 1024 * 1024;
export const LOAD_AND_INIT_MS_BAR = 150;
const RUNS = 5;

export interface BundleReportRow {
  readonly name: LambdaHandlerName;
  readonly bytes: number;
  /** Median over fresh processes of `await import(bundle)`, module evaluation and init included. */
  readonly loadAndInitMs: number;
  /** RSS of the child process right after the import. */
  readonly rssMb: number;
  readonly withinBars: boolean;
}

/**
 * What a function sees at init in AWS, with dummy values; nothing here reaches the network.
 * NODE_OPTIONS is what the functions run with; BENCH_NODE_OPTIONS='' measures without source maps.
 */
const DUMMY_ENV: Record<string, string> = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCHBENCHBENCH0',
  AWS_SECRET_ACCESS_KEY: 'bench-secret-not-real',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  AUDIENCES_TABLE: 'bench-audiences',
  JOBS_TABLE: 'bench-jobs',
  LEDGER_TABLE: 'bench-ledger',
  UPLOADS_BUCKET: 'bench-uploads',
  PARTNER_DROPS_BUCKET: 'bench-partner-drops',
  RESULTS_BUCKET: 'bench-results',
  PEPPER_SECRET_ID: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:bench-pepper-AbCdEf',
  MATCH_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:bench',
  NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '--enable-source-maps',
};

// Prints the import time in ms and the RSS after it; the handler must be exported.
const CHILD = `
const t0 = performance.now();
const m = await import(process.argv[1]);
const ms = performance.now() - t0;
if (typeof m.handler !== 'function') throw new Error('no handler export');
process.stdout.write(JSON.stringify({ ms, rss: process.memoryUsage().rss }));
`;

function measureOnce(file: string): { ms: number; rss: number } {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, file], {
    env: { PATH: process.env.PATH ?? '', ...DUMMY_ENV },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return JSON.parse(out) as { ms: number; rss: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

export async function bundleReport(): Promise<BundleReportRow[]> {
  const outdir = mkdtempSync(join(tmpdir(), 'onboarding-bench-bundles-'));
  try {
    const rows: BundleReportRow[] = [];
    for (const name of LAMBDA_HANDLERS) {
      const bundle = await bundleHandler(name, outdir);
      const runs = Array.from({ length: RUNS }, () => measureOnce(bundle.file));
      const loadAndInitMs = Math.round(median(runs.map((r) => r.ms)) * 10) / 10;
      const rssMb = Math.round((median(runs.map((r) => r.rss)) / 1024 / 1024) * 10) / 10;
      rows.push({
        name,
        bytes: bundle.bytes,
        loadAndInitMs,
        rssMb,
        withinBars: bundle.bytes < BUNDLE_BYTES_BAR && loadAndInitMs < LOAD_AND_INIT_MS_BAR,
      });
    }
    return rows;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The bench table's rows: one per bundle, `rows` = 1 cold load, `seconds` = load-and-init time,
 * `ratioToBaseline` = load-and-init time over the 150 ms bar (under 1 is within it).
 */
export async function benchBundles(): Promise<BenchRow[]> {
  return (await bundleReport()).map((r) => {
    const seconds = r.loadAndInitMs / 1000;
    return {
      name: `bundle ${r.name} (${(r.bytes / 1024).toFixed(0)} KiB${r.withinBars ? '' : ', OVER BAR'})`,
      rows: 1,
      seconds,
      rowsPerSecond: seconds > 0 ? 1 / seconds : 0,
      ratioToBaseline: Math.round((r.loadAndInitMs / LOAD_AND_INIT_MS_BAR) * 100) / 100,
      peakRssMb: r.rssMb,
    };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await bundleReport()) {
    console.log(
      `${row.name.padEnd(14)} ${(row.bytes / 1024).toFixed(0).padStart(5)} KiB  ${String(row.loadAndInitMs).padStart(6)} ms  ${row.rssMb} MB  ${row.withinBars ? 'ok' : 'OVER BAR'}`,
    );
  }
}
