/**
 * The bench's shared result types and its readable summary table (one line per bar, PASS, FAIL,
 * INFO or SKIP). Pure: returns strings, prints nothing.
 */
import type { BenchRow } from './bench-row.ts';

/** A report row: the BenchRow fields plus any extra fields a benchmark wants to show. */
export type ReportRow = BenchRow & Record<string, unknown>;

export type Status = 'PASS' | 'FAIL' | 'INFO' | 'SKIP';

export interface Check {
  /** The benchmark (hashing, match-memory, ...). */
  bench: string;
  /** What is measured against the bar. */
  what: string;
  measured: string;
  bar: string;
  status: Status;
}

export interface BenchOutput {
  rows: ReportRow[];
  checks: Check[];
  /** Caveats worth printing under the table (assumptions, fallbacks, what exactly was timed). */
  notes: string[];
}

export const check = (
  bench: string,
  what: string,
  measured: string,
  bar: string,
  ok: boolean | null,
): Check => ({
  bench,
  what,
  measured,
  bar,
  status: ok === null ? 'INFO' : ok ? 'PASS' : 'FAIL',
});

/** Rounds for display and JSON: 3 significant decimals under 10, fewer above. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A compact human number: 1234567 -> "1.23M". */
export function human(x: number): string {
  const a = Math.abs(x);
  if (a >= 999_500_000) return `${round(x / 1e9, 2)}G`;
  if (a >= 999_500) return `${round(x / 1e6, 2)}M`;
  if (a >= 1e4) return `${round(x / 1e3, 1)}k`;
  return String(round(x, 2));
}

function pad(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

/** Wraps a cell at `width` characters (on spaces when possible). */
function wrap(s: string, width: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (rest.length > width) {
    let cut = rest.lastIndexOf(' ', width);
    if (cut <= width / 3) cut = width;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  out.push(rest);
  return out;
}

/** The summary table: bench | what | measured | bar | status, with wrapped cells. */
export function renderTable(checks: readonly Check[], maxWidths = [14, 46, 30, 26, 6]): string {
  const header = ['bench', 'what', 'measured', 'bar', 'status'];
  const cells = checks.map((c) => [c.bench, c.what, c.measured, c.bar, c.status]);
  const widths = header.map((h, i) =>
    Math.min(maxWidths[i] ?? 40, Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length))),
  );
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const renderRow = (row: string[]): string[] => {
    const wrapped = row.map((cell, i) => wrap(cell, widths[i] as number));
    const height = Math.max(...wrapped.map((w) => w.length));
    const lines: string[] = [];
    for (let k = 0; k < height; k++) {
      lines.push(`| ${wrapped.map((w, i) => pad(w[k] ?? '', widths[i] as number)).join(' | ')} |`);
    }
    return lines;
  };
  const out = [line, ...renderRow(header), line];
  for (const row of cells) out.push(...renderRow(row));
  out.push(line);
  const count = (s: Status) => checks.filter((c) => c.status === s).length;
  out.push(`PASS ${count('PASS')}  FAIL ${count('FAIL')}  INFO ${count('INFO')}  SKIP ${count('SKIP')}`);
  return out.join('\n');
}
