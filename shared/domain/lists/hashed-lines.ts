/**
 * The upload form of a list: one hash a line, the identifier column only, an empty line where a
 * row was invalid. Whatever else a CRM export holds (names, plans) never leaves the machine or
 * reaches storage. Used by the CLI before upload and by server-side hashing of raw lists.
 */
import type { ListSummaryAccumulator } from './list-summary.ts';
import { openList, type ParseListOptions } from './parse-list.ts';

const utf8 = new TextEncoder();

export async function* hashedLines(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ParseListOptions & { summary: ListSummaryAccumulator },
): AsyncGenerator<Uint8Array, void, undefined> {
  const { batches } = await openList(source, options);
  for await (const batch of batches) {
    let text = '';
    for (const row of batch) {
      options.summary.add(row.outcome);
      text += row.outcome.ok ? `${row.outcome.output}\n` : '\n';
    }
    if (text) yield utf8.encode(text);
  }
}
