/**
 * HMAC-SHA256 of 32-byte digests four at a time with WebAssembly SIMD: each lane of an i32x4 is one
 * digest's SHA-256 word, so one pass over the 64 rounds compresses four blocks. The module is
 * written here as bytes (no build step, no binary file): `run(groups)` keys `groups` x 4 digests
 * from the input area of its memory into the output area, with the inner and outer pad states
 * (absorbed once per key, in JS) at the start of its memory; `prefixed(groups)` does the inner
 * pass alone (SHA-256 of a key block then the digest: the list fingerprint's keyed hash). The same bytes as the
 * scalar path in digest-hmac.ts; where WebAssembly SIMD is missing, `simdHmac` returns undefined and
 * the scalar path is used.
 */

import { ROUND_CONSTANTS } from './sha256-constants.ts';

/** Digests keyed per call of the module's `run` at most (its input and output areas). */
export const SIMD_BATCH = 512;
const INNER_AT = 0;
const OUTER_AT = 32;
const IN_AT = 1024;
const OUT_AT = IN_AT + SIMD_BATCH * 32;

// --- A small WebAssembly writer ------------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];

const SIMD = 0xfd;
const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n | 0)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  v128Load: (offset: number) => [SIMD, 0x00, 4, ...uleb(offset)],
  v128Load32Splat: (offset: number) => [SIMD, 0x09, 2, ...uleb(offset)],
  v128Store: (offset: number) => [SIMD, 0x0b, 4, ...uleb(offset)],
  splat: (n: number) => [
    SIMD,
    0x0c,
    ...[0, 1, 2, 3].flatMap(() => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24]),
  ],
  shuffle: (lanes: number[]) => [SIMD, 0x0d, ...lanes],
  and: [SIMD, 0x4e],
  or: [SIMD, 0x50],
  xor: [SIMD, 0x51],
  bitselect: [SIMD, 0x52],
  shl: [SIMD, ...uleb(0xab)],
  shrU: [SIMD, ...uleb(0xad)],
  add: [SIMD, ...uleb(0xae)],
};

/**
 * The body of a function that hashes `groups` x 4 digests: with `outer`, HMAC's two passes (inner
 * state, then outer state over the inner hash); without, the first pass alone (SHA-256 of the
 * inner state's key block followed by the digest).
 */
