/**
 * Shard files (shared/domain/matching/shard-file.ts), as the split writes them and the shard step
 * reads them: whatever the people (one identifier or several, of any kind) and however the file is
 * cut into chunks (at any byte, at any alignment in memory), `shardBlocks` gives back the people in
 * order, and `matchShard` over the blocks, in reused shard tables, gives the tally, run and
 * people-sink calls of `matchShard` over the people themselves. A broken file fails by its offset.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryAudienceStore } from '../../shared/adapters/memory/memory-audience-store.ts';
import { hmacKeyer } from '../../shared/adapters/pepper.ts';
import {
  type ListPerson,
  matchShard,
  partitionPeople,
  ShardTables,
} from '../../shared/domain/matching/match-shard.ts';
import {
  BLOCK_HEADER_BYTES,
  MAX_BLOCK_PAYLOAD,
  MAX_PERSON_IDS,
  type ShardBlock,
  ShardFileBuffer,
  shardBlocks,
} from '../../shared/domain/matching/shard-file.ts';
import { IDENTIFIER_KINDS, type IdentifierKind } from '../../shared/domain/model.ts';
import { recordingSink } from '../support/people-sink.ts';

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const kind = fc.constantFrom<IdentifierKind>(...IDENTIFIER_KINDS);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** People drawn from a small pool of digests (duplicates and shared identifiers are frequent). */
const peopleOf = (pool: fc.Arbitrary<Uint8Array>) =>
  fc.array(fc.array(fc.record({ kind, digest: pool }), { minLength: 1, maxLength: 4 }), {
    maxLength: 120,
  }) as fc.Arbitrary<ListPerson[]>;
const pooledPeople = fc
  .array(digest, { minLength: 1, maxLength: 30 })
  .chain((pool) => peopleOf(fc.constantFrom(...pool)));

/** A person's record: [count] then [kind index][digest] per identifier. */
function recordOf(person: ListPerson): Uint8Array {
  const record = new Uint8Array(1 + person.length * 33);
  record[0] = person.length;
  person.forEach((id, i) => {
    record[1 + i * 33] = IDENTIFIER_KINDS.indexOf(id.kind);
    record.set(id.digest, 2 + i * 33);
  });
  return record;
}

/** The shard file of `people`, written as the split does: flushed whenever the next person does not fit. */
function fileOf(people: readonly ListPerson[], capacity: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let buffer = new ShardFileBuffer(capacity);
  for (const person of people) {
    if (!buffer.fits(person.length)) {
      parts.push(buffer.bytes().slice());
      buffer = new ShardFileBuffer(capacity);
    }
    buffer.addRecord(recordOf(person));
  }
  if (buffer.used > 0) parts.push(buffer.bytes().slice());
  return Buffer.concat(parts);
}

/** The file cut at `cuts` (sorted offsets), each chunk copied to byte `shift` of a fresh buffer. */
function chunksOf(file: Uint8Array, cuts: readonly number[], shift: number): Uint8Array[] {
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < file.length), file.length];
  const chunks: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const piece = file.subarray(bounds[i], bounds[i + 1]);
    const buffer = new Uint8Array(shift + piece.length);
    buffer.set(piece, shift);
    chunks.push(buffer.subarray(shift));
  }
  return chunks;
}

/** The people of blocks, in order. */
function peopleFrom(blocks: readonly ShardBlock[]): string[] {
  const out: string[] = [];
  for (const block of blocks) {
    if ('singles' in block) {
      for (let at = 0; at < block.singles.length; at += 32)
        out.push(`${block.kind}:${hex(block.singles.subarray(at, at + 32))}`);
      continue;
    }
    for (let at = 0; at < block.people.length; ) {
      const n = block.people[at] as number;
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const o = at + 1 + i * 33;
        ids.push(
          `${IDENTIFIER_KINDS[block.people[o] as number]}:${hex(block.people.subarray(o + 1, o + 33))}`,
        );
      }
      out.push(ids.join(','));
      at += 1 + n * 33;
    }
  }
  return out;
}

