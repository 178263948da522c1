/**
 * The anonymized audience files: the Result as CSV (for spreadsheets) and as JSON.
 *
 * CSV layout (RFC 4180, CRLF, every cell quoted, every row the same 7 columns so any CSV reader and
 * any spreadsheet opens it):
 *   - a header, then one row per segment: segment_id, name, matched, suppressed, reason, share,
 *     affinity (empty cells for withheld values);
 *   - an empty row, then a summary block of `metric, value` rows (list totals, matched total and
 *     the privacy parameters), padded to 7 columns.
 * Cells that a spreadsheet would read as a formula (starting with = + - @, tab or CR/LF) are
 * neutralized with a leading apostrophe (OWASP CSV injection guidance).
 */
import type { MatchResult } from './result-schema.ts';
import { MatchResultSchema } from './result-schema.ts';

export const CSV_COLUMNS = [
  'segment_id',
  'name',
  'matched',
  'suppressed',
  'reason',
  'share',
  'affinity',
] as const;

const FORMULA_START = /^[=+\-@\t\r\n]/;

/** Neutralizes a cell a spreadsheet would evaluate as a formula. */
export function neutralizeCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** A quoted, neutralized CSV cell. */
export function csvCell(value: string | number | boolean | null | undefined): string {
  const text = value === null || value === undefined ? '' : String(value);
  return `"${neutralizeCell(text).replaceAll('"', '""')}"`;
}

function csvRow(cells: ReadonlyArray<string | number | boolean | null | undefined>): string {
  const padded = [...cells];
  while (padded.length < CSV_COLUMNS.length) padded.push('');
  return padded.map(csvCell).join(',');
}

export interface RenderCsvOptions {
  /** Start with a UTF-8 byte order mark so Excel reads non-ASCII segment names right (default true). */
  bom?: boolean;
}

export function renderResultCsv(result: MatchResult, options: RenderCsvOptions = {}): string {
  const rows: string[] = [csvRow(CSV_COLUMNS)];
  for (const s of result.segments) {
    rows.push(csvRow([s.segmentId, s.name, s.matched, s.suppressed, s.reason, s.share, s.affinity]));
  }
  const { list, privacy } = result;
  const summary: Array<[string, string | number | null | undefined]> = [
    ['partner_id', result.partner.partnerId],
    ['profile', result.partner.profile],
    ['generated_at', result.generatedAt],
    ['list_rows', list.rows],
    ['list_valid', list.valid],
    ['list_invalid', list.invalid],
    ...Object.entries(list.invalidByReason)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([reason, n]): [string, number] => [`list_invalid_${reason}`, n]),
    ['list_duplicates', list.duplicates],
    ['list_distinct', list.distinct],
    ['matched_total', result.matched],
    ['matched_total_reason', result.matchedSuppressedReason],
    ['min_segment_size_k', privacy.k],
    ['noise_mechanism', privacy.noise.mechanism],
    ['noise_rho', privacy.noise.rho],
    ['noise_sigma', privacy.noise.sigma],
    ['noise_sensitivity2', privacy.noise.sensitivity2],
    ['rounding', privacy.rounding],
    ['budget_period', privacy.budget?.period],
    ['budget_rho_spent', privacy.budget?.rhoSpent],
    ['budget_rho_left', privacy.budget?.advertiserLeft],
  ];
  rows.push(csvRow([]), csvRow(['metric', 'value']));
  for (const [metric, value] of summary) rows.push(csvRow([metric, value]));
  return `${options.bom === false ? '' : '\uFEFF'}${rows.join('\r\n')}\r\n`;
}

/** The Result as pretty JSON, validated against the schema on the way out. */
export function renderResultJson(result: MatchResult): string {
  return `${JSON.stringify(MatchResultSchema.parse(result), null, 2)}\n`;
}
