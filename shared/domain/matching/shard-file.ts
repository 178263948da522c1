/**
 * The file of one match shard: the list people whose primary identifier falls in the shard, as the
 * split writes them and the shard step reads them. A file is a sequence of blocks, each an 8-byte
 * header then its payload:
 *
 *   header:  [type u8] [kind index u8] [0 u8] [0 u8] [payload bytes u32 little-endian]
 *   SINGLES  (type 1): people of one identifier, all of the header's kind: 32-byte digests back
 *            to back (a hashed email list is all singles);
 *   PEOPLE   (type 2): people of several identifiers, one record each:
 *            [identifier count u8] then per identifier [kind index u8] [32-byte digest],
 *            primary first; the payload is padded with zeros to a multiple of 4 bytes.
 *
 * Every header and every singles payload starts at a multiple of 4 bytes from the file's start, so
 * the shard step can read a singles payload as 32-bit words in place (the digest table's fast path)
 * instead of one view per digest. A block's payload is at most MAX_BLOCK_PAYLOAD bytes.
 */
import { DomainError } from '../errors.ts';
import { IDENTIFIER_KINDS, type IdentifierKind } from '../model.ts';

export const DIGEST_BYTES = 32;
export const BLOCK_HEADER_BYTES = 8;
export const SINGLES = 1;
export const PEOPLE = 2;
/** Identifiers one list person may carry (a row of a CRM export has a few). */
export const MAX_PERSON_IDS = 16;
/** One identifier of a people record: [kind index u8] [digest]. */
export const ID_BYTES = 1 + DIGEST_BYTES;
/** The most a block's payload holds (a reader buffers at most one block). */
export const MAX_BLOCK_PAYLOAD = 1 << 20;

/** A block of a shard file: single-identifier people of one kind, or people records. */
export type ShardBlock = { kind: IdentifierKind; singles: Uint8Array } | { people: Uint8Array };

const padded = (n: number) => (n + 3) & ~3;

/**
 * Writes list people as shard-file bytes into one buffer: people of one identifier go to a singles
 * block of their kind, the others to a people block, a new block whenever the kind of block
 * changes. A writer with room enough for the next person never grows; one without grows.
 */
export class ShardFileBuffer {
  private buffer: Uint8Array;
  private fill = 0;
  /** The open block: its header's offset (-1 when none), type and kind index. */
  private blockAt = -1;
  private blockType = 0;
  private blockKind = 0;

  constructor(capacity: number) {
    this.buffer = new Uint8Array(capacity);
  }

  /** Bytes written, the open block's padding and length not yet counted. */
  get used(): number {
    return this.fill;
  }

  /** Whether a person of `ids` identifiers fits without growing (counting a new block's header). */
  fits(ids: number): boolean {
    const record = ids === 1 ? DIGEST_BYTES : 1 + ids * ID_BYTES;
    return this.fill + 3 + BLOCK_HEADER_BYTES + record <= this.buffer.length;
  }

  /** Adds a person of one identifier: kind index `kindIndex`, its digest at `source[at..at+32]`. */
  addSingle(kindIndex: number, source: Uint8Array, at = 0): void {
    this.open(SINGLES, kindIndex, DIGEST_BYTES);
    const buffer = this.buffer;
    const to = this.fill;
    // Byte by byte: cheaper than a `set` call for 32 bytes.
    for (let j = 0; j < DIGEST_BYTES; j++) buffer[to + j] = source[at + j] as number;
    this.fill = to + DIGEST_BYTES;
  }

  /**
   * Adds the person whose record ([count] then [kind index][digest] per identifier, primary first)
   * starts at `record[0]`: as a single when it has one identifier.
   */
  addRecord(record: Uint8Array): void {
    const ids = record[0] as number;
    if (ids === 1) {
      this.addSingle(record[1] as number, record, 2);
      return;
    }
    const size = 1 + ids * ID_BYTES;
    this.open(PEOPLE, 0, size);
    this.buffer.set(record.subarray(0, size), this.fill);
    this.fill += size;
  }

  /** The bytes written, every block closed. */
  bytes(): Uint8Array {
    this.close();
    return this.buffer.subarray(0, this.fill);
  }

  /** Empties the buffer for reuse (what `bytes` returned is overwritten). */
  reset(): void {
    this.fill = 0;
    this.blockAt = -1;
  }

  /** Makes the open block one of `type` and `kind` with room for `size` more bytes. */
  private open(type: number, kind: number, size: number): void {
    if (
      this.blockAt >= 0 &&
      this.blockType === type &&
      this.blockKind === kind &&
      this.fill + size - this.blockAt - BLOCK_HEADER_BYTES <= MAX_BLOCK_PAYLOAD
    ) {
      this.ensure(size);
      return;
    }
    this.close();
    this.ensure(BLOCK_HEADER_BYTES + size);
    const b = this.buffer;
    const at = this.fill;
    b[at] = type;
    b[at + 1] = kind;
    b[at + 2] = 0;
    b[at + 3] = 0;
    this.blockAt = at;
    this.blockType = type;
    this.blockKind = kind;
    this.fill = at + BLOCK_HEADER_BYTES;
  }

