/**
 * Deterministic synthetic data for the benches: digests, partner memberships and lists with
 * duplicates. Everything comes from a seed, so every run (and every process) sees the same data.
 */
import { hash } from 'node:crypto';
import { seededRandom } from '../local/synthetic-data.ts';

/** The same seedable PRNG as the demo data: one implementation. */
export const prng = seededRandom;

/** 32-bit words from the PRNG. */
function word(rnd: () => number): number {
  return (rnd() * 4294967296) >>> 0;
}

/** `count` pseudo-random 32-byte digests in one buffer (digest i at i * 32). */
export function randomDigests(count: number, seed: number): Uint8Array {
  const rnd = prng(seed);
  const out = new Uint8Array(count * 32);
  const view = new DataView(out.buffer);
  for (let i = 0; i < out.length; i += 4) view.setUint32(i, word(rnd));
  return out;
}

/** The i-th digest of a flat buffer, as a view (no copy). */
export function digestAt(buffer: Uint8Array, i: number): Uint8Array {
  return buffer.subarray(i * 32, i * 32 + 32);
}

/**
 * A digest derived from a label with SHA-256: random access, identical in every process
 * (the memory-10m parent writes the list and its child rebuilds the partner from the same labels).
 */
export function labelDigestHex(label: string): string {
  return hash('sha256', label, 'hex');
}

export function labelDigest(label: string): Uint8Array {
  return new Uint8Array(Buffer.from(labelDigestHex(label), 'hex'));
}

export const segmentIdOf = (s: number) => `s${String(s + 1).padStart(2, '0')}`;

/**
 * Segment memberships of a partner: each member in 1 to 3 distinct segments (2 on average), drawn
 * with a skew so segment sizes differ (a few big segments, a long tail), as in real catalogs.
 * Returns `segs[member * 3 + j]` (0xff = none) and the member's count in `counts`.
 */
export function partnerMemberships(
  members: number,
  segmentCount: number,
  seed: number,
): { counts: Uint8Array; segs: Uint8Array; memberships: number } {
  const rnd = prng(seed);
  const counts = new Uint8Array(members);
  const segs = new Uint8Array(members * 3).fill(0xff);
  let memberships = 0;
  for (let m = 0; m < members; m++) {
    const n = 1 + Math.floor(rnd() * 3);
    let k = 0;
    while (k < n) {
      const s = Math.floor(segmentCount * rnd() ** 1.6);
      let dup = false;
      for (let j = 0; j < k; j++) if (segs[m * 3 + j] === s) dup = true;
      if (dup) continue;
      segs[m * 3 + k] = s;
      k++;
    }
    counts[m] = n;
    memberships += n;
  }
  return { counts, segs, memberships };
}

/** Member indexes per segment. */
export function membersBySegment(
  p: { counts: Uint8Array; segs: Uint8Array },
  segmentCount: number,
): number[][] {
  const out: number[][] = Array.from({ length: segmentCount }, () => []);
  for (let m = 0; m < p.counts.length; m++) {
    for (let j = 0; j < (p.counts[m] as number); j++) out[p.segs[m * 3 + j] as number]?.push(m);
  }
  return out;
}

/** Fisher-Yates shuffle in place, deterministic. */
export function shuffle<T>(xs: T[], seed: number): T[] {
  const rnd = prng(seed);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = xs[i] as T;
    xs[i] = xs[j] as T;
    xs[j] = t;
  }
  return xs;
}
