/**
 * The totals reported for a list (rows, valid, invalid by reason, duplicates,
 * distinct) and a streaming accumulator for them.
 *
 * Distinct counting must hold millions of keys without a JS `Set<string>` (a 64-character string
 * costs ~100 bytes on the V8 heap plus the set entry). Keys that are digests (64 hex characters, or
 * 44 base64 characters, i.e. 32 bytes) are reduced to their first 16 bytes and stored in an
 * open-addressing hash table of `Uint32Array` words: 16 bytes per slot at a load factor of at most
 * 3/4, so 21 to 43 bytes per distinct key. Two different digests collide on a 128-bit prefix with
 * probability about n^2 / 2^129 (for n = 10^8 keys: ~1.5e-23), i.e. never in practice, so the count is
 * exact for any real list. Any other key shape falls back to an exact `Set<string>`.
 */
import type { ListSummary } from '../result/result-schema.ts';
import type { ClassifyOutcome } from './parse-list.ts';

/** The list totals, as the Result schema defines them (one definition for both). */
export type { ListSummary } from '../result/result-schema.ts';

export interface ListSummaryAccumulator {
  /** Counts one row. */
  add(outcome: ClassifyOutcome): void;
  /** Counts the rows of a part of the list counted elsewhere (another thread): as if added here. */
  merge(part: SummaryPart): void;
  /** The totals so far (a copy: later `add` calls do not change it). */
  snapshot(): ListSummary;
}

/**
 * The rows of one part of a list, in a form that crosses threads cheaply: counts, and the keys of
 * its valid rows reduced as the distinct count reduces them (16 bytes of a digest as 4 words).
 */
export interface SummaryPart {
  rows: number;
  invalidByReason: Record<string, number>;
  /** 4 words per digest-shaped key (`digestKeys` of them), in row order. */
  words: Uint32Array;
  digestKeys: number;
  /** Valid keys of any other shape. */
  otherKeys: string[];
}

/** Collects a SummaryPart (in a worker), to be merged into the list's accumulator. */
export function createSummaryPart(): { add(outcome: ClassifyOutcome): void; part(): SummaryPart } {
  let rows = 0;
  const invalidByReason: Record<string, number> = {};
  let words = new Uint32Array(4096 * 4);
  let digestKeys = 0;
  const otherKeys: string[] = [];
  return {
    add(outcome) {
      rows++;
      if (!outcome.ok) {
        invalidByReason[outcome.reason] = (invalidByReason[outcome.reason] ?? 0) + 1;
        return;
      }
      if ((digestKeys + 1) * 4 > words.length) {
        const grown = new Uint32Array(words.length * 2);
        grown.set(words);
        words = grown;
      }
      if (digestPrefix(outcome.key, words, digestKeys * 4)) digestKeys++;
      else otherKeys.push(outcome.key);
    },
    part: () => ({ rows, invalidByReason, words: words.slice(0, digestKeys * 4), digestKeys, otherKeys }),
  };
}

export function createListSummary(): ListSummaryAccumulator {
  let rows = 0;
  let valid = 0;
  let duplicates = 0;
  const invalidByReason = new Map<string, number>();
  const distinct = new DistinctKeys();
  return {
    add(outcome) {
      rows++;
      if (outcome.ok) {
        valid++;
        if (!distinct.add(outcome.key)) duplicates++;
      } else {
        invalidByReason.set(outcome.reason, (invalidByReason.get(outcome.reason) ?? 0) + 1);
      }
    },
    merge(part) {
      rows += part.rows;
      valid += part.digestKeys + part.otherKeys.length;
      for (const [reason, count] of Object.entries(part.invalidByReason)) {
        invalidByReason.set(reason, (invalidByReason.get(reason) ?? 0) + count);
      }
      const w = part.words;
      for (let k = 0; k < part.digestKeys; k++) {
        const at = k * 4;
        if (
          !distinct.addWords(w[at] as number, w[at + 1] as number, w[at + 2] as number, w[at + 3] as number)
        )
          duplicates++;
      }
      for (const key of part.otherKeys) if (!distinct.add(key)) duplicates++;
    },
    snapshot() {
      const byReason: Record<string, number> = {};
      let invalid = 0;
      for (const [reason, count] of [...invalidByReason].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        byReason[reason] = count;
        invalid += count;
      }
      return { rows, valid, invalid, invalidByReason: byReason, duplicates, distinct: valid - duplicates };
    },
  };
}

/** charCode -> hex nibble, or -1. */
const HEX = new Int8Array(128).fill(-1);
/** charCode -> base64 sextet (standard and url-safe alphabets), or -1. */
const B64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => {
  B64[c.charCodeAt(0)] = i;
});
B64['-'.charCodeAt(0)] = 62;
B64['_'.charCodeAt(0)] = 63;

const prefixBytes = new Uint8Array(16);
const prefixSextets = new Uint8Array(22);

/**
 * Writes a key's first 16 bytes as 4 words to `w` from `at` when it is a 32-byte digest (hex or
 * base64); false for any other key.
 */
