/**
 * A set of 32-byte digests (list digests, or keyed digests), each numbered in insertion order:
 * open addressing over typed arrays, the digests back to back in one buffer. No string or object
 * per digest, so a shard of a million digests costs about 48 bytes each.
 *
 * Digests come from the advertiser's upload, so they may be chosen to collide: the slot hash mixes
 * all 32 bytes with multipliers drawn at random per table, so no fixed set of digests can pile up
 * in one probe chain.
 */

const BYTES = 32;
const MIN_SLOTS = 1024;

export class DigestTable {
  /** The digests, numbered from 0, back to back. */
  private digests: Uint8Array;
  /** Each digest's full slot hash, to skip byte comparisons on most probes. */
  private hashes: Int32Array;
  /** Open-addressed slots: digest number + 1, or 0 when empty. */
  private slots: Int32Array;
  private mask: number;
  private readonly mix: Int32Array;
  private count = 0;

  constructor(expected = 0, seedWords?: Int32Array) {
    let slots = MIN_SLOTS;
    while (slots < expected * 2) slots *= 2;
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
    const capacity = slots >>> 1;
    this.digests = new Uint8Array(capacity * BYTES);
    this.hashes = new Int32Array(capacity);
    this.mix = seedWords ?? randomOddWords(9);
  }

  /** Digests in the table. */
  get size(): number {
    return this.count;
  }

  /** The digest numbered `index`, as a view (valid until the next insertion grows the table). */
  digestAt(index: number): Uint8Array {
    return this.digests.subarray(index * BYTES, index * BYTES + BYTES);
  }

  /** The buffer of every digest back to back (digest i at i * 32); a view until the next growth. */
  get buffer(): Uint8Array {
    return this.digests;
  }

  /** The number of the digest at `source[from..from+32]`, or -1 when absent. */
  find(source: Uint8Array, from: number): number {
    const h = this.hash(source, from);
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const entry = this.slots[s] as number;
      if (entry === 0) return -1;
      if (this.hashes[entry - 1] === h && this.equals(entry - 1, source, from)) return entry - 1;
    }
  }

  /**
   * The number of the digest at `source[from..from+32]`, added when absent: a new digest gets the
   * next number (`size` before the call), so `add(...) === size - 1` tells a new one.
   */
  add(source: Uint8Array, from: number): number {
    const h = this.hash(source, from);
    let s = h & this.mask;
    for (; ; s = (s + 1) & this.mask) {
      const entry = this.slots[s] as number;
      if (entry === 0) break;
      if (this.hashes[entry - 1] === h && this.equals(entry - 1, source, from)) return entry - 1;
    }
    const index = this.count;
    if ((index + 1) * 2 > this.slots.length) {
      this.grow();
      return this.add(source, from);
    }
    const d = this.digests;
    const at = index * BYTES;
    for (let i = 0; i < BYTES; i++) d[at + i] = source[from + i] as number;
    this.hashes[index] = h;
    this.slots[s] = index + 1;
    this.count++;
    return index;
  }

  private equals(index: number, source: Uint8Array, from: number): boolean {
    const d = this.digests;
    const at = index * BYTES;
    for (let i = 0; i < BYTES; i++) if (d[at + i] !== source[from + i]) return false;
    return true;
  }

  private hash(b: Uint8Array, at: number): number {
    const mix = this.mix;
    let h = mix[8] as number;
    for (let i = 0; i < 8; i++) {
      const o = at + i * 4;
      const word =
        ((b[o] as number) << 24) |
        ((b[o + 1] as number) << 16) |
        ((b[o + 2] as number) << 8) |
        (b[o + 3] as number);
      h = Math.imul(h ^ word, mix[i] as number);
      h ^= h >>> 15;
    }
    return h;
  }

  private grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let i = 0; i < this.count; i++) {
      let s = (this.hashes[i] as number) & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.slots = slots;
    this.mask = mask;
    const capacity = slots.length >>> 1;
    const digests = new Uint8Array(capacity * BYTES);
    digests.set(this.digests.subarray(0, this.count * BYTES));
    this.digests = digests;
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes.subarray(0, this.count));
    this.hashes = hashes;
  }
}

/** Odd 32-bit multipliers (an odd multiplier is a bijection modulo 2^32). */
function randomOddWords(n: number): Int32Array {
  const words = new Int32Array(n);
  globalThis.crypto.getRandomValues(words);
  for (let i = 0; i < n; i++) words[i] = (words[i] as number) | 1;
  return words;
}
