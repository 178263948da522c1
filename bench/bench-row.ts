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

/** Peak RSS of this process so far, in MB (maxRSS is in KB). */
export function peakRssMb(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}
