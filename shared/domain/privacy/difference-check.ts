/**
 * Difference checks (PRODUCT.md rule 4): the "list, then list plus one victim" attack and its
 * variants. Each match keeps, per segment, the set of its matched people as 64-bit keyed digests
 * (scoped to the advertiser and partner, so they link to nothing else). A later match of the same
 * advertiser against the same partner with a different list suppresses every segment whose matched
 * set differs from an earlier one by fewer than k people: 0 included, so that "the victim is not
 * in this segment" (a difference of 0) looks exactly like "the victim is in it" (a difference of
 * 1). The matched total is checked the same way. Identical lists are replays, handled apart.
 */

/** What one match leaves behind for later checks. Digests are sorted, distinct, 16 hex chars. */
export interface MatchedSets {
  /** Order- and duplicate-independent fingerprint of the list's distinct people. */
  listFingerprint: string;
  distinct: number;
  union: readonly string[];
  segments: Readonly<Record<string, readonly string[]>>;
}

export interface DifferenceVerdict {
  /** Segments to suppress with reason `difference-check`. */
  segments: Set<string>;
  /** Whether the matched total must be withheld too. */
  total: boolean;
  /** Earlier matches compared (different lists only). */
  compared: number;
}

/** |a Δ b| for sorted arrays of distinct strings, by one merge pass. */
export function symmetricDifferenceSize(a: readonly string[], b: readonly string[]): number {
  let i = 0;
  let j = 0;
  let common = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as string;
    const y = b[j] as string;
    if (x === y) {
      common++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return a.length + b.length - 2 * common;
}

/** True when `d` people of difference could single someone out: fewer than k, zero included. */
const tooClose = (d: number, k: number) => d < k;

const MASK = (1n << 64n) - 1n;

/** Adds 64-bit digests modulo 2^64: the same distinct people in any order give the same sum. */
export function fingerprintAdd(sum: bigint, digest16: string): bigint {
  return (sum + BigInt(`0x${digest16}`)) & MASK;
}

/**
 * The same check, shard by shard: a person's digest decides its shard, so with the same shard
 * count the symmetric differences of two matches add up over their shards. Only one shard of the
 * current match and of one earlier match need be in memory at a time.
 */
export class ShardedDifferenceCheck {
  /** Per earlier match: the running difference of the union and of each segment. */
  private readonly union: number[];
  private readonly segments: Map<string, number>[];

  constructor(
    private readonly segmentIds: readonly string[],
    earlierCount: number,
  ) {
    this.union = new Array(earlierCount).fill(0);
    this.segments = Array.from({ length: earlierCount }, () => new Map(segmentIds.map((id) => [id, 0])));
  }

  /** Adds one shard of the current match against the same shard of earlier match `index`. */
  add(index: number, current: MatchedSets, earlier: MatchedSets): void {
    this.union[index] = (this.union[index] ?? 0) + symmetricDifferenceSize(current.union, earlier.union);
    const perSegment = this.segments[index] as Map<string, number>;
    for (const id of this.segmentIds) {
      const d = symmetricDifferenceSize(current.segments[id] ?? [], earlier.segments[id] ?? []);
      perSegment.set(id, (perSegment.get(id) ?? 0) + d);
    }
  }

  /** Suppresses where any earlier match compared differs by fewer than k people (zero included). */
  verdict(k: number, compared: readonly number[]): DifferenceVerdict {
    const verdict: DifferenceVerdict = { segments: new Set(), total: false, compared: compared.length };
    for (const index of compared) {
      if (tooClose(this.union[index] ?? 0, k)) verdict.total = true;
      for (const [id, d] of this.segments[index] ?? []) if (tooClose(d, k)) verdict.segments.add(id);
    }
    return verdict;
  }
}

/** Sums shard fingerprints (each a sum of 64-bit digests) into the whole list's. */
export function combineFingerprints(fingerprints: Iterable<string>): string {
  let sum = 0n;
  for (const f of fingerprints) sum = (sum + BigInt(`0x${f}`)) & MASK;
  return sum.toString(16).padStart(16, '0');
}
