/**
 * A set of 32-byte digests (list digests, or keyed digests), each numbered in insertion order:
 * open addressing over typed arrays, the digests back to back in one buffer. No string or object
 * per digest, so a shard of a million digests costs about 48 bytes each.
 *
 * Digests come from the advertiser's upload, so they may be chosen to collide: the slot hash mixes
 * all 32 bytes with multipliers drawn at random per table, so no fixed set of digests can pile up
 * in one probe chain. A slot holds the digest's full hash beside its number, so a probe reads one
 * cache line and compares the 32 bytes (as eight words) only when the hashes agree.
 */

const BYTES = 32;
const WORDS = 8;
const MIN_SLOTS = 1024;
/** Words are read in the platform's order, so the digest buffer and its word view agree. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class DigestTable {
  /** The digests, numbered from 0, back to back (a view of `words`). */
  private digests: Uint8Array;
  /** The same bytes as 32-bit words in platform order, 8 a digest. */
  private words: Int32Array;
  /** Open-addressed slots, two words each: the digest's hash, and its number + 1 (0 when empty). */
  private slots: Int32Array;
  /** Slot count - 1. */
  private mask: number;
  private readonly mix: Int32Array;
  /** The words of the digest being looked up. */
  private readonly probe = new Int32Array(WORDS);
  private count = 0;
  private batchHashes = new Int32Array(0);
  /** Kept so the reads that only warm the caches are not optimized away. */
  touched = 0;

  constructor(expected = 0, seedWords?: Int32Array) {
    let slots = MIN_SLOTS;
    while (slots < expected * 2) slots *= 2;
    this.slots = new Int32Array(slots * 2);
    this.mask = slots - 1;
    const capacity = slots >>> 1;
    this.words = new Int32Array(capacity * WORDS);
    this.digests = new Uint8Array(this.words.buffer);
    this.mix = seedWords ?? randomOddWords(9);
  }

  /**
   * Empties the table for reuse (the next shard matched in the same process): its buffers are kept
   * when they can hold `expected` digests, so no memory is allocated again.
   */
  clear(expected = 0): this {
    let slots = MIN_SLOTS;
    while (slots < expected * 2) slots *= 2;
    if (slots > this.mask + 1) {
      this.slots = new Int32Array(slots * 2);
      this.mask = slots - 1;
      this.words = new Int32Array((slots >>> 1) * WORDS);
      this.digests = new Uint8Array(this.words.buffer);
    } else this.slots.fill(0);
    this.count = 0;
    return this;
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
    const slots = this.slots;
    const mask = this.mask;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const entry = slots[2 * s + 1] as number;
      if (entry === 0) return -1;
      if (slots[2 * s] === h && this.equals(entry - 1)) return entry - 1;
    }
  }

  /**
   * `find` of `count` digests back to back in `source` from `from`, into `out[0..count]`. In
   * passes over the batch (hashes, then the slots, then the digests), so the memory reads of
   * different digests overlap instead of waiting one after another: what a table much larger than
   * the CPU caches (a partner's audience) needs. When `beside` is given, each candidate's entry
   * `beside[number * besideWords]` is read with its digest (the caller's data per digest number,
   * warmed in the same pass).
   */
  findMany(
    source: Uint8Array,
    from: number,
    count: number,
    out: Int32Array,
    beside?: Int32Array,
    besideWords = 0,
  ): void {
    if (this.batchHashes.length < count) this.batchHashes = new Int32Array(count);
    const hashes = this.batchHashes;
    const slots = this.slots;
    const mask = this.mask;
    // Aligned digests are read as words (eight reads a digest instead of thirty-two).
    const at = source.byteOffset + from;
    const sourceWords =
      at % 4 === 0 && count > 0 ? new Int32Array(source.buffer, at, count * WORDS) : undefined;
    let touched = 0;
    for (let i = 0; i < count; i++) {
      const h = sourceWords ? this.hashWords(sourceWords, i * WORDS) : this.hash(source, from + i * BYTES);
      hashes[i] = h;
      touched ^= slots[2 * (h & mask) + 1] as number;
    }
    const words = this.words;
    for (let i = 0; i < count; i++) {
      const h = hashes[i] as number;
      let candidate = -1;
      for (let s = h & mask; ; s = (s + 1) & mask) {
        const entry = slots[2 * s + 1] as number;
        if (entry === 0) break;
        if (slots[2 * s] === h) {
          candidate = entry - 1;
          break;
        }
      }
      out[i] = candidate;
      if (candidate !== -1) {
        touched ^= words[candidate * WORDS] as number;
        if (beside) touched ^= beside[candidate * besideWords] as number;
      }
    }
    const digests = this.digests;
    for (let i = 0; i < count; i++) {
      const candidate = out[i] as number;
      if (candidate === -1) continue;
      const a = from + i * BYTES;
      let same = true;
      if (sourceWords) {
        for (let j = 0; j < WORDS; j++)
          if (sourceWords[i * WORDS + j] !== words[candidate * WORDS + j]) {
            same = false;
            break;
          }
      } else {
        const b = candidate * BYTES;
        for (let j = 0; j < BYTES; j++)
          if (source[a + j] !== digests[b + j]) {
            same = false;
            break;
          }
      }
      // A hash collision: the whole probe again (rare).
      if (!same) out[i] = this.find(source, a);
    }
    this.touched = touched;
  }

  /**
   * The number of the digest at `source[from..from+32]`, added when absent: a new digest gets the
   * next number (`size` before the call), so `add(...) === size - 1` tells a new one.
   */
  add(source: Uint8Array, from: number): number {
    return this.addHashed(this.hash(source, from));
  }

  /**
   * `add` of the digest held by `source[at..at+8]`, an Int32Array over its bytes (so read in the
   * platform's order, as `add` reads them): eight reads instead of thirty-two, for digests packed
   * back to back.
   */
  addWords(source: Int32Array, at: number): number {
    return this.addHashed(this.hashWords(source, at));
  }

  /** Reads the digest at `source[at..at+8]` into `probe` and returns its slot hash (as `hash` does its bytes). */
  private hashWords(source: Int32Array, at: number): number {
    const mix = this.mix;
    const probe = this.probe;
    let h = mix[8] as number;
    for (let i = 0; i < WORDS; i++) {
      const word = source[at + i] as number;
      probe[i] = word;
      h = Math.imul(h ^ word, mix[i] as number);
      h ^= h >>> 15;
    }
    return h;
  }

  /**
   * `addWords` of `count` digests back to back in `source` from word `at`, their numbers into
   * `out[0..count]`, in order (so a digest new to the table gets the next number, as with `add`).
   * Hashes them first and reads their slots, then adds them: the slot reads of different digests
   * overlap instead of waiting one after another.
   */
  addManyWords(source: Int32Array, at: number, count: number, out: Int32Array): void {
    if (this.batchHashes.length < count) this.batchHashes = new Int32Array(count);
    const hashes = this.batchHashes;
    const mix = this.mix;
    const slots = this.slots;
    const mask = this.mask;
    let touched = 0;
    for (let d = 0; d < count; d++) {
      const from = at + d * WORDS;
      let h = mix[8] as number;
      for (let i = 0; i < WORDS; i++) {
        h = Math.imul(h ^ (source[from + i] as number), mix[i] as number);
        h ^= h >>> 15;
      }
      hashes[d] = h;
      touched ^= slots[2 * (h & mask) + 1] as number;
    }
    this.touched = touched;
    const probe = this.probe;
    for (let d = 0; d < count; d++) {
      const from = at + d * WORDS;
      for (let i = 0; i < WORDS; i++) probe[i] = source[from + i] as number;
      out[d] = this.addHashed(hashes[d] as number);
    }
  }

  /** `add` once `probe` holds the digest's words and `h` is their hash. */
  private addHashed(h: number): number {
    let slots = this.slots;
    let mask = this.mask;
    let s = h & mask;
    for (; ; s = (s + 1) & mask) {
      const entry = slots[2 * s + 1] as number;
      if (entry === 0) break;
      if (slots[2 * s] === h && this.equals(entry - 1)) return entry - 1;
    }
    const index = this.count;
    if ((index + 1) * 2 > mask + 1) {
      this.grow();
      slots = this.slots;
      mask = this.mask;
      for (s = h & mask; slots[2 * s + 1] !== 0; s = (s + 1) & mask);
    }
    const words = this.words;
    const probe = this.probe;
    const at = index * WORDS;
    for (let i = 0; i < WORDS; i++) words[at + i] = probe[i] as number;
    slots[2 * s] = h;
    slots[2 * s + 1] = index + 1;
    this.count++;
    return index;
  }

  /** Whether digest `index` has the words in `probe`. */
  private equals(index: number): boolean {
    const words = this.words;
    const probe = this.probe;
    const at = index * WORDS;
    for (let i = 0; i < WORDS; i++) if (words[at + i] !== probe[i]) return false;
    return true;
  }

  /** Reads the digest's words into `probe` and returns its slot hash. */
  private hash(b: Uint8Array, at: number): number {
    const mix = this.mix;
    const probe = this.probe;
    let h = mix[8] as number;
    for (let i = 0; i < WORDS; i++) {
      const o = at + i * 4;
      const word = LITTLE_ENDIAN
        ? (b[o] as number) |
          ((b[o + 1] as number) << 8) |
          ((b[o + 2] as number) << 16) |
          ((b[o + 3] as number) << 24)
        : ((b[o] as number) << 24) |
          ((b[o + 1] as number) << 16) |
          ((b[o + 2] as number) << 8) |
          (b[o + 3] as number);
      probe[i] = word;
      h = Math.imul(h ^ word, mix[i] as number);
      h ^= h >>> 15;
    }
    return h;
  }

  private grow(): void {
    const old = this.slots;
    const size = old.length; // twice the new slot count's half: the new slot count is old.length
    const slots = new Int32Array(size * 2);
    const mask = size - 1;
    for (let i = 0; i < old.length; i += 2) {
      const entry = old[i + 1] as number;
      if (entry === 0) continue;
      const h = old[i] as number;
      let s = h & mask;
      while (slots[2 * s + 1] !== 0) s = (s + 1) & mask;
      slots[2 * s] = h;
      slots[2 * s + 1] = entry;
    }
    this.slots = slots;
    this.mask = mask;
    const capacity = size >>> 1;
    const words = new Int32Array(capacity * WORDS);
    words.set(this.words.subarray(0, this.count * WORDS));
    this.words = words;
    this.digests = new Uint8Array(words.buffer);
  }
}

/** Odd 32-bit multipliers (an odd multiplier is a bijection modulo 2^32). */
function randomOddWords(n: number): Int32Array {
  const words = new Int32Array(n);
  globalThis.crypto.getRandomValues(words);
  for (let i = 0; i < n; i++) words[i] = (words[i] as number) | 1;
  return words;
}
