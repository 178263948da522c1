/** Terminal output: the segment table, list summaries and a progress bar that degrades off a TTY. */
import type { ListSummary, MatchResult } from '../shared/domain/result/result-schema.ts';

const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const num = (n: number | null | undefined) =>
  n === null || n === undefined ? '—' : n.toLocaleString('en-US');

export function renderSummary(summary: ListSummary): string {
  const reasons = Object.entries(summary.invalidByReason)
    .map(([reason, count]) => `${reason} ${num(count)}`)
    .join(', ');
  return [
    `rows ${num(summary.rows)}, valid ${num(summary.valid)}, invalid ${num(summary.invalid)}${reasons ? ` (${reasons})` : ''}`,
    `duplicates ${num(summary.duplicates)}, distinct ${num(summary.distinct)}`,
  ].join('\n');
}

export function renderSegmentTable(result: MatchResult): string {
  const rows = result.segments.map((s) => [
    s.name,
    s.suppressed ? `suppressed (${s.reason ?? 'below-k'})` : num(s.matched),
    s.share === null ? '—' : `${(s.share * 100).toFixed(1)} %`,
    s.affinity === null ? '—' : String(s.affinity),
  ]);
  const header = ['segment', 'matched', 'share', 'affinity'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? pad(c, widths[i] as number) : lpad(c, widths[i] as number))).join('  ');
  const p = result.privacy;
  const noise =
    p.noise.mechanism === 'none'
      ? 'no noise'
      : `discrete Gaussian noise (sigma ${p.noise.sigma}), rho ${p.noise.rho}`;
  const budget = p.budget
    ? `\nbudget ${p.budget.period}: spent rho ${p.budget.rhoSpent}, ${p.budget.advertiserLeft} of ${p.budget.advertiserAllowance} left against this partner (renews ${p.budget.renewsAt.slice(0, 10)})`
    : '';
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    `matched ${result.matched === null ? `withheld (${result.matchedSuppressedReason ?? 'below-k'})` : num(result.matched)} of ${num(result.list.distinct)} distinct${result.matchRate === null ? '' : ` (match rate ${(result.matchRate * 100).toFixed(1)} %)`}`,
    `privacy: k = ${p.k}, ${noise}, rounding ${p.rounding}${budget}`,
  ].join('\n');
}

/** A one-line progress bar on a TTY; a line every 10 % elsewhere (CI logs stay short). */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr) {
  let lastDecile = -1;
  return {
    update(fraction: number, note = '') {
      const f = Math.max(0, Math.min(1, fraction));
      if (stream.isTTY) {
        const width = 30;
        const filled = Math.round(f * width);
        stream.write(
          `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${lpad(String(Math.round(f * 100)), 3)} % ${note}   `,
        );
      } else {
        const decile = Math.floor(f * 10);
        if (decile > lastDecile) {
          lastDecile = decile;
          stream.write(`${label} ${decile * 10} % ${note}\n`);
        }
      }
    },
    done(note = '') {
      if (stream.isTTY) stream.write(`\r${label} [${'#'.repeat(30)}] 100 % ${note}   \n`);
      else if (lastDecile < 10) stream.write(`${label} 100 % ${note}\n`);
    },
  };
}

/** An ingest report as a partner reads it: totals, rejections by rule with their first rows, sizes. */
export function renderIngestReport(view: {
  audienceId: string;
  status: string;
  code?: string;
  detail?: string;
  report?: {
    rowsRead: number;
    accepted: number;
    rejected: number;
    duplicates: number;
    rejectedByRule: Record<string, { count: number; rows: number[] }>;
    segments: { segmentId: string; members: number }[];
  };
}): string {
  const lines = [
    `audience ${view.audienceId}: ${view.status}${view.code ? ` (${view.code}: ${view.detail})` : ''}`,
  ];
  const r = view.report;
  if (!r) return lines.join('\n');
  lines.push(
    `rows read ${num(r.rowsRead)}, accepted ${num(r.accepted)}, rejected ${num(r.rejected)}, duplicate rows ${num(r.duplicates)}`,
  );
  for (const [rule, { count, rows }] of Object.entries(r.rejectedByRule)) {
    lines.push(`  ${rule}: ${num(count)} (rows ${rows.join(', ')}${count > rows.length ? ', ...' : ''})`);
  }
  const width = Math.max(...r.segments.map((s) => s.segmentId.length), 7);
  for (const s of r.segments) lines.push(`  ${pad(s.segmentId, width)}  ${lpad(num(s.members), 10)} members`);
  return lines.join('\n');
}
