/**
 * A list's fingerprint, for replays: the sum modulo 2^64 of one keyed 64-bit digest per distinct
 * person, so the same people in any order, with any duplicates and split into any shards, give the
 * same fingerprint, and nothing per person needs to be kept to compute it.
 *
 * Under a secret 32-byte scope (per advertiser and partner, from a key rotation never removes):
 * - a person's primary identifier counts as the first 8 bytes of SHA-256(scope zero-padded to one
 *   64-byte block, digest), keyed 512 at a time (digest-hmac.ts, createPrefixedDigestHash: one
 *   block compression each, four at a time with SIMD);
 * - each further identifier of a person as the first 8 bytes of
 *   SHA-256(scope, primary digest, kind tag, digest).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { createPrefixedDigestHash, type DigestHmac } from '../matching/digest-hmac.ts';
import type { PeopleSink, TaggedDigest } from '../matching/match-shard.ts';
import { KIND_TAGS } from '../model.ts';

const MASK = (1n << 64n) - 1n;
const DIGEST_BYTES = 32;
/** Primary identifiers hashed per call of the batch hash. */
const BATCH = 512;
const TWO_32 = 2 ** 32;

/** Sums shard fingerprints (each a sum of 64-bit digests) into the whole list's. */
export function combineFingerprints(fingerprints: Iterable<string>): string {
  let sum = 0n;
  for (const f of fingerprints) sum = (sum + BigInt(`0x${f}`)) & MASK;
  return sum.toString(16).padStart(16, '0');
}

/** The running fingerprint of one shard's people (or a whole list's). */
export class ListFingerprint implements PeopleSink {
  private readonly hash: DigestHmac;
  private readonly keyed = new Uint8Array(BATCH * DIGEST_BYTES);
  private readonly pairInput: Uint8Array;
  /** The sum modulo 2^64 as two 32-bit halves. */
  private high = 0;
  private low = 0;

  constructor(scope: Uint8Array) {
    if (scope.length !== DIGEST_BYTES) throw new RangeError('a fingerprint scope is 32 bytes');
    this.hash = createPrefixedDigestHash(scope);
    this.pairInput = new Uint8Array(DIGEST_BYTES + 2 * DIGEST_BYTES + 1);
    this.pairInput.set(scope);
  }

  /** Adds distinct primary identifiers: `count` digests back to back in `digests` from `from`. */
  primaries(digests: Uint8Array, from: number, count: number): void {
    const keyed = this.keyed;
    for (let done = 0; done < count; ) {
      const n = Math.min(BATCH, count - done);
      this.hash.keyInto(digests, from + done * DIGEST_BYTES, n, keyed, 0);
      for (let i = 0; i < n; i++) this.addLeading(keyed, i * DIGEST_BYTES);
      done += n;
    }
  }

  /** Adds a distinct pair of a person's primary identifier and a further identifier of it. */
  pair(primary: Uint8Array, id: TaggedDigest): void {
    const pair = this.pairInput;
    pair.set(primary, DIGEST_BYTES);
    pair[2 * DIGEST_BYTES] = KIND_TAGS[id.kind].charCodeAt(0);
    pair.set(id.digest, 2 * DIGEST_BYTES + 1);
    this.addLeading(sha256(pair), 0);
  }

  /** The fingerprint so far: 16 hex characters. */
  value(): string {
    return (BigInt(this.high) * BigInt(TWO_32) + BigInt(this.low)).toString(16).padStart(16, '0');
  }

  /** Adds the big-endian 64-bit number at `bytes[at..at+8]`. */
  private addLeading(bytes: Uint8Array, at: number): void {
    const high =
      (((bytes[at] as number) << 24) |
        ((bytes[at + 1] as number) << 16) |
        ((bytes[at + 2] as number) << 8) |
        (bytes[at + 3] as number)) >>>
      0;
    const low =
      (((bytes[at + 4] as number) << 24) |
        ((bytes[at + 5] as number) << 16) |
        ((bytes[at + 6] as number) << 8) |
        (bytes[at + 7] as number)) >>>
      0;
    let sumLow = this.low + low;
    let carry = 0;
    if (sumLow >= TWO_32) {
      sumLow -= TWO_32;
      carry = 1;
    }
    this.low = sumLow;
    this.high = (this.high + high + carry) % TWO_32;
  }
}
