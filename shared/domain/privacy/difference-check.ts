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

export function differenceCheck(
  current: MatchedSets,
  earlier: readonly MatchedSets[],
  segmentIds: readonly string[],
  k: number,
): DifferenceVerdict {
  const verdict: DifferenceVerdict = { segments: new Set(), total: false, compared: 0 };
  for (const before of earlier) {
    if (before.listFingerprint === current.listFingerprint) continue;
    verdict.compared++;
    if (tooClose(symmetricDifferenceSize(current.union, before.union), k)) verdict.total = true;
    for (const id of segmentIds) {
      if (verdict.segments.has(id)) continue;
      const d = symmetricDifferenceSize(current.segments[id] ?? [], before.segments[id] ?? []);
      if (tooClose(d, k)) verdict.segments.add(id);
    }
  }
  return verdict;
}

const MASK = (1n << 64n) - 1n;

/** Adds 64-bit digests modulo 2^64: the same distinct people in any order give the same sum. */
export function fingerprintAdd(sum: bigint, digest16: string): bigint {
  return (sum + BigInt(`0x${digest16}`)) & MASK;
}

/** Merges disjoint shards' sets (shards split people by hash prefix, so nobody is in two). */
export function mergeMatchedSets(parts: readonly MatchedSets[]): MatchedSets {
  let sum = 0n;
  let distinct = 0;
  const union: string[] = [];
  const segments: Record<string, string[]> = {};
  for (const p of parts) {
    sum = (sum + BigInt(`0x${p.listFingerprint}`)) & MASK;
    distinct += p.distinct;
    // Loops, not push(...spread): a shard can hold more digests than a call has arguments.
    for (const d of p.union) union.push(d);
    for (const [id, digests] of Object.entries(p.segments)) {
      const merged = segments[id] ?? [];
      segments[id] = merged;
      for (const d of digests) merged.push(d);
    }
  }
  union.sort();
  for (const list of Object.values(segments)) list.sort();
  return { listFingerprint: sum.toString(16).padStart(16, '0'), distinct, union, segments };
}