function functionBody(outer: boolean): number[] {
  // Locals: 0 = groups (param), 1 = group pointer; then v128: w0..w15, the 8 working variables, temporaries.
  const GROUPS = 0;
  const PTR = 1;
  const W = 2;
  const V = W + 16;
  const T = V + 8;
  const TEMPS = 9;
  const code: number[] = [];
  const emit = (...parts: (number[] | number)[]) => {
    for (const p of parts) {
      if (typeof p === 'number') code.push(p);
      else for (const b of p) code.push(b);
    }
  };
  const rotr = (x: number, n: number) => {
    emit(op.localGet(x), op.i32Const(n), op.shrU, op.localGet(x), op.i32Const(32 - n), op.shl, op.or);
  };
  /** Pushes rotr(x,a) ^ rotr(x,b) ^ (rotr(x,c) or x >>> c). */
  const sigma = (x: number, a: number, b: number, c: number, shift: boolean) => {
    rotr(x, a);
    rotr(x, b);
    emit(op.xor);
    if (shift) emit(op.localGet(x), op.i32Const(c), op.shrU);
    else rotr(x, c);
    emit(op.xor);
  };
  /** Compresses the block in w0..w15 with the state at `stateAt` (splatted); the result in w0..w7. */
  const compress = (stateAt: number) => {
    for (let i = 0; i < 8; i++) emit(op.i32Const(0), op.v128Load32Splat(stateAt + 4 * i), op.localSet(V + i));
    // Working variable names a..h, as local indices (renamed each round instead of moved).
    let [a, b, c, d, e, f, g, h] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => V + i) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const t1 = T;
    for (let t = 0; t < 64; t++) {
      const wt = W + (t % 16);
      if (t >= 16) {
        // w[t] = s1(w[t-2]) + w[t-7] + s0(w[t-15]) + w[t-16]
        sigma(W + ((t - 2) % 16), 17, 19, 10, true);
        emit(op.localGet(W + ((t - 7) % 16)), op.add);
        sigma(W + ((t - 15) % 16), 7, 18, 3, true);
        emit(op.add, op.localGet(wt), op.add, op.localSet(wt));
      }
      // t1 = h + S1(e) + ch(e, f, g) + K[t] + w[t]
      emit(op.localGet(h));
      sigma(e, 6, 11, 25, false);
      emit(op.add, op.localGet(f), op.localGet(g), op.localGet(e), op.bitselect, op.add);
      emit(op.splat(ROUND_CONSTANTS[t] as number), op.add, op.localGet(wt), op.add, op.localSet(t1));
      // e' = d + t1 (in d's local); a' = t1 + S0(a) + maj(a, b, c) (in h's local)
      emit(op.localGet(d), op.localGet(t1), op.add, op.localSet(d));
      emit(op.localGet(t1));
      sigma(a, 2, 13, 22, false);
      emit(
        op.add,
        op.localGet(c),
        op.localGet(b),
        op.localGet(a),
        op.localGet(b),
        op.xor,
        op.bitselect,
        op.add,
      );
      emit(op.localSet(h));
      [a, b, c, d, e, f, g, h] = [h, a, b, c, d, e, f, g];
    }
    const final = [a, b, c, d, e, f, g, h];
    for (let i = 0; i < 8; i++)
      emit(
        op.localGet(final[i] as number),
        op.i32Const(0),
        op.v128Load32Splat(stateAt + 4 * i),
        op.add,
        op.localSet(W + i),
      );
  };
  const padTail = () => {
    emit(op.splat(0x80000000), op.localSet(W + 8));
    for (let i = 9; i < 15; i++) emit(op.splat(0), op.localSet(W + i));
    emit(op.splat((64 + 32) * 8), op.localSet(W + 15));
  };
  const bytesOf = (words: number[], reverse: boolean) =>
    words.flatMap((w) =>
      reverse ? [w * 4 + 3, w * 4 + 2, w * 4 + 1, w * 4] : [w * 4, w * 4 + 1, w * 4 + 2, w * 4 + 3],
    );

  // loop over groups: ptr = 0; while (ptr < groups * 128) { ... ptr += 128 }
  emit(op.i32Const(0), op.localSet(PTR));
  emit(0x02, 0x40, 0x03, 0x40); // block, loop
  emit(
    op.localGet(PTR),
    op.localGet(GROUPS),
    op.i32Const(7),
    [0x74] /* i32.shl */,
    [0x4f] /* i32.ge_u */,
    0x0d,
    1,
  ); // br_if 1
  // Load four digests (halves) and transpose into big-endian words w0..w7.
  for (let half = 0; half < 2; half++) {
    const tmp = T + 1; // T+1..T+8: the 4 digests' halves, then the interleaved pairs
    for (let j = 0; j < 4; j++)
      emit(op.localGet(PTR), op.v128Load(IN_AT + j * 32 + half * 16), op.localSet(tmp + j));
    // [x0,y0,x1,y1] and [x2,y2,x3,y3], byte-reversed words.
    const low = bytesOf([0, 4, 1, 5], true);
    const high = bytesOf([2, 6, 3, 7], true);
    emit(op.localGet(tmp), op.localGet(tmp + 1), op.shuffle(low), op.localSet(tmp + 4));
    emit(op.localGet(tmp), op.localGet(tmp + 1), op.shuffle(high), op.localSet(tmp + 5));
    emit(op.localGet(tmp + 2), op.localGet(tmp + 3), op.shuffle(low), op.localSet(tmp + 6));
    emit(op.localGet(tmp + 2), op.localGet(tmp + 3), op.shuffle(high), op.localSet(tmp + 7));
    const first = bytesOf([0, 1, 4, 5], false);
    const second = bytesOf([2, 3, 6, 7], false);
    emit(op.localGet(tmp + 4), op.localGet(tmp + 6), op.shuffle(first), op.localSet(W + half * 4));
    emit(op.localGet(tmp + 4), op.localGet(tmp + 6), op.shuffle(second), op.localSet(W + half * 4 + 1));
    emit(op.localGet(tmp + 5), op.localGet(tmp + 7), op.shuffle(first), op.localSet(W + half * 4 + 2));
    emit(op.localGet(tmp + 5), op.localGet(tmp + 7), op.shuffle(second), op.localSet(W + half * 4 + 3));
  }
  padTail();
  compress(INNER_AT);
  if (outer) {
    padTail();
    compress(OUTER_AT);
  }
  // Transpose w0..w7 back to four digests of big-endian words and store them.
  for (let half = 0; half < 2; half++) {
    const o = W + half * 4;
    const tmp = T + 1;
    const pairLow = bytesOf([0, 4, 1, 5], false); // [x0, y0, x1, y1] of words x, y
    const pairHigh = bytesOf([2, 6, 3, 7], false);
    emit(op.localGet(o), op.localGet(o + 1), op.shuffle(pairLow), op.localSet(tmp)); // [a0,a1,b0,b1]
    emit(op.localGet(o + 2), op.localGet(o + 3), op.shuffle(pairLow), op.localSet(tmp + 1)); // [a2,a3,b2,b3]
    emit(op.localGet(o), op.localGet(o + 1), op.shuffle(pairHigh), op.localSet(tmp + 2)); // [c0,c1,d0,d1]
    emit(op.localGet(o + 2), op.localGet(o + 3), op.shuffle(pairHigh), op.localSet(tmp + 3)); // [c2,c3,d2,d3]
    const first = bytesOf([0, 1, 4, 5], true);
    const second = bytesOf([2, 3, 6, 7], true);
    const digests: [number, number[]][] = [
      [tmp, first],
      [tmp, second],
      [tmp + 2, first],
      [tmp + 2, second],
    ];
    digests.forEach(([from, lanes], j) => {
      emit(op.localGet(PTR), op.localGet(from), op.localGet(from + 1), op.shuffle(lanes));
      emit(op.v128Store(OUT_AT + j * 32 + half * 16));
    });
  }
  emit(op.localGet(PTR), op.i32Const(128), op.i32Add, op.localSet(PTR), 0x0c, 0); // br 0 (loop)
  emit(0x0b, 0x0b, 0x0b); // end loop, end block, end function

  const locals = vector([
    [1, 0x7f],
    [16 + 8 + TEMPS, 0x7b],
  ]);
  return [...locals, ...code];
}

