/**
 * The partner people a shard matched, as a compact sorted run, and the merge of every shard's run
 * into the counts of the whole list.
 *
 * Shards split the list by its people's primary identifiers, so one list person is in one shard;
 * but two list people in different shards (or one person's email and phone) can hit the same
 * partner person. Counting a partner person once however often it is hit needs its key across
 * shards: each shard writes its matched people sorted by person key, with the identifier kinds they
 * were hit through and the snapshot segments they are in, and the reduce merges the runs (a k-way
 * merge: one record of each run in memory at a time) and counts each person once.
 *
 * Record: [key length u8][person key, ASCII][kinds u8 bitmask][segment count u16 BE][segment
 * indices u16 BE each, in snapshot order]. Person keys are base64url HMAC values (ASCII).
 */
import { DomainError } from '../errors.ts';
import { IDENTIFIER_KINDS, type IdentifierKind } from '../model.ts';
import type { MembershipSink } from '../ports.ts';
import { DigestTable } from './digest-table.ts';

/** A matched partner person of one shard (or, after the merge, of the list). */
export interface MatchedPerson {
  kinds: number;
  segments: Set<number>;
}

/** Counts of distinct partner people, each counted once. */
export interface MatchedCounts {
  /** People in at least one segment of the snapshot. */
  matched: number;
  /** People per segment, by index in the snapshot's segment order. */
  perSegment: number[];
  /** People hit through an identifier of each kind. */
  byKind: Record<IdentifierKind, number>;
  /** Largest number of snapshot segments one matched person is in. */
  maxSegmentsPerPerson: number;
}

export const kindBit = (kind: IdentifierKind): number => 1 << IDENTIFIER_KINDS.indexOf(kind);

/**
 * A shard's matched people as they are found: a number per person, its kinds in a byte, its
 * (person, segment) pairs appended to typed arrays (repeats allowed). A person key that is the
 * base64url of 32 bytes (every key a keyer writes) is held as those bytes in a digest table, so an
 * in-process store can add people without a string per hit; other keys are held as strings. No
 * object or set per person; `finish` sorts the people by key once, groups the pairs by person and
 * writes the run.
 */
export class MatchedPeopleTable implements MembershipSink {
  /** People whose key is base64url of 32 bytes, by those bytes. */
  private readonly raw = new DigestTable();
  /** Person number of each entry of `raw`. */
  private numberOfRaw = new Int32Array(1024);
  /** People with any other key. */
  private readonly numberOf = new Map<string, number>();
  /** Per person: its entry in `raw`, or -(i + 1) for the i-th key of `strings`. */
  private keyOf = new Int32Array(1024);
  private readonly strings: string[] = [];
  private readonly scratch = new Uint8Array(32);
  private people = 0;
  private kinds = new Uint8Array(1024);
  private pairPeople = new Int32Array(4096);
  private pairSegments = new Int32Array(4096);
  private pairs = 0;
  /** Grow-only working arrays of `finish`, kept for the next shard when the table is reused. */
  private readonly work: Int32Array[] = [];

  /** Empties the table for reuse (the next shard matched in the same process), keeping its buffers. */
  clear(): this {
    this.raw.clear();
    this.numberOf.clear();
    this.strings.length = 0;
    this.kinds.fill(0, 0, this.people);
    this.people = 0;
    this.pairs = 0;
    return this;
  }

  /** Working array `i` of `finish`, `n` long (not zeroed). */
  private ints(i: number, n: number): Int32Array {
    let a = this.work[i];
    if (!a || a.length < n) {
      a = new Int32Array(Math.max(n, 1024));
      this.work[i] = a;
    }
    return a.subarray(0, n);
  }

  /** The person's number, added (with no kinds and no segments) when new. */
  person(key: string): number {
    if (key.length === 43 && decodeBase64url32(key, this.scratch)) return this.rawPerson(this.scratch, 0);
    let n = this.numberOf.get(key);
    if (n === undefined) {
      n = this.newPerson(-(this.strings.length + 1));
      this.numberOf.set(key, n);
      this.strings.push(key);
    }
    return n;
  }

