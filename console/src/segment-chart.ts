/**
 * The match result as an SVG chart (a string, so the page and the self-contained report share it):
 * one block per segment with its name, the released count as a bar and the affinity index as a
 * thinner bar against a dashed line at 100 (the partner base's own mix). Suppressed segments are
 * drawn as a hatched empty bar with the reason in words. Colours keep a 4.5:1 contrast on white.
 */
import { esc, num } from './format.ts';
import { reasonInWords } from './reasons.ts';
import type { ReleasedSegment } from './released-result.ts';

const WIDTH = 400;
const BLOCK = 58;
const BAR_X = 0;
const BAR_W = WIDTH - 8;
export const CHART_COLORS = { matched: '#1f5fbf', affinity: '#a8500a', muted: '#555555', text: '#1a1a1a' };

/** Splits text into lines of at most `max` characters at spaces. */
function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length + 1 > max) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export function segmentChart(segments: readonly ReleasedSegment[], title: string): string {
  const maxMatched = Math.max(1, ...segments.map((s) => s.matched ?? 0));
  const maxAffinity = Math.max(200, ...segments.map((s) => s.affinity ?? 0));
  const height = segments.length * BLOCK + 30;
  const ref = BAR_X + (BAR_W * 100) / maxAffinity;
  const c = CHART_COLORS;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-labelledby="chart-title" font-family="system-ui, sans-serif">`,
    `<title id="chart-title">${esc(title)}</title>`,
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#767676" stroke-width="2"/></pattern></defs>',
    `<g font-size="11" fill="${c.muted}"><rect x="0" y="2" width="10" height="10" fill="${c.matched}"/><text x="14" y="11">people matched</text>`,
    `<rect x="120" y="5" width="10" height="5" fill="${c.affinity}"/><text x="134" y="11">affinity index (dashed line = 100)</text></g>`,
  ];
  segments.forEach((s, i) => {
    const y = 24 + i * BLOCK;
    const figure = s.suppressed
      ? 'suppressed'
      : `${num(s.matched)} · affinity ${s.affinity === null ? '—' : s.affinity}`;
    parts.push(
      `<g><text x="0" y="${y + 13}" font-size="13" fill="${c.text}">${esc(s.name)}</text>`,
      `<text x="${WIDTH}" y="${y + 13}" font-size="13" text-anchor="end" fill="${s.suppressed ? c.muted : c.text}">${esc(figure)}</text>`,
    );
    if (s.suppressed || s.matched === null) {
      parts.push(
        `<rect x="${BAR_X}" y="${y + 18}" width="${BAR_W}" height="14" fill="url(#hatch)" opacity="0.35"/>`,
        ...wrap(`withheld: ${reasonInWords(s.reason ?? 'below-k')}`, 66).map(
          (line, j) =>
            `<text x="4" y="${y + 29 + j * 12}" font-size="11" fill="${c.text}">${esc(line)}</text>`,
        ),
      );
    } else {
      const w = Math.max(1, (BAR_W * s.matched) / maxMatched);
      parts.push(
        `<rect x="${BAR_X}" y="${y + 18}" width="${w.toFixed(1)}" height="14" rx="2" fill="${c.matched}"/>`,
      );
      if (s.affinity !== null) {
        const a = Math.max(1, (BAR_W * s.affinity) / maxAffinity);
        parts.push(
          `<rect x="${BAR_X}" y="${y + 36}" width="${a.toFixed(1)}" height="7" rx="2" fill="${c.affinity}"/>`,
        );
      }
    }
    parts.push('</g>');
  });
  parts.push(
    `<line x1="${ref.toFixed(1)}" y1="20" x2="${ref.toFixed(1)}" y2="${height - 4}" stroke="${c.muted}" stroke-dasharray="3 3"/>`,
    '</svg>',
  );
  return parts.join('');
}
