/**
 * The `onboard hash` pipeline: a list in, the same list with identifiers replaced by their hashes
 * out, plus the list summary.
 *
 * - Line mode: one output line per input line, same order: the hash, or an empty line where the
 *   identifier is invalid (or the line was empty or too long).
 * - CSV mode: the same CSV (header, other columns, row order) with the identifier column replaced by
 *   its hash, empty when invalid (with `classifyAs`: every identifier column, each by its own hash). A record that could not be read as fields (too long, malformed
 *   quoting) becomes a row of empty fields, never its raw text: raw identifiers are not echoed.
 *
 * Output comes as strings of about `chunkChars` characters (not one per line) for throughput.
 */
import { createListSummary, type ListSummary, type ListSummaryAccumulator } from './list-summary.ts';
import { type ListLayout, type ListRow, openList, type ParseListOptions } from './parse-list.ts';

export interface HashListOptions extends ParseListOptions {
  /** Receives every row's outcome; pass one to read progress while streaming. Default: a fresh one. */
  summary?: ListSummaryAccumulator;
  /** Called once with the layout, before the first output chunk. */
  onLayout?: (layout: ListLayout) => void;
  /** Target size of output chunks in characters (default 65536). */
  chunkChars?: number;
}

/**
 * Streams the hashed list. The generator's return value is the final summary (also readable from
 * `options.summary`). Throws `ListFormatError` for an unreadable list.
 */
export async function* hashList(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: HashListOptions,
): AsyncGenerator<string, ListSummary, undefined> {
  const summary = options.summary ?? createListSummary();
  const chunkChars = options.chunkChars ?? 65536;
  const { layout, batches } = await openList(source, options);
  options.onLayout?.(layout);
  const eol = layout.lineEnding;
  const csv = layout.mode === 'csv' ? new CsvWriter(layout) : null;
  let buffer = csv?.header() ?? '';
  for await (const batch of batches) {
    if (csv === null) {
      for (const row of batch) {
        const outcome = row.outcome;
        summary.add(outcome);
        buffer += outcome.ok ? outcome.output + eol : eol;
      }
    } else {
      for (const row of batch) {
        summary.add(row.outcome);
        buffer += csv.row(row);
      }
    }
    if (buffer.length >= chunkChars) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer.length > 0) yield buffer;
  return summary.snapshot();
}

/** Re-emits CSV records with RFC 4180 quoting where a field needs it. */
class CsvWriter {
  private readonly needsQuotes: RegExp;
  private readonly delimiter: string;
  private readonly eol: string;
  private readonly columnIndex: number;
  private readonly blankRow: string;

  constructor(private readonly layout: ListLayout) {
    this.delimiter = layout.delimiter;
    this.eol = layout.lineEnding;
    this.columnIndex = layout.columnIndex;
    const escaped = layout.delimiter.replace(/[\\^$.*+?()[\]{}|-]/g, '\\$&');
    this.needsQuotes = new RegExp(`["\\r\\n${escaped}]`);
    const width = Math.max(layout.header?.length ?? 1, 1);
    this.blankRow = layout.delimiter.repeat(width - 1) + layout.lineEnding;
  }

  header(): string {
    const header = this.layout.header;
    return header === null ? '' : this.record(header, -1, '');
  }

  row(row: ListRow): string {
    const fields = row.fields;
    if (fields === null)
      return row.outcome.ok === false && row.outcome.reason === 'empty' ? this.eol : this.blankRow;
    if (row.cells) {
      // Every identifier column replaced by its own hash, empty where that cell is invalid.
      const out = [...fields];
      row.cells.forEach((cell, i) => {
        const index = this.layout.columns[i]?.index;
        if (index !== undefined && index < out.length) out[index] = cell.ok ? cell.output : '';
      });
      return this.record(out, -1, '');
    }
    return this.record(fields, this.columnIndex, row.outcome.ok ? row.outcome.output : '');
  }

  private record(fields: readonly string[], replaceAt: number, replacement: string): string {
    let line = '';
    for (let i = 0; i < fields.length; i++) {
      const field = i === replaceAt ? replacement : (fields[i] as string);
      if (i > 0) line += this.delimiter;
      line += this.needsQuotes.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
    }
    return line + this.eol;
  }
}