  /** The number of the person whose key is base64url of `bytes[at..at+32]` (the same as `person` of it). */
  rawPerson(bytes: Uint8Array, at: number): number {
    const before = this.raw.size;
    const r = this.raw.add(bytes, at);
    if (r < before) return this.numberOfRaw[r] as number;
    if (r >= this.numberOfRaw.length) this.numberOfRaw = grown(this.numberOfRaw);
    const n = this.newPerson(r);
    this.numberOfRaw[r] = n;
    return n;
  }

  private newPerson(key: number): number {
    const n = this.people++;
    if (n >= this.kinds.length) {
      this.kinds = grown(this.kinds);
      this.keyOf = grown(this.keyOf);
    }
    this.keyOf[n] = key;
    return n;
  }

  addKinds(person: number, kinds: number): void {
    this.kinds[person] = (this.kinds[person] as number) | kinds;
  }

  addSegment(person: number, segment: number): void {
    if (this.pairs === this.pairPeople.length) {
      this.pairPeople = grown(this.pairPeople);
      this.pairSegments = grown(this.pairSegments);
    }
    this.pairPeople[this.pairs] = person;
    this.pairSegments[this.pairs] = segment;
    this.pairs++;
  }

  get size(): number {
    return this.people;
  }

  /** Person p's key length in bytes (43 for a raw key). */
  private keyLength(p: number): number {
    const k = this.keyOf[p] as number;
    return k >= 0 ? 43 : (this.strings[-k - 1] as string).length;
  }

  /** Writes person p's key as ASCII to `out` from `at`; returns where it ends. */
  private writeKey(p: number, out: Uint8Array, at: number): number {
    const k = this.keyOf[p] as number;
    if (k >= 0) {
      base64url32Into(this.raw.buffer, k * 32, out, at);
      return at + 43;
    }
    const key = this.strings[-k - 1] as string;
    for (let i = 0; i < key.length; i++) out[at++] = key.charCodeAt(i);
    return at;
  }

  /** Person p's key's first four characters, 7 bits each (0 past its end): its order's prefix. */
  private keyPrefix(p: number): number {
    const k = this.keyOf[p] as number;
    if (k >= 0) {
      // The first four base64url characters are the first three bytes.
      const raw = this.raw.buffer;
      const n =
        ((raw[k * 32] as number) << 16) | ((raw[k * 32 + 1] as number) << 8) | (raw[k * 32 + 2] as number);
      return (
        (ALPHABET_CODES[n >>> 18] as number) * 128 ** 3 +
        (ALPHABET_CODES[(n >>> 12) & 63] as number) * 128 ** 2 +
        (ALPHABET_CODES[(n >>> 6) & 63] as number) * 128 +
        (ALPHABET_CODES[n & 63] as number)
      );
    }
    const key = this.strings[-k - 1] as string;
    let v = 0;
    for (let i = 0; i < 4; i++) v = v * 128 + (i < key.length ? key.charCodeAt(i) & 127 : 0);
    return v;
  }

  /** Byte order of persons a and b's keys. */
  private compareKeysOf(a: number, b: number): number {
    const x = this.keyScratch[0] as Uint8Array;
    const y = this.keyScratch[1] as Uint8Array;
    return compareKeys(x, 0, this.writeKey(a, x, 0), y, 0, this.writeKey(b, y, 0));
  }

  private readonly keyScratch = [new Uint8Array(256), new Uint8Array(256)];

