/**
 * `onboard hash` on worker threads, for a large list given as a file (`onboard hash < list.txt`):
 * the file is cut into line-aligned pieces, the pieces are hashed on worker threads with the same
 * pipeline as the single thread, and their outputs are written in order. Same output bytes, same
 * summary, same errors (a piece that fails is read again on the main thread, with its true line
 * numbers, so the error is the single thread's). Only one identifier a line: a CSV (whose quoted
 * fields may hold line breaks) and anything the first lines cannot settle go the single-thread way.
 *
 * Worth it only above a size: each thread costs its start-up (a V8 isolate and the modules through
 * tsx), measured in `npm run bench -- --only hashing`; see DEFAULT_MIN_BYTES.
 */
import { readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { hashList } from '../shared/domain/lists/hash-list.ts';
import { createListSummary, type ListSummaryAccumulator } from '../shared/domain/lists/list-summary.ts';
import { openList } from '../shared/domain/lists/parse-list.ts';
import type { HashCommandOptions } from './hash-command.ts';
import { type PartJob, type PartResult, pieceOptions } from './hash-part.ts';

/**
 * Below this many bytes the single thread is used. Measured on the project's 2-core machine
 * (`npm run bench -- --only hashing`, 2026-11-30): two threads start in 0.13 to 0.4 s of wall time
 * (one esbuild bundle, then an isolate each), one thread runs the whole pipeline at 7 to 14 MB/s,
 * and the threaded run spends 25 to 50 % more CPU in all (start-up, JIT warm-up per thread, pieces
 * summed on the main thread). With a free second core that gives 1.3x to 1.6x at best, and the
 * start-up is won back from some 3 to 25 MB; 32 MiB stays above that. On a machine whose
 * cores are already busy, threads gain nothing (the bench prints the load average next to them).
 */
export const DEFAULT_MIN_BYTES = 32 * 1024 * 1024;
/** Piece size: big enough that a message per piece costs nothing, small enough to keep memory flat. */
export const DEFAULT_PIECE_BYTES = 4 * 1024 * 1024;
const PROBE_BYTES = 64 * 1024;

export interface ThreadSettings {
  /** Worker threads (1: the single thread). */
  threads: number;
  /** Smallest file that is hashed on threads. */
  minBytes: number;
  pieceBytes: number;
}

function envInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive whole number`);
  return n;
}

/**
 * Threads: one per core, at most 4 (ONBOARD_HASH_THREADS to choose); ONBOARD_HASH_THREADS_MIN_BYTES
 * and ONBOARD_HASH_PIECE_BYTES override the size threshold and the piece size (tests, benchmarks).
 */
export function threadSettings(env: NodeJS.ProcessEnv = process.env): ThreadSettings {
  return {
    threads: envInt(env.ONBOARD_HASH_THREADS, Math.min(availableParallelism(), 4), 'ONBOARD_HASH_THREADS'),
    minBytes: envInt(env.ONBOARD_HASH_THREADS_MIN_BYTES, DEFAULT_MIN_BYTES, 'ONBOARD_HASH_THREADS_MIN_BYTES'),
    pieceBytes: envInt(env.ONBOARD_HASH_PIECE_BYTES, DEFAULT_PIECE_BYTES, 'ONBOARD_HASH_PIECE_BYTES'),
  };
}

/** The first lines decide: line mode (hashed on threads) or not (null: the single thread reads it all). */
async function probeLineEnding(
  fd: number,
  size: number,
  options: HashCommandOptions,
): Promise<'\n' | '\r\n' | null> {
  const head = readAt(fd, 0, Math.min(size, PROBE_BYTES));
  const lf = head.indexOf(0x0a);
  const cr = head.indexOf(0x0d);
  if (lf < 0 && cr < 0) return null; // a first line longer than the probe: leave it to the single thread
  try {
    const { layout, batches } = await openList([head], pieceOptions(options, true, '\n', 1));
    await batches.return(undefined);
    return layout.mode === 'lines' ? layout.lineEnding : null;
  } catch {
    return null; // the single thread reports it, with the same words
  }
}

function readAt(fd: number, position: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, bytes, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? bytes : bytes.subarray(0, done);
}

/**
 * The next piece from `position`: whole lines, about `pieceBytes` long (more when a line is longer).
 * Cut after the last LF; in a file without LF, after the last CR that is not the piece's last byte
 * (so a CR and its LF are never apart).
 */
function nextPiece(fd: number, position: number, size: number, pieceBytes: number): Uint8Array {
  let length = Math.min(pieceBytes, size - position);
  for (;;) {
    const bytes = readAt(fd, position, length);
    if (position + bytes.length >= size) return bytes;
    let cut = bytes.lastIndexOf(0x0a) + 1;
    if (cut === 0) {
      const cr = bytes.lastIndexOf(0x0d);
      if (cr >= 0 && cr < bytes.length - 1) cut = cr + 1;
    }
    if (cut > 0) return cut === bytes.length ? bytes : bytes.slice(0, cut);
    length = Math.min(length * 2, size - position);
  }
}

let bundled: Promise<string | undefined> | undefined;

/**
 * The worker's code as one CommonJS bundle (esbuild, once a process): a thread then starts in tens
 * of milliseconds instead of the second or so tsx takes to load its modules in each new thread.
 * Without esbuild (tsx's own dependency, so normally there), threads load through tsx.
 */
function workerCode(): Promise<string | undefined> {
  bundled ??= import('esbuild')
    .then(async ({ build }) => {
      const result = await build({
        entryPoints: [fileURLToPath(new URL('./hash-worker.ts', import.meta.url))],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        write: false,
        logLevel: 'silent',
      });
      return result.outputFiles[0]?.text;
    })
    .catch(() => undefined);
  return bundled;
}

/** A fixed set of workers, each given one piece at a time; results come back per piece. */
class Pool {
  private readonly idle: Worker[] = [];
  private readonly waiting: Array<(worker: Worker) => void> = [];
  private readonly all: Worker[] = [];

  constructor(threads: number, code: string | undefined) {
    for (let i = 0; i < threads; i++) {
      const worker =
        code === undefined
          ? new Worker(new URL('./hash-worker-entry.js', import.meta.url))
          : new Worker(code, { eval: true });
      this.all.push(worker);
      this.idle.push(worker);
    }
  }

  async run(job: PartJob): Promise<PartResult> {
    const worker = this.idle.pop() ?? (await new Promise<Worker>((resolve) => this.waiting.push(resolve)));
    try {
      return await new Promise<PartResult>((resolve, reject) => {
        const onError = (error: Error) => {
          worker.off('message', onMessage);
          reject(error);
        };
        const onMessage = (result: PartResult) => {
          worker.off('error', onError);
          resolve(result);
        };
        worker.once('message', onMessage);
        worker.once('error', onError);
        worker.postMessage(job, [job.bytes.buffer as ArrayBuffer]);
      });
    } finally {
      const next = this.waiting.shift();
      if (next) next(worker);
      else this.idle.push(worker);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
  }
}

function write(output: Writable, bytes: Uint8Array): Promise<void> | undefined {
  if (bytes.length === 0 || output.write(bytes)) return undefined;
  return new Promise<void>((resolve) => output.once('drain', () => resolve()));
}

/**
 * Hashes the regular file open as `fd` (`size` bytes) on `settings.threads` worker threads, writing
 * the output to `output` in order and counting into `summary`. Returns false, having read nothing
 * that counts, when the list is not one identifier a line: the caller streams it on one thread.
 */
export async function hashFileOnThreads(
  fd: number,
  size: number,
  output: Writable,
  options: HashCommandOptions,
  summary: ListSummaryAccumulator,
  settings: ThreadSettings,
): Promise<boolean> {
  const lineEnding = await probeLineEnding(fd, size, options);
  if (lineEnding === null) return false;
  const pool = new Pool(settings.threads, await workerCode());
  const inFlight: Array<{ promise: Promise<PartResult>; position: number; length: number }> = [];
  let position = 0;
  let index = 0;
  let linesBefore = 0;
  try {
    const settle = async () => {
      const piece = inFlight.shift();
      if (piece === undefined) return;
      const result = await piece.promise;
      if (!result.ok) {
        // Read the piece again here, numbered from its true first line: the error is then the one
        // the single thread throws for it. (Its output was never written: the list stops there.)
        const bytes = readAt(fd, piece.position, piece.length);
        const again = hashList([bytes], {
          ...pieceOptions(options, piece.position === 0, lineEnding, linesBefore + 1),
          summary: createListSummary(),
        });
        for await (const _ of again) {
          // drained: only its error matters
        }
        throw new Error(`hash: a worker thread failed on a piece the main thread reads: ${result.message}`);
      }
      summary.merge(result.part);
      linesBefore += result.part.rows;
      await write(output, result.output);
    };
    while (position < size) {
      const bytes = nextPiece(fd, position, size, settings.pieceBytes);
      const length = bytes.length; // before the bytes are transferred (and this view emptied)
      const job: PartJob = { index: index++, bytes, first: position === 0, lineEnding, options };
      inFlight.push({ promise: pool.run(job), position, length });
      position += length;
      if (inFlight.length > settings.threads * 2) await settle();
    }
    while (inFlight.length > 0) await settle();
  } finally {
    // A failed piece leaves later ones running: their results are dropped with the threads.
    for (const piece of inFlight) piece.promise.catch(() => undefined);
    await pool.close();
  }
  return true;
}