export function digestPrefix(key: string, w: Uint32Array, at: number): boolean {
  if (key.length === 64) {
    for (let i = 32; i < 64; i++) {
      const c = key.charCodeAt(i);
      if (c > 127 || (HEX[c] as number) < 0) return false;
    }
    for (let word = 0; word < 4; word++) {
      let v = 0;
      for (let j = 0; j < 8; j++) {
        const c = key.charCodeAt(word * 8 + j);
        const n = c > 127 ? -1 : (HEX[c] as number);
        if (n < 0) return false;
        v = (v << 4) | n;
      }
      w[at + word] = v >>> 0;
    }
    return true;
  }
  if (key.length === 44 || key.length === 43) {
    // 32 bytes in base64: 43 significant characters (+ one '=' when padded). The first 22
    // characters carry 132 bits: the 128 bits of the prefix sit in them.
    for (let i = 22; i < 43; i++) {
      const c = key.charCodeAt(i);
      if (c > 127 || (B64[c] as number) < 0) return false;
    }
    if (key.length === 44 && key.charCodeAt(43) !== 61) return false;
    const bytes = prefixBytes;
    for (let i = 0; i < 22; i++) {
      const c = key.charCodeAt(i);
      const n = c > 127 ? -1 : (B64[c] as number);
      if (n < 0) return false;
      prefixSextets[i] = n;
    }
    const s = prefixSextets;
    for (let g = 0; g < 5; g++) {
      const a = s[g * 4] as number;
      const b = s[g * 4 + 1] as number;
      const c = s[g * 4 + 2] as number;
      const d = s[g * 4 + 3] as number;
      bytes[g * 3] = (a << 2) | (b >> 4);
      bytes[g * 3 + 1] = ((b & 15) << 4) | (c >> 2);
      bytes[g * 3 + 2] = ((c & 3) << 6) | d;
    }
    bytes[15] = ((s[20] as number) << 2) | ((s[21] as number) >> 4);
    for (let word = 0; word < 4; word++) {
      const b = word * 4;
      w[at + word] =
        (((bytes[b] as number) << 24) |
          ((bytes[b + 1] as number) << 16) |
          ((bytes[b + 2] as number) << 8) |
          (bytes[b + 3] as number)) >>>
        0;
    }
    return true;
  }
  return false;
}

const MIN_CAPACITY = 1024;

/**
 * An exact-in-practice set of keys: digest-shaped keys by their 128-bit prefix in a growing
 * linear-probing table, anything else in a `Set<string>`.
 */
export class DistinctKeys {
  /** 4 words per slot; the all-zero prefix marks an empty slot (the real all-zero prefix is a flag). */
  private table = new Uint32Array(MIN_CAPACITY * 4);
  private mask = MIN_CAPACITY - 1;
  private used = 0;
  private hasZero = false;
  private readonly others = new Set<string>();
  private readonly words = new Uint32Array(4);
  private readonly seed = (Math.random() * 0x100000000) >>> 0;

  /** Adds the key; false when it was already present. */
  add(key: string): boolean {
    const w = this.words;
    if (!digestPrefix(key, w, 0)) {
      if (this.others.has(key)) return false;
      this.others.add(key);
      return true;
    }
    return this.addWords(w[0] as number, w[1] as number, w[2] as number, w[3] as number);
  }

  /** Adds a digest-shaped key by its 4 prefix words (digestPrefix); false when already present. */
  addWords(w0: number, w1: number, w2: number, w3: number): boolean {
    if ((w0 | w1 | w2 | w3) === 0) {
      if (this.hasZero) return false;
      this.hasZero = true;
      return true;
    }
    if (!this.insert(this.table, this.mask, w0, w1, w2, w3)) return false;
    this.used++;
    if (this.used * 4 > (this.mask + 1) * 3) this.grow();
    return true;
  }

  get size(): number {
    return this.used + (this.hasZero ? 1 : 0) + this.others.size;
  }

  /**
   * Linear probing from a seeded mix of all four words. Digests are uniform anyway, but hashed
   * values are passed through from the input: the per-table random seed keeps a crafted list of
   * look-alike prefixes from piling into one probe chain (quadratic time).
   */
  private insert(table: Uint32Array, mask: number, w0: number, w1: number, w2: number, w3: number): boolean {
    let h = Math.imul(w0 ^ this.seed, 0x9e3779b1);
    h = Math.imul(h ^ w1 ^ (h >>> 15), 0x85ebca77);
    h = Math.imul(h ^ w2 ^ (h >>> 13), 0xc2b2ae3d);
    h = Math.imul(h ^ w3 ^ (h >>> 16), 0x27d4eb2f);
    let slot = (h ^ (h >>> 15)) & mask;
    for (;;) {
      const at = slot * 4;
      const t0 = table[at] as number;
      const t1 = table[at + 1] as number;
      const t2 = table[at + 2] as number;
      const t3 = table[at + 3] as number;
      if ((t0 | t1 | t2 | t3) === 0) {
        table[at] = w0;
        table[at + 1] = w1;
        table[at + 2] = w2;
        table[at + 3] = w3;
        return true;
      }
      if (t0 === w0 && t1 === w1 && t2 === w2 && t3 === w3) return false;
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const old = this.table;
    const capacity = (this.mask + 1) * 2;
    const table = new Uint32Array(capacity * 4);
    const mask = capacity - 1;
    for (let at = 0; at < old.length; at += 4) {
      const w0 = old[at] as number;
      const w1 = old[at + 1] as number;
      const w2 = old[at + 2] as number;
      const w3 = old[at + 3] as number;
      if ((w0 | w1 | w2 | w3) !== 0) this.insert(table, mask, w0, w1, w2, w3);
    }
    this.table = table;
    this.mask = mask;
  }
}
