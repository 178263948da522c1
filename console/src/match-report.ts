/**
 * The report a person can forward: one self-contained HTML file (no script, no outside resource:
 * its CSP forbids both) with the chart, the segment table, the totals, the privacy block and the
 * definitions of share and affinity. Built only from the match view the API released, so it holds
 * nothing the API would not release.
 */
import { esc, num, percent } from './format.ts';
import { reasonInWords } from './reasons.ts';
import {
  budgetLeft,
  type MatchView,
  otherFigures,
  privacyEntries,
  type ReleasedResult,
} from './released-result.ts';
import { segmentChart } from './segment-chart.ts';

export const DEFINITIONS = {
  share:
    'Share: people of your list matched in the segment, over all people of your list matched in any segment.',
  affinity:
    'Affinity index: the segment’s share among your matched people over its share of the partner’s whole audience, times 100. Above 100, your customers are more likely than the partner’s average person to be in the segment.',
  suppressed:
    'Suppressed: a count the service does not release, so that no one can be singled out; the reason is given.',
} as const;

export function totalInWords(result: ReleasedResult): string {
  return result.matched === null
    ? `withheld: ${reasonInWords(result.matchedSuppressedReason ?? 'below-k')}`
    : `${num(result.matched)} of ${num(result.list.distinct)} distinct people in your list`;
}

export function segmentRows(result: ReleasedResult): string {
  return result.segments
    .map(
      (s) =>
        `<tr><th scope="row">${esc(s.name)}</th><td>${s.suppressed ? `suppressed: ${esc(reasonInWords(s.reason ?? 'below-k'))}` : esc(num(s.matched))}</td><td>${esc(percent(s.share))}</td><td>${esc(s.affinity === null ? '—' : s.affinity)}</td></tr>`,
    )
    .join('');
}

const dl = (entries: readonly { label: string; value: string }[]) =>
  `<dl>${entries.map((e) => `<dt>${esc(e.label)}</dt><dd>${esc(e.value)}</dd>`).join('')}</dl>`;

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;color:#1a1a1a;max-width:760px;margin:0 auto;padding:16px}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #ccc;text-align:right}
th[scope=row],thead th:first-child{text-align:left}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{color:#444}dd{margin:0}
.small{color:#444;font-size:.9em}`;

/** The whole report document. */
export function renderMatchReport(match: MatchView & { result: ReleasedResult }): string {
  const r = match.result;
  const title = `Audience match ${match.matchId} against ${r.partner.partnerId}`;
  const figures = [
    { label: 'Matched', value: totalInWords(r) },
    {
      label: 'List rows',
      value: `${num(r.list.rows)} (${num(r.list.valid)} valid, ${num(r.list.duplicates)} duplicates)`,
    },
    { label: 'Budget left', value: budgetLeft(r.privacy) ?? '—' },
    ...otherFigures(r),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><main>
<h1>${esc(title)}</h1>
<p class="small">Generated ${esc(r.generatedAt)} · partner ${esc(r.partner.partnerId)} (${esc(r.partner.profile)} hashing) · minimum segment size ${esc(match.minSegmentSize)}</p>
${dl(figures)}
<h2>Segments</h2>
${segmentChart(r.segments, `People matched and affinity index per segment of ${r.partner.partnerId}`)}
<table><caption class="small">Per segment; figures are released with privacy noise.</caption>
<thead><tr><th scope="col">Segment</th><th scope="col">Matched</th><th scope="col">Share</th><th scope="col">Affinity</th></tr></thead>
<tbody>${segmentRows(r)}</tbody></table>
<h2>Privacy</h2>
${dl(privacyEntries(r.privacy))}
<h2>Definitions</h2>
<ul><li>${esc(DEFINITIONS.share)}</li><li>${esc(DEFINITIONS.affinity)}</li><li>${esc(DEFINITIONS.suppressed)}</li></ul>
</main></body></html>
`;
}
