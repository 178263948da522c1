/**
 * `npm run bench [-- --quick] [-- --only hashing,match-memory,...]`
 *
 * Runs the benchmarks of the performance bars (README, Benchmarks) one after another, printing one JSON line
 * per result row as soon as it is measured, then a table of every bar with PASS / FAIL / INFO /
 * SKIP, then the notes (what exactly was timed, assumptions). Timings are never asserted in tests;
 * this is where they are looked at.
 *
 * Benchmarks: hashing, bundles, match-memory, dynamodb-batch, memory-10m, ingest-10m,
 * membership-filter, cost, privacy, console, end-to-end.
 * --quick: smaller sizes (for a smoke run); --only: a comma-separated subset; --ingest-people N:
 * the ingest bench's file size (20 rows a person; the full 10 M rows take hours on dynalite).
 * The exit code is 0 even when a bar fails (the table says so); 1 if a benchmark crashed.
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './bench-row.ts';
import type { DynamoMeasurements } from './dynamodb-batch.ts';
import type { MemoryMeasurements } from './memory-10m.ts';
import { type BenchOutput, type Check, check, renderTable, round } from './table.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const BENCHES = [
  'hashing',
  'bundles',
  'match-memory',
  'dynamodb-batch',
  'memory-10m',
  'ingest-10m',
  'membership-filter',
  'cost',
  'privacy',
  'console',
  'end-to-end',
] as const;
export type BenchName = (typeof BENCHES)[number];

export interface RunArgs {
  quick: boolean;
  only: BenchName[];
  /** People in the ingest bench's members file (20 rows each); default 500,000, the 10 M-row file. */
  ingestPeople?: number;
}

export function parseArgs(argv: readonly string[]): RunArgs {
  let quick = false;
  let only: BenchName[] = [...BENCHES];
  let ingestPeople: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const value = a.startsWith('--only=') ? a.slice('--only='.length) : argv[++i];
      if (!value) throw new Error('--only needs a comma-separated list of benchmarks');
      const names = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = names.filter((n) => !(BENCHES as readonly string[]).includes(n));
      if (unknown.length)
        throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.join(', ')}`);
      only = BENCHES.filter((b) => names.includes(b));
    } else if (a === '--ingest-people') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error('--ingest-people needs a positive whole number');
      ingestPeople = n;
    } else if (a === '--help' || a === '-h') {
      throw new Error(`usage: npm run bench -- [--quick] [--only ${BENCHES.join(',')}] [--ingest-people N]`);
    } else throw new Error(`unknown argument ${a}`);
  }
  return { quick, only, ...(ingestPeople ? { ingestPeople } : {}) };
}

const emit = (row: object) => process.stdout.write(`${JSON.stringify(row)}\n`);

// --- hashing and bundles: modules written by others, adapted to checks here -------------------

async function hashing(quick: boolean): Promise<BenchOutput> {
  const { benchHashing, benchHashThreads } = await import('./hashing.ts');
  const rows = await benchHashing(quick ? 300_000 : 1_000_000);
  const checks: Check[] = [];
  const notes: string[] = [];
  for (const r of rows) {
    if (r.name.startsWith('baseline')) continue;
    const perSec = `${round(r.rowsPerSecond / 1e6, 2)}M/s`;
    if (r.name.includes('informational')) {
      checks.push(check('hashing', `${r.name}: emails/s on one core (CPU time)`, perSec, 'info', null));
      continue;
    }
    const ratio = r.ratioToBaseline ?? 0;
    const base = rows.find((b) => b.name.startsWith(`baseline ${String(r.profile)}:`));
    checks.push(
      check(
        'hashing',
        `${r.name}: emails/s on one core (CPU time)`,
        perSec,
        '>= 1.5M/s',
        r.rowsPerSecond >= 1_500_000,
      ),
      check(
        'hashing',
        `${r.name}: share of bare crypto.hash (${round((base?.rowsPerSecond ?? 0) / 1e6, 2)}M/s), median of rounds`,
        `${round(ratio, 3)}`,
        '>= 0.7',
        ratio >= 0.7,
      ),
    );
    const ratios = Array.isArray(r.roundRatios) ? (r.roundRatios as number[]) : [];
    notes.push(
      `hashing ${String(r.profile)}: ${ratios.length} rounds (bare loop and hasher.hash interleaved in chunks of 10,000 rows over the round's slice, order alternating), ratios ${ratios.join(' ')}; fastest round of ours over fastest round of the bare loop ${String(r.bestOfRounds)}.`,
    );
  }
  const threads = await benchHashThreads(quick ? 500_000 : 2_000_000);
  for (const r of threads.rows) {
    checks.push(
      check(
        'hashing',
        r.name,
        `${round(r.rowsPerSecond / 1e6, 2)}M rows/s, ${r.speedup}x, CPU ${r.cpuSeconds} s in ${r.seconds} s${Number(r.threads) > 1 ? `, start-up ${r.startupSeconds} s` : ''}`,
        'info (wall time)',
        null,
      ),
    );
  }
  return { rows: [...rows, ...threads.rows], checks, notes: [...notes, ...threads.notes] };
}

