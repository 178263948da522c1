/**
 * A list's fingerprint, for replays: the sum modulo 2^64 of one keyed 64-bit digest per distinct
 * person, so the same people in any order, with any duplicates and split into any shards, give the
 * same fingerprint, and nothing per person needs to be kept to compute it.
 */

const MASK = (1n << 64n) - 1n;

/** Adds one 64-bit digest (16 hex characters) to a running sum. */
export function fingerprintAdd(sum: bigint, digest16: string): bigint {
  return (sum + BigInt(`0x${digest16}`)) & MASK;
}

/** Sums shard fingerprints (each a sum of 64-bit digests) into the whole list's. */
export function combineFingerprints(fingerprints: Iterable<string>): string {
  let sum = 0n;
  for (const f of fingerprints) sum = (sum + BigInt(`0x${f}`)) & MASK;
  return sum.toString(16).padStart(16, '0');
}
