/**
 * One worker thread of `onboard hash` on a large file (hash-threads.ts): hashes line-aligned pieces
 * of the list, one at a time, with the same pipeline as the single thread, and hands back the output
 * bytes and the piece's summary part. A piece that fails is only flagged: the main thread reads it
 * again itself, so the error it reports is exactly the single thread's.
 */
import { parentPort } from 'node:worker_threads';
import { hashPart, type PartJob, type PartResult } from './hash-part.ts';

const port = parentPort;
if (port === null) throw new Error('hash-worker: not a worker thread');
port.on('message', (job: PartJob) => {
  hashPart(job).then(
    (result: PartResult) => {
      port.postMessage(
        result,
        result.ok ? [result.output.buffer as ArrayBuffer, result.part.words.buffer as ArrayBuffer] : [],
      );
    },
    (error: unknown) => {
      port.postMessage({
        ok: false,
        index: job.index,
        message: error instanceof Error ? error.message : String(error),
      });
    },
  );
});