/** Builds the module's bytes: `run` (HMAC) and `prefixed` (the first pass alone). */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const bodies = [functionBody(true), functionBody(false)];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([[0x60, 1, 0x7f, 0]])), // type 0: (i32) -> ()
    ...section(3, vector([[0], [0]])), // functions 0 and 1 have type 0
    ...section(5, vector([[0x00, 1]])), // memory: 1 page
    ...section(
      7,
      vector([
        [...uleb(3), ...Array.from('run', (ch) => ch.charCodeAt(0)), 0x00, 0],
        [...uleb(8), ...Array.from('prefixed', (ch) => ch.charCodeAt(0)), 0x00, 1],
        [...uleb(6), ...Array.from('memory', (ch) => ch.charCodeAt(0)), 0x02, 0],
      ]),
    ),
    ...section(10, vector(bodies.map((body) => [...uleb(body.length), ...body]))),
  ];
  return new Uint8Array(bytes);
}

let compiled: WebAssembly.Module | null | undefined;

function simdModule(): WebAssembly.Module | undefined {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(moduleBytes());
    } catch {
      compiled = null;
    }
  }
  return compiled ?? undefined;
}

/**
 * The SIMD keyer for pad states `inner` and `outer` (each SHA-256's state after one pad block), or
 * undefined where WebAssembly SIMD is not available.
 */
export function simdHmac(
  inner: Int32Array,
  outer: Int32Array,
): ((digests: Uint8Array, from: number, count: number, out: Uint8Array, at: number) => void) | undefined {
  return lanesOf('run', inner, outer);
}

/**
 * SHA-256 of a key block and a 32-byte digest, four at a time, for the key block's state `state`
 * (SHA-256's state after that block); undefined where WebAssembly SIMD is not available.
 */
export function simdPrefixed(
  state: Int32Array,
): ((digests: Uint8Array, from: number, count: number, out: Uint8Array, at: number) => void) | undefined {
  return lanesOf('prefixed', state, new Int32Array(8));
}

function lanesOf(
  name: 'run' | 'prefixed',
  inner: Int32Array,
  outer: Int32Array,
): ((digests: Uint8Array, from: number, count: number, out: Uint8Array, at: number) => void) | undefined {
  const module = simdModule();
  if (!module) return undefined;
  const instance = new WebAssembly.Instance(module);
  const run = instance.exports[name] as (groups: number) => void;
  const memory = new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer);
  // WebAssembly memory is little-endian whatever the platform.
  const view = new DataView(memory.buffer);
  for (let i = 0; i < 8; i++) {
    view.setInt32(INNER_AT + 4 * i, inner[i] as number, true);
    view.setInt32(OUTER_AT + 4 * i, outer[i] as number, true);
  }
  return (digests, from, count, out, at) => {
    for (let done = 0; done < count; ) {
      const n = Math.min(SIMD_BATCH, count - done);
      memory.set(digests.subarray(from + done * 32, from + (done + n) * 32), IN_AT);
      run((n + 3) >>> 2);
      out.set(memory.subarray(OUT_AT, OUT_AT + n * 32), at + done * 32);
      done += n;
    }
  };
}
