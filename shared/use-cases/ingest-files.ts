/**
 * Local spill files of the ingest steps: records appended to one file per bucket (a shard, a
 * partition, a segment) through a small buffer each, so a step's memory stays flat whatever the
 * size of its input; and readers of such files as fixed or length-prefixed records.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';

const BUFFER_BYTES = 64 * 1024;

export class SpillFiles {
  private readonly buffers = new Map<number, { buf: Buffer; used: number }>();
  private readonly files = new Map<number, WriteStream>();
  /** Records appended per bucket. */
  readonly counts = new Map<number, number>();
  /** Bytes appended per bucket. */
  readonly bytes = new Map<number, number>();

  constructor(
    private readonly dir: string,
    private readonly name: string,
  ) {}

  path(bucket: number): string {
    return join(this.dir, `${this.name}-${bucket}.bin`);
  }

  async append(bucket: number, record: Uint8Array): Promise<void> {
    let slot = this.buffers.get(bucket);
    if (!slot) {
      slot = { buf: Buffer.allocUnsafe(Math.max(BUFFER_BYTES, record.length)), used: 0 };
      this.buffers.set(bucket, slot);
    }
    if (slot.used + record.length > slot.buf.length) {
      await this.flush(bucket);
      slot = this.buffers.get(bucket) as { buf: Buffer; used: number };
    }
    slot.buf.set(record, slot.used);
    slot.used += record.length;
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.bytes.set(bucket, (this.bytes.get(bucket) ?? 0) + record.length);
  }

  private async flush(bucket: number): Promise<void> {
    const slot = this.buffers.get(bucket);
    if (!slot || slot.used === 0) return;
    let out = this.files.get(bucket);
    if (!out) {
      out = createWriteStream(this.path(bucket), { mode: 0o600 });
      this.files.set(bucket, out);
    }
    // The buffer is reused once written: a step allocates its buffers once, instead of one a flush
    // for the allocator to take back.
    const file = out;
    await new Promise<void>((resolve, reject) =>
      file.write(slot.buf.subarray(0, slot.used), (error) => (error ? reject(error) : resolve())),
    );
    slot.used = 0;
  }

  /** Flushes and closes every file; returns the buckets that hold at least one record, in order. */
  async close(): Promise<number[]> {
    for (const bucket of [...this.buffers.keys()]) await this.flush(bucket);
    this.buffers.clear();
    await Promise.all(
      [...this.files.values()].map(
        (f) =>
          new Promise<void>((resolve, reject) => f.end((e?: Error | null) => (e ? reject(e) : resolve()))),
      ),
    );
    return [...this.files.keys()].sort((a, b) => a - b);
  }

  read(bucket: number): AsyncIterable<Uint8Array> {
    return createReadStream(this.path(bucket));
  }

  destroy(): void {
    for (const f of this.files.values()) f.destroy();
  }
}

/**
 * The records of a byte stream whose record length is given by `lengthAt(data, at)` (undefined
 * while the record's header is not all there), whatever the stream's chunks.
 */
export async function* recordsOf(
  chunks: AsyncIterable<Uint8Array>,
  lengthAt: (data: Uint8Array, at: number) => number | undefined,
): AsyncIterable<Uint8Array> {
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const n = lengthAt(data, at);
      if (n === undefined || at + n > data.length) break;
      yield data.subarray(at, at + n);
      at += n;
    }
    carry = data.slice(at);
  }
  if (carry.length) throw new Error('a spill file ended inside a record');
}

/** The lines of a text stream (keyed values, one a line), empty ones skipped. */
export async function* linesOf(chunks: AsyncIterable<Uint8Array>): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let carry = '';
  for await (const chunk of chunks) {
    const lines = (carry + decoder.decode(chunk, { stream: true })).split('\n');
    carry = lines.pop() ?? '';
    for (const line of lines) if (line) yield line;
  }
  carry += decoder.decode();
  if (carry) yield carry;
}
