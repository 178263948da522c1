/**
 * The membership filter of a partner: a split-block Bloom filter over the keyed values of every
 * identifier that holds a token of the catalog version it belongs to. A match shard asks it before
 * reading DynamoDB: "no" means the partner does not hold that identifier (never wrong: no false
 * negatives), "maybe" means read; so the reads of list people the partner does not hold are
 * skipped, but for the filter's false positives.
 *
 * Keyed like the table: its bits come from the keyed value (HMAC-SHA256 under the pepper), never
 * from the digest, so a leaked filter cannot be tested against a dictionary of emails without the
 * pepper, and re-keying (pepper rotation) rebuilds it.
 *
 * A filter is stored in parts by the top bits of the keyed value, so each part is built and loaded
 * alone with bounded memory. Within a part, a key picks one 256-bit block (eight 32-bit words) and
 * sets one bit in each word (the split-block layout of Parquet's Bloom filters): one cache line per
 * lookup, eight bits per key.
 */

/** Parts a filter is stored in (the keyed value's top four bits). */
export const FILTER_PARTS = 16;
/** Bits per key: about 0.5 % false positives with this layout (see designFalsePositiveRate). */
export const DEFAULT_BITS_PER_KEY = 12;

const WORDS_PER_BLOCK = 8;
const BLOCK_BITS = 256;
/** Odd multipliers picking one bit per word (the salts of Parquet's split-block Bloom filter). */
const SALTS = [
  0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31,
] as const;
const MAGIC = 0x31464d4f; // "OMF1", little-endian
const HEADER_BYTES = 16;
/** Keeps block index arithmetic exact in doubles (2^21 blocks = 64 MiB a part). */
const MAX_BLOCKS = 1 << 21;

const B64URL = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries())
  B64URL[c.charCodeAt(0)] = i;

/** Six bits of a keyed value's base64url character. */
function sextet(key: string, at: number): number {
  const v = B64URL[key.charCodeAt(at)] ?? -1;
  if (v < 0) throw new RangeError('a filter key must be a base64url keyed value');
  return v;
}

/** 32 bits from base64url characters at..at+5 (the low 30 bits of five, plus two of the sixth). */
function word(key: string, at: number): number {
  return (
    ((sextet(key, at) << 26) |
      (sextet(key, at + 1) << 20) |
      (sextet(key, at + 2) << 14) |
      (sextet(key, at + 3) << 8) |
      (sextet(key, at + 4) << 2) |
      (sextet(key, at + 5) >>> 4)) >>>
    0
  );
}

/** The part of a keyed value: its first four bits. */
export function filterPartOf(key: string, parts = FILTER_PARTS): number {
  return sextet(key, 0) >>> (6 - Math.log2(parts));
}

/**
 * The block selector and bit selector of a key: bits well away from the part's (which every key
 * of a part shares), so blocks fill evenly. HMAC output is uniform: no further hashing is needed.
 */
function hashesOf(key: string): [number, number] {
  if (key.length < 14) throw new RangeError('a filter key must be a base64url keyed value');
  return [word(key, 2), word(key, 8)];
}

export class MembershipFilter {
  private constructor(
    private readonly words: Uint32Array,
    readonly blocks: number,
    /** Keys inserted (with repeats), as declared when built. */
    readonly keys: number,
  ) {}

  /** An empty filter sized for `expectedKeys` at `bitsPerKey`. */
  static sized(expectedKeys: number, bitsPerKey = DEFAULT_BITS_PER_KEY): MembershipFilter {
    const blocks = Math.min(
      MAX_BLOCKS,
      Math.max(1, Math.ceil((Math.max(0, expectedKeys) * bitsPerKey) / BLOCK_BITS)),
    );
    return new MembershipFilter(new Uint32Array(blocks * WORDS_PER_BLOCK), blocks, 0);
  }

  /** A filter as `bytes()` wrote it. */
  static from(bytes: Uint8Array): MembershipFilter {
    if (bytes.byteLength < HEADER_BYTES) throw new RangeError('not a membership filter');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const blocks = view.getUint32(4, true);
    if (
      view.getUint32(0, true) !== MAGIC ||
      blocks < 1 ||
      blocks > MAX_BLOCKS ||
      bytes.byteLength !== HEADER_BYTES + (blocks * BLOCK_BITS) / 8
    )
      throw new RangeError('not a membership filter');
    const words = new Uint32Array(blocks * WORDS_PER_BLOCK);
    for (let i = 0; i < words.length; i++) words[i] = view.getUint32(HEADER_BYTES + i * 4, true);
    return new MembershipFilter(words, blocks, view.getUint32(8, true));
  }

  add(key: string): void {
    const [hi, lo] = hashesOf(key);
    const base = Math.floor((hi * this.blocks) / 0x1_0000_0000) * WORDS_PER_BLOCK;
    const w = this.words;
    for (let i = 0; i < WORDS_PER_BLOCK; i++)
      w[base + i] = (w[base + i] as number) | (1 << (Math.imul(lo, SALTS[i] as number) >>> 27));
    (this as { keys: number }).keys++;
  }

  /** False: the key was never added. True: it probably was. */
  mayHold(key: string): boolean {
    const [hi, lo] = hashesOf(key);
    const base = Math.floor((hi * this.blocks) / 0x1_0000_0000) * WORDS_PER_BLOCK;
    const w = this.words;
    for (let i = 0; i < WORDS_PER_BLOCK; i++) {
      if (((w[base + i] as number) & (1 << (Math.imul(lo, SALTS[i] as number) >>> 27))) === 0) return false;
    }
    return true;
  }

  get byteLength(): number {
    return HEADER_BYTES + this.words.length * 4;
  }

  /** The stored form: a 16-byte header (magic, blocks, keys) and the words, little-endian. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, this.blocks, true);
    view.setUint32(8, Math.min(this.keys, 0xffffffff), true);
    for (let i = 0; i < this.words.length; i++)
      view.setUint32(HEADER_BYTES + i * 4, this.words[i] as number, true);
    return out;
  }
}

/**
 * The expected false-positive rate at `bitsPerKey`: a block's load is Poisson with mean
 * 256 / bitsPerKey keys, and a missing key passes when each of its eight words already has its bit.
 */
export function designFalsePositiveRate(bitsPerKey = DEFAULT_BITS_PER_KEY): number {
  const mean = BLOCK_BITS / bitsPerKey;
  let p = Math.exp(-mean);
  let rate = 0;
  for (let x = 0; x < 10 * mean + 50; x++) {
    rate += p * (1 - (31 / 32) ** x) ** WORDS_PER_BLOCK;
    p *= mean / (x + 1);
  }
  return rate;
}

/** Bytes of a filter over `keys` keyed values, all parts together. */
export function filterBytesFor(
  keys: number,
  bitsPerKey = DEFAULT_BITS_PER_KEY,
  parts = FILTER_PARTS,
): number {
  return Math.ceil((keys * bitsPerKey) / BLOCK_BITS) * (BLOCK_BITS / 8) + parts * HEADER_BYTES;
}