async function bundles(): Promise<BenchOutput> {
  let mod: { benchBundles?: () => Promise<BenchRow[]> };
  try {
    mod = await import('./bundles.ts');
  } catch (error) {
    return {
      rows: [],
      checks: [
        {
          bench: 'bundles',
          what: 'Lambda bundles',
          measured: 'bench/bundles.ts not loadable',
          bar: '< 1 MB, < 150 ms',
          status: 'SKIP',
        },
      ],
      notes: [
        `bundles: skipped, bench/bundles.ts could not be imported (${error instanceof Error ? error.message.split('\n')[0] : String(error)}).`,
      ],
    };
  }
  if (typeof mod.benchBundles !== 'function') {
    return {
      rows: [],
      checks: [
        {
          bench: 'bundles',
          what: 'Lambda bundles',
          measured: 'benchBundles() not exported',
          bar: '< 1 MB, < 150 ms',
          status: 'SKIP',
        },
      ],
      notes: ['bundles: skipped, bench/bundles.ts does not export benchBundles().'],
    };
  }
  const rows = await mod.benchBundles();
  const checks: Check[] = rows.map((r) => {
    const kib = /\((\d+(?:\.\d+)?) KiB/.exec(r.name);
    const ms = r.seconds * 1000;
    const sizeOk = kib ? Number(kib[1]) * 1024 < 1024 * 1024 : !r.name.includes('OVER BAR');
    return check(
      'bundles',
      r.name.replace(/ \(.*\)$/, ''),
      `${kib ? `${kib[1]} KiB` : 'size ?'}, ${round(ms, 1)} ms load+init`,
      '< 1024 KiB, < 150 ms',
      sizeOk && ms < 150,
    );
  });
  return { rows: rows as BenchOutput['rows'], checks, notes: [] };
}

// --- the runner ------------------------------------------------------------------------------

export async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  const t0 = performance.now();
  const load0 = loadavg();
  const checks: Check[] = [];
  const notes: string[] = [];
  let dynamo: DynamoMeasurements | undefined;
  let memory: MemoryMeasurements | undefined;
  /** The membership filter's measured false-positive rate, for the cost section. */
  let falsePositiveRate: number | undefined;
  let crashed = false;

  for (const name of args.only) {
    const started = performance.now();
    try {
      let out: BenchOutput;
      switch (name) {
        case 'hashing':
          out = await hashing(args.quick);
          break;
        case 'bundles':
          out = await bundles();
          break;
        case 'match-memory':
          // In a fresh process: the heap the benches before it leave would slow its GCs.
          out = await (await import('./child-run.ts')).runBenchChild<BenchOutput>(
            'match-memory.ts',
            args.quick ? ['--quick'] : [],
            { heapMb: null },
          );
          break;
        case 'dynamodb-batch': {
          const r = await (await import('./dynamodb-batch.ts')).benchDynamoBatch({ quick: args.quick });
          dynamo = r.measurements;
          out = r;
          break;
        }
        case 'memory-10m': {
          const r = await (await import('./memory-10m.ts')).benchMemory10m({ quick: args.quick });
          memory = r.measurements;
          out = r;
          break;
        }
        case 'ingest-10m':
          out = await (await import('./ingest-10m.ts')).benchIngest10m({
            quick: args.quick,
            ...(args.ingestPeople ? { people: args.ingestPeople } : {}),
          });
          break;
        case 'membership-filter': {
          const r = (await import('./membership-filter.ts')).benchMembershipFilter(args.quick);
          falsePositiveRate = r.falsePositiveRate;
          out = r;
          break;
        }
        case 'cost':
          out = (await import('./cost.ts')).benchCost(dynamo, memory, falsePositiveRate);
          break;
        case 'privacy':
          out = await (await import('./privacy-error.ts')).benchPrivacy(args.quick);
          break;
        case 'console':
          out = await (await import('./console.ts')).benchConsole();
          break;
        case 'end-to-end':
          out = await (await import('./end-to-end.ts')).benchEndToEnd({ quick: args.quick });
          break;
      }
      for (const row of out.rows) emit(row);
      checks.push(...out.checks);
      notes.push(...out.notes);
    } catch (error) {
      crashed = true;
      const message = error instanceof Error ? error.message : String(error);
      emit({ name, error: message });
      checks.push({
        bench: name,
        what: 'benchmark ran',
        measured: `crashed: ${message.split('\n')[0]?.slice(0, 120)}`,
        bar: 'runs',
        status: 'FAIL',
      });
      process.stderr.write(`bench ${name} failed: ${error instanceof Error ? error.stack : message}\n`);
    }
    notes.push(`(${name} took ${round((performance.now() - started) / 1000, 1)} s)`);
  }

  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`\n${renderTable(checks)}\n\n`);
  for (const note of notes) process.stdout.write(`- ${note}\n`);
  process.stdout.write(
    `- run: ${args.quick ? "QUICK sizes (not the bars' sizes)" : 'full sizes'}, ${round(seconds, 1)} s, node ${process.version}, load average ${load0.map((x) => x.toFixed(2)).join(' ')} at start, ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} at end (other work on this 2-core machine makes timings noisy).\n`,
  );
  return crashed ? 1 : 0;
}

const isEntry = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  // Exit explicitly once stdout is flushed: a server of the embedded stack that is still closing
  // must not hold the run open.
  const exit = (code: number) => process.stdout.write('', () => process.exit(code));
  main(process.argv.slice(2)).then(exit, (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    exit(2);
  });
}