  /** The counts of these people (each once) and their run, sorted by person key. */
  finish(segmentCount: number): { counts: MatchedCounts; run: Uint8Array } {
    const people = this.people;
    const counts: MatchedCounts = {
      matched: 0,
      perSegment: new Array<number>(segmentCount).fill(0),
      byKind: Object.fromEntries(IDENTIFIER_KINDS.map((k) => [k, 0])) as Record<IdentifierKind, number>,
      maxSegmentsPerPerson: 0,
    };
    // Keys are checked first (ASCII, at most 255 bytes): the run's records hold them as such.
    for (let p = 0; p < people; p++) {
      const k = this.keyOf[p] as number;
      if (k >= 0) continue;
      const key = this.strings[-k - 1] as string;
      if (key.length > 255)
        throw new DomainError('invalid-digest', 'A person key is longer than 255 characters.');
      for (let i = 0; i < key.length; i++)
        if (key.charCodeAt(i) > 127) throw new DomainError('invalid-digest', 'A person key is not ASCII.');
    }
    // The pairs grouped by person (a counting sort): person p's segments at start[p]..start[p+1].
    const start = this.ints(0, people + 1).fill(0);
    for (let i = 0; i < this.pairs; i++) {
      const at = (this.pairPeople[i] as number) + 1;
      start[at] = (start[at] as number) + 1;
    }
    for (let p = 0; p < people; p++) start[p + 1] = (start[p + 1] as number) + (start[p] as number);
    const fill = this.ints(1, people);
    fill.set(start.subarray(0, people));
    const grouped = this.ints(2, this.pairs);
    for (let i = 0; i < this.pairs; i++) {
      const p = this.pairPeople[i] as number;
      grouped[fill[p] as number] = this.pairSegments[i] as number;
      fill[p] = (fill[p] as number) + 1;
    }
    // Each person's segments sorted and distinct, in place (a person is in a few segments).
    const distinctEnd = this.ints(3, people);
    const perSegment = new Int32Array(segmentCount);
    const byKind = new Int32Array(8);
    let size = 0;
    for (let p = 0; p < people; p++) {
      const from = start[p] as number;
      const to = start[p + 1] as number;
      for (let i = from + 1; i < to; i++) {
        const v = grouped[i] as number;
        let j = i - 1;
        while (j >= from && (grouped[j] as number) > v) {
          grouped[j + 1] = grouped[j] as number;
          j--;
        }
        grouped[j + 1] = v;
      }
      let end = from;
      for (let i = from; i < to; i++)
        if (i === from || grouped[i] !== grouped[end - 1]) grouped[end++] = grouped[i] as number;
      distinctEnd[p] = end;
      size += 4 + this.keyLength(p) + 2 * (end - from);
      if (end > from) {
        counts.matched++;
        if (end - from > counts.maxSegmentsPerPerson) counts.maxSegmentsPerPerson = end - from;
        for (let i = from; i < end; i++) {
          const segment = grouped[i] as number;
          if (segment >= segmentCount) counts.perSegment[segment] = (counts.perSegment[segment] ?? 0) + 1;
          else perSegment[segment] = (perSegment[segment] as number) + 1;
        }
        const kinds = this.kinds[p] as number;
        for (let i = 0; i < 8; i++) if (kinds & (1 << i)) byKind[i] = (byKind[i] as number) + 1;
      }
    }
    for (let s = 0; s < segmentCount; s++) counts.perSegment[s] = perSegment[s] as number;
    IDENTIFIER_KINDS.forEach((kind, i) => {
      counts.byKind[kind] += byKind[i] as number;
    });
    const out = new Uint8Array(size);
    let at = 0;
    const order = sortedByKey(
      this.ints(4, people),
      this.ints(5, people),
      this.ints(6, people),
      (p) => this.keyPrefix(p),
      (a, b) => this.compareKeysOf(a, b),
    );
    for (let o = 0; o < people; o++) {
      const p = order[o] as number;
      out[at] = this.keyLength(p);
      at = this.writeKey(p, out, at + 1);
      const from = start[p] as number;
      const n = (distinctEnd[p] as number) - from;
      out[at++] = this.kinds[p] as number;
      out[at++] = n >>> 8;
      out[at++] = n & 255;
      for (let i = from; i < from + n; i++) {
        const s = grouped[i] as number;
        out[at++] = s >>> 8;
        out[at++] = s & 255;
      }
    }
    return { counts, run: out };
  }
}

function grown<T extends Uint8Array | Int32Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ALPHABET_CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** The 6-bit value of each base64url character code, or -1. */
const SEXTET = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) SEXTET[ALPHABET_CODES[i] as number] = i;

