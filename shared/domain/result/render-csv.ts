/**
 * The anonymized audience files: the Result as CSV (for spreadsheets, BI tools and DuckDB) and as
 * JSON (the whole Result: list summary, matched total, privacy parameters).
 *
 * The CSV is one tidy table (RFC 4180, CRLF, every cell quoted): a header, then exactly one row per
 * segment, always the same columns, nothing else in the file:
 *   segment_id, name, matched, suppressed, reason, share, affinity, withheld, reason_text
 * `matched`, `share` and `affinity` are empty where withheld; `withheld` names the withheld
 * columns, `reason` says why with a stable code and `reason_text` in plain words. The summary and
 * the privacy parameters are in the JSON only: a second table in the same file would be read as
 * rows of the first.
 * Cells that a spreadsheet would read as a formula (starting with = + - @, tab or CR/LF) are
 * neutralized with a leading apostrophe (OWASP CSV injection guidance).
 */
import { withheldOf } from './result-glossary.ts';
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
  'withheld',
  'reason_text',
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
  return cells.map(csvCell).join(',');
}

export interface RenderCsvOptions {
  /** Start with a UTF-8 byte order mark so Excel reads non-ASCII segment names right (default true). */
  bom?: boolean;
}

export function renderResultCsv(result: MatchResult, options: RenderCsvOptions = {}): string {
  const rows: string[] = [csvRow(CSV_COLUMNS)];
  for (const s of result.segments) {
    const withheld = withheldOf(s, result);
    rows.push(
      csvRow([
        s.segmentId,
        s.name,
        s.matched,
        s.suppressed,
        withheld?.reason,
        s.share,
        s.affinity,
        withheld?.values,
        withheld?.words,
      ]),
    );
  }
  return `${options.bom === false ? '' : '\uFEFF'}${rows.join('\r\n')}\r\n`;
}

/** The Result as pretty JSON, validated against the schema on the way out. */
export function renderResultJson(result: MatchResult): string {
  return `${JSON.stringify(MatchResultSchema.parse(result), null, 2)}\n`;
}
