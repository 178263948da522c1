/** A finished match in the page: totals, chart, table, privacy block, downloads. */
import type { ConsoleApi } from './api.ts';
import { definitionList, h, message, trustedSvg } from './dom.ts';
import { num, percent } from './format.ts';
import { DEFINITIONS, renderMatchReport, totalInWords } from './match-report.ts';
import { reasonInWords } from './reasons.ts';
import {
  budgetLeft,
  type MatchView,
  otherFigures,
  privacyEntries,
  type ReleasedResult,
} from './released-result.ts';
import { segmentChart } from './segment-chart.ts';

function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function resultView(api: ConsoleApi, match: MatchView & { result: ReleasedResult }): HTMLElement {
  const r = match.result;
  const status = h('div', { 'aria-live': 'polite' });
  const download = (format: 'csv' | 'json') => async () => {
    status.replaceChildren();
    try {
      const { url } = await api.get<{ url: string }>(
        `/v1/matches/${encodeURIComponent(match.matchId)}/download?format=${format}`,
      );
      const a = h('a', { href: url, download: `audience-${match.matchId}.${format}`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (error) {
      status.append(message('error', (error as Error).message));
    }
  };
  const rows = r.segments.map((s) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, s.name),
      h('td', {}, s.suppressed ? `suppressed: ${reasonInWords(s.reason ?? 'below-k')}` : num(s.matched)),
      h('td', {}, percent(s.share)),
      h('td', {}, s.affinity === null ? '—' : String(s.affinity)),
    ),
  );
  return h(
    'section',
    { class: 'card result', 'aria-labelledby': 'result-title' },
    h('h2', { id: 'result-title', tabindex: -1 }, `Result against ${r.partner.partnerId}`),
    definitionList([
      { label: 'Matched', value: totalInWords(r) },
      { label: 'Budget left', value: budgetLeft(r.privacy) ?? 'no budget (noise is off)' },
      { label: 'Minimum segment size (k)', value: String(match.minSegmentSize) },
      ...otherFigures(r),
    ]),
    h(
      'figure',
      { class: 'chart' },
      trustedSvg(
        segmentChart(r.segments, `People matched and affinity index per segment of ${r.partner.partnerId}`),
      ),
    ),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        {},
        h('caption', {}, 'Per segment, as released (with privacy noise)'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Segment'),
            h('th', { scope: 'col' }, 'Matched'),
            h('th', { scope: 'col' }, 'Share'),
            h('th', { scope: 'col' }, 'Affinity'),
          ),
        ),
        h('tbody', {}, ...rows),
      ),
    ),
    h(
      'details',
      {},
      h('summary', {}, 'What share and affinity mean'),
      h('p', {}, DEFINITIONS.share),
      h('p', {}, DEFINITIONS.affinity),
      h('p', {}, DEFINITIONS.suppressed),
    ),
    h('h3', {}, 'Privacy applied'),
    definitionList(privacyEntries(r.privacy)),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', onclick: download('csv') }, 'Download CSV'),
      h('button', { type: 'button', onclick: download('json') }, 'Download JSON'),
      h(
        'button',
        {
          type: 'button',
          onclick: () =>
            saveBlob(
              `audience-${match.matchId}.html`,
              new Blob([renderMatchReport(match)], { type: 'text/html' }),
            ),
        },
        'Download report (HTML)',
      ),
    ),
    status,
  );
}