/** The blocks of chunks, copied (a block is valid until the next is asked for); `misaligned` counts singles payloads not 4-byte aligned in memory. */
async function collect(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  stats = { misaligned: 0 },
): Promise<ShardBlock[]> {
  const blocks: ShardBlock[] = [];
  for await (const block of shardBlocks(chunks)) {
    if ('singles' in block && block.singles.byteOffset % 4 !== 0) stats.misaligned++;
    blocks.push(
      'singles' in block
        ? { kind: block.kind, singles: block.singles.slice() }
        : { people: block.people.slice() },
    );
  }
  return blocks;
}

describe('shard files', () => {
  it('give back the people in order, however the file is cut and aligned', async () => {
    await fc.assert(
      fc.asyncProperty(
        pooledPeople,
        fc.integer({ min: 120, max: 4000 }),
        fc.array(fc.nat(8000), { maxLength: 12 }),
        fc.integer({ min: 0, max: 3 }),
        async (people, capacity, cuts, shift) => {
          const file = fileOf(people, capacity);
          // Headers and singles payloads sit at multiples of 4 bytes.
          expect(file.length % 4).toBe(0);
          const stats = { misaligned: 0 };
          const blocks = await collect(
            chunksOf(
              file,
              [...cuts].sort((a, b) => a - b),
              shift,
            ),
            stats,
          );
          expect(stats.misaligned).toBe(0);
          const expected = people.map((p) => p.map((id) => `${id.kind}:${hex(id.digest)}`).join(','));
          expect(peopleFrom(blocks)).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('put a one-identifier list in singles blocks, a new block only when the kind changes', async () => {
    const d = (b: number) => new Uint8Array(32).fill(b);
    const people: ListPerson[] = [
      [{ kind: 'email', digest: d(1) }],
      [{ kind: 'email', digest: d(2) }],
      [{ kind: 'phone', digest: d(3) }],
      [
        { kind: 'email', digest: d(4) },
        { kind: 'phone', digest: d(5) },
      ],
      [{ kind: 'email', digest: d(6) }],
    ];
    const blocks = await collect([fileOf(people, 1 << 16)]);
    expect(blocks.map((b) => ('singles' in b ? `${b.kind}x${b.singles.length / 32}` : 'people'))).toEqual([
      'emailx2',
      'phonex1',
      'people',
      'emailx1',
    ]);
  });

  it('fail by offset when broken: truncated, unknown type or kind, bad lengths', async () => {
    const one = fileOf([[{ kind: 'email', digest: new Uint8Array(32).fill(7) }]], 1024);
    const header = (type: number, kindIndex: number, length: number) => {
      const h = new Uint8Array(BLOCK_HEADER_BYTES);
      h[0] = type;
      h[1] = kindIndex;
      new DataView(h.buffer).setUint32(4, length, true);
      return h;
    };
    const broken = async (chunks: Uint8Array[]) => (await collect(chunks).catch((e: Error) => e)) as Error;
    expect((await broken([one.subarray(0, one.length - 1)])).message).toMatch(
      /byte 0: the file ends inside a block/,
    );
    expect((await broken([one, one.subarray(0, 5)])).message).toMatch(
      /byte 40: the file ends inside a block/,
    );
    expect((await broken([one, header(3, 0, 32), new Uint8Array(32)])).message).toMatch(
      /byte 40: unknown block type 3/,
    );
    expect((await broken([header(1, IDENTIFIER_KINDS.length, 32), new Uint8Array(32)])).message).toMatch(
      /unknown identifier kind/,
    );
    expect((await broken([header(1, 0, 33), new Uint8Array(36)])).message).toMatch(
      /not whole 32-byte digests/,
    );
    expect((await broken([header(1, 0, 0)])).message).toMatch(/a block of 0 bytes/);
    expect((await broken([header(2, 0, MAX_BLOCK_PAYLOAD + 1)])).message).toMatch(/a block of \d+ bytes/);
    const reserved = header(1, 0, 32);
    reserved[2] = 1;
    expect((await broken([reserved, new Uint8Array(32)])).message).toMatch(/reserved header byte/);
  });
});

describe('matchShard over shard files', () => {
  const keyer = hmacKeyer({ current: 'k1', keys: new Map([['k1', new Uint8Array(32).fill(5)]]) });
  const segmentIds = ['s1', 's2', 's3', 's4'];

  it('gives the tally, run and people-sink calls of the people themselves, in reused tables', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(digest, { minLength: 1, maxLength: 30 }).chain((pool) =>
          fc.tuple(
            fc.array(fc.record({ digest: fc.constantFrom(...pool), segments: fc.subarray(segmentIds) }), {
              maxLength: 20,
            }),
            peopleOf(fc.oneof(fc.constantFrom(...pool), digest)),
          ),
        ),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 120, max: 2000 }),
        fc.array(fc.nat(4000), { maxLength: 6 }),
        fc.integer({ min: 0, max: 3 }),
        async ([members, people], batchSize, capacity, cuts, shift) => {
          const store = new MemoryAudienceStore();
          for (const segmentId of segmentIds)
            store.putSegment(
              'p',
              { segmentId, name: segmentId, description: '' },
              members.filter((m) => m.segments.includes(segmentId)).map((m) => keyer.key(m.digest)),
            );
          const snapshot = await store.snapshot('p');
          if (!snapshot) return;
          const tables = new ShardTables();
          for (const shard of partitionPeople(people, 4)) {
            const seen: string[][] = [[], []];
            const plain = await matchShard({
              people: shard,
              snapshot,
              store,
              keyer,
              batchSize,
              peopleSink: recordingSink(seen[0] as string[]),
            });
            const file = fileOf(shard, capacity);
            const fromFile = await matchShard({
              blocks: shardBlocks(
                chunksOf(
                  file,
                  [...cuts].sort((a, b) => a - b),
                  shift,
                ),
              ),
              snapshot,
              store,
              keyer,
              batchSize,
              tables,
              peopleSink: recordingSink(seen[1] as string[]),
            });
            expect(fromFile).toEqual(plain);
            expect(seen[1]).toEqual(seen[0]);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('refuses singles and people records that are broken, and tables already matching a shard', async () => {
    const store = new MemoryAudienceStore();
    store.putSegment('p', { segmentId: 's1', name: 's1', description: '' }, [keyer.key(new Uint8Array(32))]);
    const snapshot = await store.snapshot('p');
    if (!snapshot) throw new Error('no snapshot');
    const records = (bytes: number[]) => [{ people: Uint8Array.from(bytes) }];
    for (const bad of [
      records([0]),
      records([MAX_PERSON_IDS + 1, ...new Array((MAX_PERSON_IDS + 1) * 33).fill(0)]),
      records([2, ...new Array(33).fill(0)]),
      records([1, 9, ...new Array(32).fill(0)]),
    ])
      await expect(matchShard({ blocks: bad, snapshot, store, keyer })).rejects.toThrow(
        /identifiers or ends past its block|unknown identifier kind/,
      );
    await expect(
      matchShard({ blocks: [{ kind: 'email', singles: new Uint8Array(33) }], snapshot, store, keyer }),
    ).rejects.toThrow(/not a whole number of 32-byte digests/);
    const tables = new ShardTables();
    const slow = matchShard({
      digests: (async function* () {
        yield new Uint8Array(32);
      })(),
      snapshot,
      store,
      keyer,
      tables,
    });
    const single = [{ kind: 'email' as const, singles: new Uint8Array(32) }];
    await expect(matchShard({ blocks: single, snapshot, store, keyer, tables })).rejects.toThrow(
      /another shard/,
    );
    expect((await slow).matched).toBe(1);
    // Free again once the first shard is done.
    expect((await matchShard({ blocks: single, snapshot, store, keyer, tables })).matched).toBe(1);
  });
});