/** Writes base64url (no padding, 43 characters) of `bytes[at..at+32]` as ASCII to `out` from `outAt`. */
export function base64url32Into(bytes: Uint8Array, at: number, out: Uint8Array, outAt: number): void {
  let o = outAt;
  let i = at;
  for (const end = at + 30; i < end; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out[o] = ALPHABET_CODES[n >>> 18] as number;
    out[o + 1] = ALPHABET_CODES[(n >>> 12) & 63] as number;
    out[o + 2] = ALPHABET_CODES[(n >>> 6) & 63] as number;
    out[o + 3] = ALPHABET_CODES[n & 63] as number;
    o += 4;
  }
  const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
  out[o] = ALPHABET_CODES[n >>> 18] as number;
  out[o + 1] = ALPHABET_CODES[(n >>> 12) & 63] as number;
  out[o + 2] = ALPHABET_CODES[(n >>> 6) & 63] as number;
}

/**
 * Decodes a 43-character key into 32 bytes at `out[0..32]` when it is the canonical base64url (no
 * padding) of 32 bytes, as `base64url32` writes it; false (and `out` undefined) otherwise.
 */
export function decodeBase64url32(key: string, out: Uint8Array): boolean {
  if (key.length !== 43) return false;
  let o = 0;
  let i = 0;
  for (; i < 40; i += 4) {
    const a = sextet(key, i);
    const b = sextet(key, i + 1);
    const c = sextet(key, i + 2);
    const d = sextet(key, i + 3);
    if ((a | b | c | d) < 0) return false;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 255;
    out[o++] = n & 255;
  }
  const a = sextet(key, 40);
  const b = sextet(key, 41);
  const c = sextet(key, 42);
  // The last character holds 4 bits of the 32 bytes: its 2 low bits must be zero (canonical).
  if ((a | b | c) < 0 || (c & 3) !== 0) return false;
  const n = (a << 18) | (b << 12) | (c << 6);
  out[o++] = n >>> 16;
  out[o] = (n >>> 8) & 255;
  return true;
}

function sextet(key: string, i: number): number {
  const c = key.charCodeAt(i);
  return c < 128 ? (SEXTET[c] as number) : -1;
}

/**
 * The numbers 0..n-1 (n = order.length) into `order`, in the order of their keys, given each key's
 * first four bytes (7 bits each, `prefixOf`) and the whole keys' order (`compare`). A radix sort
 * on the prefixes (stable, four passes of 7 bits; `spare` and `prefix`, as long, are working
 * space), then keys sharing a prefix (rare for keyed digests) are put in order among themselves.
 */
function sortedByKey(
  order: Int32Array,
  spare: Int32Array,
  prefix: Int32Array,
  prefixOf: (p: number) => number,
  compare: (a: number, b: number) => number,
): Int32Array {
  const n = order.length;
  for (let p = 0; p < n; p++) {
    prefix[p] = prefixOf(p);
    order[p] = p;
  }
  const counts = new Int32Array(128);
  let from = order;
  let to = spare;
  for (let shift = 0; shift < 28; shift += 7) {
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const bucket = ((prefix[from[i] as number] as number) >>> shift) & 127;
      counts[bucket] = (counts[bucket] as number) + 1;
    }
    let sum = 0;
    for (let b = 0; b < 128; b++) {
      const c = counts[b] as number;
      counts[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const p = from[i] as number;
      const bucket = ((prefix[p] as number) >>> shift) & 127;
      to[counts[bucket] as number] = p;
      counts[bucket] = (counts[bucket] as number) + 1;
    }
    [from, to] = [to, from];
  }
  // An even number of passes: the sorted numbers are back in `order`.
  for (let i = 0; i < n; ) {
    const first = prefix[order[i] as number] as number;
    let j = i + 1;
    while (j < n && prefix[order[j] as number] === first) j++;
    if (j - i > 1) order.set(Array.from(order.subarray(i, j)).sort(compare), i);
    i = j;
  }
  return order;
}

/** The run of a shard's matched people, sorted by person key. */
export function encodeRun(people: ReadonlyMap<string, MatchedPerson>): Uint8Array {
  const table = new MatchedPeopleTable();
  let segmentCount = 0;
  for (const [key, person] of people) {
    const n = table.person(key);
    table.addKinds(n, person.kinds);
    for (const s of person.segments) {
      table.addSegment(n, s);
      segmentCount = Math.max(segmentCount, s + 1);
    }
  }
  return table.finish(segmentCount).run;
}

interface RunRecord {
  key: string;
  kinds: number;
  segments: number[];
}

