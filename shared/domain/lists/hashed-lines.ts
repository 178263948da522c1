/**
 * The upload form of a list: one person a line, its identifiers' hashes tagged with their kind
 * (`e:<hash>,p:<hash>`, see person-line.ts), an empty line where a row held no valid identifier.
 * Whatever else a CRM export holds (names, plans) never leaves the machine or reaches storage.
 * Used by the CLI before upload and by server-side hashing of raw lists.
 */
import type { ListSummaryAccumulator } from './list-summary.ts';
import { openList, type ParseListOptions } from './parse-list.ts';
import { personLine } from './person-line.ts';

const utf8 = new TextEncoder();

export async function* hashedLines(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ParseListOptions & { summary: ListSummaryAccumulator },
): AsyncGenerator<Uint8Array, void, undefined> {
  const { layout, batches } = await openList(source, options);
  // A line, or a CSV read by one column, is one identifier: tag it with its kind.
  const kind = layout.columns[0]?.kind ?? options.lineKind ?? options.kind ?? 'email';
  for await (const batch of batches) {
    let text = '';
    for (const row of batch) {
      options.summary.add(row.outcome);
      if (!row.outcome.ok) text += '\n';
      else if (row.cells) text += `${row.outcome.output}\n`;
      else text += `${personLine([{ kind, hash: row.outcome.output }])}\n`;
    }
    if (text) yield utf8.encode(text);
  }
}