  private close(): void {
    if (this.blockAt < 0) return;
    const length = this.fill - this.blockAt - BLOCK_HEADER_BYTES;
    new DataView(this.buffer.buffer, this.buffer.byteOffset).setUint32(this.blockAt + 4, length, true);
    const end = padded(this.fill);
    this.ensure(end - this.fill);
    this.buffer.fill(0, this.fill, end);
    this.fill = end;
    this.blockAt = -1;
  }

  private ensure(more: number): void {
    if (this.fill + more <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.fill + more));
    grown.set(this.buffer.subarray(0, this.fill));
    this.buffer = grown;
  }
}

const broken = (offset: number, why: string) =>
  new DomainError('invalid-digest', `The shard file is broken at byte ${offset}: ${why}.`);

/**
 * The blocks of a shard file, whatever its chunks. A block whole within a chunk is a view of the
 * chunk (copied only when a singles payload is not 4-byte aligned in memory); one that spans chunks
 * is put together in a buffer of its own. A block is valid until the next one is asked for.
 * Headers are checked here; people records by their reader (matchShard).
 */
export async function* shardBlocks(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<ShardBlock> {
  /** A block that spans chunks: its bytes so far. */
  let carry = new Uint8Array(BLOCK_HEADER_BYTES);
  let carried = 0;
  let aligned = new Uint8Array(0);
  /** The file offset of the current chunk's first byte. */
  let offset = 0;

  /** The block's payload length, from its header at `b[at..]` (file offset `fileAt`), checked. */
  const payloadOf = (b: Uint8Array, at: number, fileAt: number): number => {
    const type = b[at] as number;
    const kind = b[at + 1] as number;
    const length =
      ((b[at + 4] as number) | ((b[at + 5] as number) << 8) | ((b[at + 6] as number) << 16)) +
      (b[at + 7] as number) * 2 ** 24;
    if (type !== SINGLES && type !== PEOPLE) throw broken(fileAt, `unknown block type ${type}`);
    if (b[at + 2] !== 0 || b[at + 3] !== 0 || (type === PEOPLE && kind !== 0))
      throw broken(fileAt, 'a reserved header byte is not zero');
    if (type === SINGLES && kind >= IDENTIFIER_KINDS.length)
      throw broken(fileAt, `unknown identifier kind ${kind}`);
    if (length === 0 || length > MAX_BLOCK_PAYLOAD)
      throw broken(fileAt, `a block of ${length} bytes (1 to ${MAX_BLOCK_PAYLOAD})`);
    if (type === SINGLES && length % DIGEST_BYTES !== 0)
      throw broken(fileAt, `a singles block of ${length} bytes, not whole ${DIGEST_BYTES}-byte digests`);
    return length;
  };
  const blockOf = (b: Uint8Array, at: number, length: number): ShardBlock => {
    let payload = b.subarray(at + BLOCK_HEADER_BYTES, at + BLOCK_HEADER_BYTES + length);
    if (b[at] === PEOPLE) return { people: payload };
    if (payload.byteOffset % 4 !== 0) {
      if (aligned.length < length) aligned = new Uint8Array(MAX_BLOCK_PAYLOAD);
      aligned.set(payload);
      payload = aligned.subarray(0, length);
    }
    return { kind: IDENTIFIER_KINDS[b[at + 1] as number] as IdentifierKind, singles: payload };
  };

  for await (const chunk of chunks) {
    let at = 0;
    // First the block carried over from the chunks before.
    while (carried > 0 && at < chunk.length) {
      const fileAt = offset - carried;
      const need =
        carried < BLOCK_HEADER_BYTES
          ? BLOCK_HEADER_BYTES
          : BLOCK_HEADER_BYTES + padded(payloadOf(carry, 0, fileAt));
      if (carry.length < need) {
        const grown = new Uint8Array(need);
        grown.set(carry.subarray(0, carried));
        carry = grown;
      }
      const take = Math.min(need - carried, chunk.length - at);
      carry.set(chunk.subarray(at, at + take), carried);
      carried += take;
      at += take;
      offset += take;
      if (carried === need && need > BLOCK_HEADER_BYTES) {
        carried = 0;
        yield blockOf(carry, 0, payloadOf(carry, 0, fileAt));
      }
    }
    // Then the blocks whole within this chunk, in place.
    while (at + BLOCK_HEADER_BYTES <= chunk.length) {
      const length = payloadOf(chunk, at, offset);
      const size = BLOCK_HEADER_BYTES + padded(length);
      if (at + size > chunk.length) break;
      const block = blockOf(chunk, at, length);
      at += size;
      offset += size;
      yield block;
    }
    // The start of a block the next chunks finish.
    const rest = chunk.length - at;
    if (rest > 0) {
      if (carry.length < rest) carry = new Uint8Array(Math.max(rest, BLOCK_HEADER_BYTES));
      carry.set(chunk.subarray(at));
      carried = rest;
      offset += rest;
    }
  }
  if (carried > 0) throw broken(offset - carried, 'the file ends inside a block');
}
