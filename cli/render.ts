/**
 * Terminal output: every table with a header, the segment table with its footnotes (what share and
 * affinity mean, why each withheld value is withheld, a replay announced), list summaries, the
 * partner catalog, the match list and a progress bar that degrades off a TTY.
 */
import {
  AFFINITY_DEFINITION,
  reasonInWords,
  SHARE_DEFINITION,
  withheldOf,
} from '../shared/domain/result/result-glossary.ts';
import type { ListSummary, MatchResult, PrivacyApplied } from '../shared/domain/result/result-schema.ts';

const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const num = (n: number | null | undefined) =>
  n === null || n === undefined ? '—' : n.toLocaleString('en-US');

/**
 * A table: a header, a rule, the rows; columns listed in `right` are right-aligned (numbers).
 * Trailing blanks are trimmed.
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: readonly number[] = [],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (right.includes(i) ? lpad(c, widths[i] as number) : pad(c, widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function renderSummary(summary: ListSummary): string {
  const reasons = Object.entries(summary.invalidByReason)
    .map(([reason, count]) => `${reason} ${num(count)}`)
    .join(', ');
  return [
    `rows ${num(summary.rows)}, valid ${num(summary.valid)}, invalid ${num(summary.invalid)}${reasons ? ` (${reasons})` : ''}`,
    `duplicates ${num(summary.duplicates)}, distinct ${num(summary.distinct)}`,
  ].join('\n');
}

function privacyLine(result: MatchResult): string {
  const p: PrivacyApplied = result.privacy;
  const noise =
    p.noise.mechanism === 'none'
      ? 'no noise'
      : `discrete Gaussian noise (sigma ${p.noise.sigma}), rho ${p.noise.rho}`;
  if (result.replayOf)
    return `privacy: k = ${p.k}, ${noise} as released by ${result.replayOf}, rounding ${p.rounding}`;
  const budget = p.budget
    ? `\nbudget ${p.budget.period}: spent rho ${p.budget.rhoSpent}, ${p.budget.advertiserLeft} of ${p.budget.advertiserAllowance} left against this partner (renews ${p.budget.renewsAt.slice(0, 10)})`
    : '';
  return `privacy: k = ${p.k}, ${noise}, rounding ${p.rounding}${budget}`;
}

/** The segment table, the matched total, footnotes for every withheld value and both ratios. */
export function renderSegmentTable(result: MatchResult): string {
  const k = result.privacy.k;
  const reasons = new Set<string>();
  const rows = result.segments.map((s) => {
    const withheld = withheldOf(s, result);
    if (withheld) reasons.add(withheld.reason);
    return [
      s.name,
      num(s.matched),
      s.share === null ? '—' : `${(s.share * 100).toFixed(1)} %`,
      s.affinity === null ? '—' : String(s.affinity),
      withheld?.reason ?? '',
    ];
  });
  const table = renderTable(['segment', 'matched', 'share', 'affinity', 'withheld'], rows, [1, 2, 3]);
  const distinct = num(result.list.distinct);
  const total =
    result.matched === null
      ? `matched total withheld (${result.matchedSuppressedReason ?? 'below-k'}); the list has ${distinct} distinct people`
      : `matched ${num(result.matched)} of the list's ${distinct} distinct people${result.matchRate === null ? '' : ` (match rate ${(result.matchRate * 100).toFixed(1)} %)`}`;
  if (result.matched === null) reasons.add(result.matchedSuppressedReason ?? 'below-k');
  const lines = [table, '', total];
  if (result.replayOf) {
    lines.push(
      `replay of match ${result.replayOf}: the same people against the same partner data, so its release is shown again; no new noise, no budget spent.`,
    );
  }
  for (const reason of reasons) lines.push(`withheld, ${reason}: ${reasonInWords(reason, k)}.`);
  lines.push(SHARE_DEFINITION, AFFINITY_DEFINITION, privacyLine(result));
  return lines.join('\n');
}

/** The partner catalog, one row per segment. */
export function renderPartners(
  partners: readonly {
    partnerId: string;
    profile: string;
    kinds?: readonly string[];
    baseSize: number | null;
    segments: readonly {
      segmentId: string;
      name: string;
      description?: string;
      kinds?: readonly string[];
      size: number | null;
    }[];
  }[],
): string {
  // Published sizes: noisy, rounded to 10, and none under k ("—"): shown as approximate.
  const size = (n: number | null) => (n === null ? '—' : `~${num(n)}`);
  const rows = partners.flatMap((p) => [
    [p.partnerId, p.profile, (p.kinds ?? []).join('+'), '(all segments)', '', size(p.baseSize), ''],
    ...p.segments.map((s) => [
      '',
      '',
      (s.kinds ?? []).join('+'),
      s.segmentId,
      s.name,
      size(s.size),
      s.description ?? '',
    ]),
  ]);
  return renderTable(['partner', 'profile', 'kinds', 'segment', 'name', 'people', 'description'], rows, [5]);
}

/** The match list, newest first. */
export function renderMatches(
  matches: readonly {
    matchId: string;
    status: string;
    partnerId: string;
    createdAt: string;
    code?: string;
  }[],
): string {
  return renderTable(
    ['match', 'status', 'partner', 'created', 'error'],
    matches.map((m) => [m.matchId, m.status, m.partnerId, m.createdAt, m.code ?? '']),
  );
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
    dryRun?: boolean;
  };
}): string {
  const lines = [
    `audience ${view.audienceId}: ${view.status}${view.code ? ` (${view.code}: ${view.detail})` : ''}`,
  ];
  const r = view.report;
  if (!r) return lines.join('\n');
  if (r.dryRun) lines.push('dry run: nothing was written, published or spent');
  lines.push(
    `rows read ${num(r.rowsRead)}, accepted ${num(r.accepted)}, rejected ${num(r.rejected)}, duplicate rows ${num(r.duplicates)}`,
  );
  for (const [rule, { count, rows }] of Object.entries(r.rejectedByRule)) {
    lines.push(`  ${rule}: ${num(count)} (rows ${rows.join(', ')}${count > rows.length ? ', ...' : ''})`);
  }
  lines.push(
    renderTable(
      ['segment', 'members'],
      r.segments.map((s) => [s.segmentId, num(s.members)]),
      [1],
    ),
  );
  return lines.join('\n');
}
