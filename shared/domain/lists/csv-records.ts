/**
 * The records of a CSV stream (a BOM dropped, ragged rows allowed, empty lines skipped, cells as
 * written), fed with backpressure; a failing source ends the iteration with its error.
 */
import { parse } from 'csv-parse';

export async function* csvRecords(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<string[]> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, trim: false });
  const feed = (async () => {
    try {
      for await (const chunk of source)
        if (!parser.write(chunk)) await new Promise((r) => parser.once('drain', r));
      parser.end();
    } catch (error) {
      parser.destroy(error as Error);
    }
  })();
  yield* parser as AsyncIterable<string[]>;
  await feed;
}
