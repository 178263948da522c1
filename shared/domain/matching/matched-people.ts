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

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The run of a shard's matched people, sorted by person key. */
export function encodeRun(people: ReadonlyMap<string, MatchedPerson>): Uint8Array {
  const keys = [...people.keys()].sort(compare);
  let size = 0;
  for (const key of keys) size += 4 + key.length + 2 * (people.get(key) as MatchedPerson).segments.size;
  const out = new Uint8Array(size);
  let at = 0;
  for (const key of keys) {
    const person = people.get(key) as MatchedPerson;
    if (key.length > 255)
      throw new DomainError('invalid-digest', 'A person key is longer than 255 characters.');
    out[at++] = key.length;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c > 127) throw new DomainError('invalid-digest', 'A person key is not ASCII.');
      out[at++] = c;
    }
    out[at++] = person.kinds;
    out[at++] = person.segments.size >>> 8;
    out[at++] = person.segments.size & 255;
    for (const s of [...person.segments].sort((a, b) => a - b)) {
      out[at++] = s >>> 8;
      out[at++] = s & 255;
    }
  }
  return out;
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
  const readers = runs.map((r) => readRun(r));
  // A binary heap of the runs' current records, by person key.
  const heap: { record: RunRecord; reader: AsyncGenerator<RunRecord, void, undefined> }[] = [];
  const less = (i: number, j: number) =>
    (heap[i] as (typeof heap)[number]).record.key < (heap[j] as (typeof heap)[number]).record.key;
  const swap = (i: number, j: number) => {
    const t = heap[i] as (typeof heap)[number];
    heap[i] = heap[j] as (typeof heap)[number];
    heap[j] = t;
  };
  const push = (entry: (typeof heap)[number]) => {
    heap.push(entry);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!less(i, parent)) break;
      swap(i, parent);
      i = parent;
    }
  };
  const pop = (): (typeof heap)[number] => {
    const top = heap[0] as (typeof heap)[number];
    const last = heap.pop() as (typeof heap)[number];
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(l, m)) m = l;
        if (r < heap.length && less(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    return top;
  };
  const advance = async (reader: AsyncGenerator<RunRecord, void, undefined>, after?: string) => {
    const next = await reader.next();
    if (next.done) return;
    if (after !== undefined && next.value.key <= after)
      throw new DomainError('invalid-digest', 'A matched-people run is not sorted.');
    push({ record: next.value, reader });
  };
  for (const reader of readers) await advance(reader);

  let current: { key: string; kinds: number; segments: Set<number> } | undefined;
  const count = () => {
    if (!current || current.segments.size === 0) return;
    counts.matched++;
    counts.maxSegmentsPerPerson = Math.max(counts.maxSegmentsPerPerson, current.segments.size);
    for (const s of current.segments) counts.perSegment[s] = (counts.perSegment[s] ?? 0) + 1;
    IDENTIFIER_KINDS.forEach((kind, i) => {
      if (current && current.kinds & (1 << i)) counts.byKind[kind]++;
    });
  };
  while (heap.length > 0) {
    const { record, reader } = pop();
    if (current?.key !== record.key) {
      count();
      current = { key: record.key, kinds: 0, segments: new Set() };
    }
    current.kinds |= record.kinds;
    for (const s of record.segments) {
      if (s >= segmentCount)
        throw new DomainError('invalid-digest', 'A matched-people run names an unknown segment.');
      current.segments.add(s);
    }
    await advance(reader, record.key);
  }
  count();
  return counts;
}
