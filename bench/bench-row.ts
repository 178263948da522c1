import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One line of a benchmark report (npm run bench). */
export interface BenchRow {
  name: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** Throughput relative to the report's baseline row; null for the baseline itself or when not comparable. */
  ratioToBaseline: number | null;
  /** Peak resident set size of the process so far, in MB. */
  peakRssMb: number;
}

/**
 * Peak RSS of this process so far, in MB: its memory map's high-water mark (VmHWM), which starts
 * afresh when a process execs. Not getrusage's maxRSS: Linux carries that over fork and exec, so a
 * child of a bench process that had grown to 500 MB would report 500 MB whatever it used itself.
 * maxRSS only where /proc is missing.
 */
export function peakRssMb(): number {
  let kb = process.resourceUsage().maxRSS;
  try {
    const hwm = /VmHWM:\s+(\d+)\s*kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (hwm) kb = Number(hwm);
  } catch {
    // no /proc: maxRSS
  }
  return Math.round((kb / 1024) * 10) / 10;
}

/**
 * A full GC, untimed, before a timed round: what the previous round left is not the next one's cost
 * (gc() exposed at runtime: the bench runs under tsx, without node flags).
 */
export const collectGarbage = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * Sleeps the thread briefly (benches are synchronous): after a full GC, its sweeping finishes on
 * helper threads instead of being counted in the next round's process CPU time.
 */
export function settle(ms = 30): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