/** Reads a run's records from its bytes, in whatever chunks they come. */
export async function* readRun(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<RunRecord, void, undefined> {
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    buffer = buffer.length === 0 ? chunk : concat(buffer, chunk);
    let at = 0;
    for (;;) {
      const record = parseRecord(buffer, at);
      if (record === undefined) break;
      at = record.next;
      yield record.record;
    }
    buffer = buffer.slice(at);
  }
  if (buffer.length > 0)
    throw new DomainError('invalid-digest', 'A matched-people run ended inside a record.');
}

function parseRecord(b: Uint8Array, at: number): { record: RunRecord; next: number } | undefined {
  if (at >= b.length) return undefined;
  const length = b[at] as number;
  const head = at + 1 + length + 3;
  if (head > b.length) return undefined;
  const count = ((b[head - 2] as number) << 8) | (b[head - 1] as number);
  const end = head + 2 * count;
  if (end > b.length) return undefined;
  let key = '';
  for (let i = at + 1; i < at + 1 + length; i++) key += String.fromCharCode(b[i] as number);
  const segments: number[] = [];
  for (let i = head; i < end; i += 2) segments.push(((b[i] as number) << 8) | (b[i + 1] as number));
  return { record: { key, kinds: b[head - 3] as number, segments }, next: end };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * A run read record by record straight from its chunks (no object per record): the current
 * record's fields are offsets into `buffer`. It awaits only when its buffer holds no whole record.
 */
class RunCursor {
  buffer: Uint8Array = new Uint8Array(0);
  /** The current record: its key at keyAt (keyLength bytes), kinds, segment indices from segmentsAt. */
  keyAt = 0;
  keyLength = 0;
  /** The key's first four bytes as an unsigned number (0 past its end): orders most keys alone. */
  prefix = 0;
  kinds = 0;
  segmentsAt = 0;
  segmentCount = 0;
  private next = 0;
  private done = false;
  private readonly chunks: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;

  constructor(run: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.chunks =
      Symbol.asyncIterator in run
        ? (run as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
        : (run as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  /** Moves to the next record; false at the end of the run. */
  async advance(): Promise<boolean> {
    for (;;) {
      if (this.parse()) return true;
      if (this.done) {
        if (this.next < this.buffer.length)
          throw new DomainError('invalid-digest', 'A matched-people run ended inside a record.');
        return false;
      }
      const chunk = await this.chunks.next();
      if (chunk.done) this.done = true;
      else {
        const rest = this.buffer.subarray(this.next);
        this.buffer = rest.length === 0 ? chunk.value : concat(rest, chunk.value);
        this.next = 0;
      }
    }
  }

  /** Moves to the next record when it is whole in the buffer (no await); false otherwise. */
  parse(): boolean {
    const b = this.buffer;
    const at = this.next;
    if (at >= b.length) return false;
    const length = b[at] as number;
    const head = at + 1 + length + 3;
    if (head > b.length) return false;
    const count = ((b[head - 2] as number) << 8) | (b[head - 1] as number);
    const end = head + 2 * count;
    if (end > b.length) return false;
    this.keyAt = at + 1;
    this.keyLength = length;
    this.kinds = b[head - 3] as number;
    this.segmentsAt = head;
    this.segmentCount = count;
    this.prefix = keyPrefix(b, at + 1, length);
    this.next = end;
    return true;
  }
}

/**
 * The first four bytes of a key as an unsigned number, 0 past its end: two keys whose prefixes
 * differ are in the order of their prefixes (a shorter key's padding is below any byte it lacks).
 */
function keyPrefix(b: Uint8Array, at: number, length: number): number {
  let v = 0;
  for (let i = 0; i < 4; i++) v = v * 256 + (i < length ? (b[at + i] as number) : 0);
  return v;
}

/** Byte order of two keys (the order of their strings: keys are ASCII). */
function compareKeys(
  a: Uint8Array,
  aAt: number,
  aLength: number,
  b: Uint8Array,
  bAt: number,
  bLength: number,
): number {
  const n = Math.min(aLength, bLength);
  for (let i = 0; i < n; i++) {
    const d = (a[aAt + i] as number) - (b[bAt + i] as number);
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/** Counts the distinct people of some runs (each sorted): a k-way merge, one record a run in memory. */
export async function mergeRuns(
  runs: ReadonlyArray<AsyncIterable<Uint8Array> | Iterable<Uint8Array>>,
  segmentCount: number,
): Promise<MatchedCounts> {
  const counts: MatchedCounts = {
    matched: 0,
    perSegment: new Array<number>(segmentCount).fill(0),
    byKind: Object.fromEntries(IDENTIFIER_KINDS.map((k) => [k, 0])) as Record<IdentifierKind, number>,
    maxSegmentsPerPerson: 0,
  };
  // A binary heap of the runs, by their current record's key.
  const heap: RunCursor[] = [];
  const less = (x: RunCursor, y: RunCursor) =>
    x.prefix !== y.prefix
      ? x.prefix < y.prefix
      : compareKeys(x.buffer, x.keyAt, x.keyLength, y.buffer, y.keyAt, y.keyLength) < 0;
  const siftDown = (i: number) => {
    const item = heap[i] as RunCursor;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const m = r < heap.length && less(heap[r] as RunCursor, heap[l] as RunCursor) ? r : l;
      if (!less(heap[m] as RunCursor, item)) break;
      heap[i] = heap[m] as RunCursor;
      i = m;
    }
    heap[i] = item;
  };
  for (const run of runs) {
    const cursor = new RunCursor(run);
    if (await cursor.advance()) heap.push(cursor);
  }
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);

  // The person being counted: its key, kinds and distinct segments (stamped per person).
  const key = new Uint8Array(256);
  let keyLength = -1;
  let prefix = 0;
  let kinds = 0;
  const segments = new Int32Array(segmentCount);
  let segmentsUsed = 0;
  const stamp = new Int32Array(segmentCount);
  const perSegment = new Int32Array(segmentCount);
  const byKind = new Int32Array(8);
  let person = 0;
  const count = () => {
    if (keyLength < 0 || segmentsUsed === 0) return;
    counts.matched++;
    if (segmentsUsed > counts.maxSegmentsPerPerson) counts.maxSegmentsPerPerson = segmentsUsed;
    for (let i = 0; i < segmentsUsed; i++) {
      const s = segments[i] as number;
      perSegment[s] = (perSegment[s] as number) + 1;
    }
    for (let i = 0; i < 8; i++) if (kinds & (1 << i)) byKind[i] = (byKind[i] as number) + 1;
  };
  while (heap.length > 0) {
    const top = heap[0] as RunCursor;
    const b = top.buffer;
    if (
      keyLength < 0 ||
      top.prefix !== prefix ||
      compareKeys(b, top.keyAt, top.keyLength, key, 0, keyLength) !== 0
    ) {
      count();
      for (let i = 0; i < top.keyLength; i++) key[i] = b[top.keyAt + i] as number;
      keyLength = top.keyLength;
      prefix = top.prefix;
      kinds = 0;
      segmentsUsed = 0;
      person++;
    }
    kinds |= top.kinds;
    for (let i = 0; i < top.segmentCount; i++) {
      const at = top.segmentsAt + 2 * i;
      const s = ((b[at] as number) << 8) | (b[at + 1] as number);
      if (s >= segmentCount)
        throw new DomainError('invalid-digest', 'A matched-people run names an unknown segment.');
      if (stamp[s] !== person) {
        stamp[s] = person;
        segments[segmentsUsed++] = s;
      }
    }
    if (!top.parse() && !(await top.advance())) {
      const last = heap.pop() as RunCursor;
      if (heap.length > 0) {
        heap[0] = last;
        siftDown(0);
      }
      continue;
    }
    if (
      top.prefix < prefix ||
      (top.prefix === prefix && compareKeys(top.buffer, top.keyAt, top.keyLength, key, 0, keyLength) <= 0)
    )
      throw new DomainError('invalid-digest', 'A matched-people run is not sorted.');
    siftDown(0);
  }
  count();
  for (let s = 0; s < segmentCount; s++) counts.perSegment[s] = perSegment[s] as number;
  IDENTIFIER_KINDS.forEach((kind, i) => {
    counts.byKind[kind] = byKind[i] as number;
  });
  return counts;
}
