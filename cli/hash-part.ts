/**
 * One piece of a list for a worker thread of `onboard hash` (hash-threads.ts): hashed with the
 * single thread's pipeline; the first piece with the list's own options, the others as a
 * continuation (one identifier a line, the list's line ending, numbered from a given line).
 */
import { hashList } from '../shared/domain/lists/hash-list.ts';
import {
  createListSummary,
  createSummaryPart,
  type ListSummaryAccumulator,
  type SummaryPart,
} from '../shared/domain/lists/list-summary.ts';
import { type HashCommandOptions, hashingOptions } from './hash-command.ts';

/** One piece for a worker: its bytes (transferred) and whether it starts the list. */
export interface PartJob {
  index: number;
  bytes: Uint8Array;
  first: boolean;
  lineEnding: '\n' | '\r\n';
  options: HashCommandOptions;
}

export type PartResult =
  | { ok: true; index: number; output: Uint8Array; part: SummaryPart }
  | { ok: false; index: number; message: string };

/** The parse options of a piece: the list's own for the first, a continuation for the others. */
export function pieceOptions(
  options: HashCommandOptions,
  first: boolean,
  lineEnding: '\n' | '\r\n',
  firstLine: number,
) {
  return {
    ...hashingOptions(options),
    ...(options.column ? { column: options.column } : {}),
    ...(first ? {} : { mode: 'lines' as const, continuation: { firstLine, lineEnding } }),
  };
}

const utf8 = new TextEncoder();

/**
 * The piece as a stream would hand it over, 64 KiB at a time: batches of a few thousand rows that
 * die young, where one batch of the whole piece would be promoted by the GC (measured: a third
 * slower).
 */
function* slices(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += 65536)
    yield bytes.subarray(at, Math.min(bytes.length, at + 65536));
}

/** Hashes one piece (in a worker): its output bytes and summary part, or that it failed. */
export async function hashPart(job: PartJob): Promise<PartResult> {
  const collector = createSummaryPart();
  const summary: ListSummaryAccumulator = {
    add: collector.add,
    merge: () => {
      throw new Error('hash-worker: a part is not merged into');
    },
    snapshot: () => createListSummary().snapshot(),
  };
  let text = '';
  try {
    const chunks = hashList(slices(job.bytes), {
      ...pieceOptions(job.options, job.first, job.lineEnding, 1),
      summary,
    });
    for await (const chunk of chunks) text += chunk;
  } catch (error) {
    return { ok: false, index: job.index, message: error instanceof Error ? error.message : String(error) };
  }
  return { ok: true, index: job.index, output: utf8.encode(text), part: collector.part() };
}
