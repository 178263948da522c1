/**
 * `onboard hash`: stdin to stdout, no network. One identifier a line in, one hash a line out (an
 * empty line where invalid), or a CSV with every identifier column (email, phone) replaced by its
 * hash, each kind normalized by its own rules; a summary on stderr.
 */
import { fstatSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { createNodeIdentifierHasher } from '../shared/adapters/node-sha256.ts';
import type { IdentifierHasherOptions } from '../shared/domain/identifiers/hash.ts';
import { hashList } from '../shared/domain/lists/hash-list.ts';
import { createListSummary, type ListSummaryAccumulator } from '../shared/domain/lists/list-summary.ts';
import type { Classify } from '../shared/domain/lists/parse-list.ts';
import { personHashing } from '../shared/domain/lists/person-hashing.ts';
import type { IdentifierKind } from '../shared/domain/model.ts';
import { hashFileOnThreads, type ThreadSettings, threadSettings } from './hash-threads.ts';

export interface HashCommandOptions extends Omit<IdentifierHasherOptions, 'kind'> {
  /** Only this kind (a line's kind; in a CSV, only its columns). Default: email lines, every CSV column. */
  kind?: IdentifierKind | undefined;
  column?: string;
}

/** The parse options that hash a list as people, with node:crypto. */
export function hashingOptions(options: HashCommandOptions) {
  return personHashing((kind) => createNodeIdentifierHasher({ ...options, kind }), options.kind);
}

/** The classifier the CLI, the web console and server-side hashing share: dedupe on the digest. */
export function hashingClassifier(options: IdentifierHasherOptions): Classify {
  const hasher = createNodeIdentifierHasher(options);
  return (raw) => {
    const out = hasher.hash(raw);
    return out.ok ? { ok: true, key: out.encoded, output: out.encoded } : { ok: false, reason: out.reason };
  };
}

/** Streams `input` to `output` hashed; returns the summary. Honours back-pressure. */
export async function hashStream(
  input: AsyncIterable<Uint8Array | string>,
  output: Writable,
  options: HashCommandOptions,
  summary: ListSummaryAccumulator = createListSummary(),
) {
  const chunks = hashList(input, {
    ...hashingOptions(options),
    summary,
    ...(options.column ? { column: options.column } : {}),
  });
  for await (const chunk of chunks) {
    if (!output.write(chunk)) await new Promise<void>((resolve) => output.once('drain', () => resolve()));
  }
  return summary.snapshot();
}

/**
 * `onboard hash`: stdin to stdout. A large list redirected from a file (`< list.txt`, at least
 * `threadSettings().minBytes`) with one identifier a line is hashed on worker threads: the same
 * bytes out, the same summary and errors, sooner.
 */
export async function runHashCommand(
  options: HashCommandOptions,
  stdin: Readable,
  stdout: Writable,
  settings: ThreadSettings = threadSettings(),
) {
  const fd = (stdin as { fd?: unknown }).fd;
  const size = typeof fd === 'number' ? regularFileSize(fd) : undefined;
  if (fd !== undefined && size !== undefined && settings.threads > 1 && size >= settings.minBytes) {
    const summary = createListSummary();
    if (await hashFileOnThreads(fd as number, size, stdout, options, summary, settings))
      return summary.snapshot();
  }
  return hashStream(stdin, stdout, options);
}

/** The size of the regular file open as `fd`; undefined for a pipe, a terminal or anything else. */
function regularFileSize(fd: number): number | undefined {
  try {
    const stat = fstatSync(fd);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}
