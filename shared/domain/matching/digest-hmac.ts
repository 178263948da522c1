/**
 * HMAC-SHA256 of 32-byte digests, many at a time: the keyed digest at rest (docs/privacy.md,
 * rule 6) without an HMAC object per digest. The pepper is absorbed once (the inner and outer pad
 * blocks are compressed up front), so each digest costs exactly two SHA-256 block compressions: the
 * inner block (digest, padding, length) and the outer block (inner hash, padding, length). The same
 * bytes as `createHmac('sha256', pepper).update(digest).digest()` (FIPS 198-1, FIPS 180-4).
 */

import { simdHmac, simdPrefixed } from './digest-hmac-simd.ts';
import { INITIAL_STATE, ROUND_CONSTANTS } from './sha256-constants.ts';

const BLOCK_BYTES = 64;
export const HMAC_BYTES = 32;
/** Bits hashed by the time the last block of either pass is compressed: one pad block + 32 bytes. */
const PASS_BITS = (BLOCK_BYTES + HMAC_BYTES) * 8;

/**
 * One SHA-256 compression: `out` = `state` after absorbing the 16 big-endian words in `w[0..15]`
 * (`w` has room for the 64-word schedule). `out` may be `state`.
 */
function compress(state: Int32Array, w: Int32Array, out: Int32Array): void {
  for (let t = 16; t < 64; t++) {
    const a = w[t - 15] as number;
    const b = w[t - 2] as number;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) | 0;
  }
  let a = state[0] as number;
  let b = state[1] as number;
  let c = state[2] as number;
  let d = state[3] as number;
  let e = state[4] as number;
  let f = state[5] as number;
  let g = state[6] as number;
  let h = state[7] as number;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + (ROUND_CONSTANTS[t] as number) + (w[t] as number)) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  out[0] = ((state[0] as number) + a) | 0;
  out[1] = ((state[1] as number) + b) | 0;
  out[2] = ((state[2] as number) + c) | 0;
  out[3] = ((state[3] as number) + d) | 0;
  out[4] = ((state[4] as number) + e) | 0;
  out[5] = ((state[5] as number) + f) | 0;
  out[6] = ((state[6] as number) + g) | 0;
  out[7] = ((state[7] as number) + h) | 0;
}

/** The state after one pad block: SHA-256's initial state compressed with (key XOR pad). */
function padStateFor(key: Uint8Array, pad: number): Int32Array {
  const w = new Int32Array(64);
  for (let i = 0; i < 16; i++) {
    let word = 0;
    for (let j = 0; j < 4; j++) word = (word << 8) | (((key[i * 4 + j] ?? 0) ^ pad) & 0xff);
    w[i] = word;
  }
  const out = new Int32Array(8);
  compress(INITIAL_STATE, w, out);
  return out;
}

/** Sets the padding words of a block whose first 8 words hold 32 bytes of a pass's message. */
function padTail(w: Int32Array): void {
  w[8] = 0x80000000 | 0;
  for (let i = 9; i < 15; i++) w[i] = 0;
  w[15] = PASS_BITS;
}

/** Reads the 32 bytes at `bytes[at..]` into `w[0..8]` as big-endian words. */
function readDigest(bytes: Uint8Array, at: number, w: Int32Array): void {
  for (let i = 0; i < 8; i++) {
    const o = at + i * 4;
    w[i] =
      ((bytes[o] as number) << 24) |
      ((bytes[o + 1] as number) << 16) |
      ((bytes[o + 2] as number) << 8) |
      (bytes[o + 3] as number);
  }
}

/** Writes eight words big-endian to `out[at..at+32]`. */
function writeDigest(words: Int32Array, out: Uint8Array, at: number): void {
  for (let i = 0; i < 8; i++) {
    const word = words[i] as number;
    out[at + i * 4] = word >>> 24;
    out[at + i * 4 + 1] = (word >>> 16) & 0xff;
    out[at + i * 4 + 2] = (word >>> 8) & 0xff;
    out[at + i * 4 + 3] = word & 0xff;
  }
}

/** Keys 32-byte digests with HMAC-SHA256 under one key, reusing its pad states and buffers. */
export interface DigestHmac {
  /**
   * Writes HMAC(key, digest i) for the `count` digests back to back in `digests` (32 bytes each,
   * from `from`) to `out` (32 bytes each, from `at`).
   */
  keyInto(digests: Uint8Array, from: number, count: number, out: Uint8Array, at: number): void;
}

/**
 * `simd`: four digests at a time with WebAssembly SIMD (digest-hmac-simd.ts) when the runtime has
 * it (the default), for batches of two or more; false: the scalar path only.
 */
export function createDigestHmac(key: Uint8Array, simd = true): DigestHmac {
  if (key.length > BLOCK_BYTES)
    throw new RangeError('digest HMAC: a key longer than 64 bytes must be hashed first');
  const inner = padStateFor(key, 0x36);
  const outer = padStateFor(key, 0x5c);
  return batchHash([inner, outer], simd ? simdHmac(inner, outer) : undefined);
}

/**
 * SHA-256 of `key` zero-padded to one 64-byte block, followed by a 32-byte digest: a keyed hash of
 * one block compression a digest (the key block is absorbed once), half an HMAC's cost. Every
 * message being the same length, a secret prefix is a sound keyed hash here (no length extension
 * applies); the list fingerprint uses it. Four at a time with WebAssembly SIMD where available.
 */
export function createPrefixedDigestHash(key: Uint8Array, simd = true): DigestHmac {
  if (key.length > BLOCK_BYTES) throw new RangeError('prefixed digest hash: a key is at most 64 bytes');
  const state = padStateFor(key, 0x00);
  return batchHash([state], simd ? simdPrefixed(state) : undefined);
}

/**
 * Hashes 32-byte digests in passes: each pass compresses one block (the digest, or the pass
 * before's hash, then padding) from its state; `lanes` does the same four at a time, when given,
 * for batches of two or more.
 */
function batchHash(
  passes: readonly Int32Array[],
  lanes:
    | ((digests: Uint8Array, from: number, count: number, out: Uint8Array, at: number) => void)
    | undefined,
): DigestHmac {
  const w = new Int32Array(64);
  const hashed = new Int32Array(8);
  return {
    keyInto(digests, from, count, out, at) {
      if (lanes && count > 1) {
        lanes(digests, from, count, out, at);
        return;
      }
      for (let n = 0; n < count; n++) {
        readDigest(digests, from + n * HMAC_BYTES, w);
        for (let pass = 0; pass < passes.length; pass++) {
          if (pass > 0) for (let i = 0; i < 8; i++) w[i] = hashed[i] as number;
          padTail(w);
          compress(passes[pass] as Int32Array, w, hashed);
        }
        writeDigest(hashed, out, at + n * HMAC_BYTES);
      }
    },
  };
}

/** A chain of HMACs (HMAC(k2, HMAC(k1, digest)), the pepper ring's rotation chain) over digests. */
export function createDigestHmacChain(keys: readonly Uint8Array[], simd = true): DigestHmac {
  const links = keys.map((key) => createDigestHmac(key, simd));
  if (links.length === 1) return links[0] as DigestHmac;
  return {
    keyInto(digests, from, count, out, at) {
      links.forEach((link, i) => {
        if (i === 0) link.keyInto(digests, from, count, out, at);
        else link.keyInto(out, at, count, out, at);
      });
    },
  };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url without padding of the 32 bytes at `at` (43 characters). */
export function base64url32(bytes: Uint8Array, at: number): string {
  let out = '';
  let i = at;
  const end = at + 30;
  for (; i < end; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out +=
      ALPHABET[n >>> 18] +
      (ALPHABET[(n >>> 12) & 63] as string) +
      ALPHABET[(n >>> 6) & 63] +
      ALPHABET[n & 63];
  }
  const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
  return out + ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63] + ALPHABET[(n >>> 6) & 63];
}
