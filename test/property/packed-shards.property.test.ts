/**
 * The packed form of a shard (digests back to back, read in place) and the reused shard tables
 * agree with the plain forms: the digest table numbers packed words as it numbers bytes, a cleared
 * table or matched-people table as a new one, `partitionPacked` lays out what `partitionDigests`
 * splits, and `matchShard` over packed digests, in reused tables, gives the tally, run and
 * `onPerson` calls of `matchShard` over the digests one by one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryAudienceStore } from '../../shared/adapters/memory/memory-audience-store.ts';
import { hmacKeyer } from '../../shared/adapters/pepper.ts';
import { DigestTable } from '../../shared/domain/matching/digest-table.ts';
import {
  matchShard,
  PackedShardSpace,
  partitionDigests,
  partitionPacked,
  ShardTables,
} from '../../shared/domain/matching/match-shard.ts';
import { MatchedPeopleTable } from '../../shared/domain/matching/matched-people.ts';

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
/** Digests drawn from a small pool, so duplicates are frequent. */
const pooledDigests = fc
  .array(digest, { minLength: 1, maxLength: 40 })
  .chain((pool) => fc.array(fc.constantFrom(...pool), { maxLength: 300 }));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The digests back to back from byte `offset` of a fresh buffer. */
function packed(digests: readonly Uint8Array[], offset = 0): Uint8Array {
  const buffer = new Uint8Array(offset + digests.length * 32);
  digests.forEach((d, i) => {
    buffer.set(d, offset + i * 32);
  });
  return buffer.subarray(offset);
}

describe('DigestTable over packed words', () => {
  it('numbers digests by words (one at a time or a run at a time) as it numbers their bytes, before and after a clear', () => {
    fc.assert(
      fc.property(pooledDigests, fc.integer({ min: 1, max: 70 }), fc.boolean(), (digests, run, tiny) => {
        // A fixed mix with tiny sends every digest through the same few slots (collisions).
        const mix = () => (tiny ? new Int32Array(9).fill(1) : undefined);
        const bytes = new DigestTable(0, mix());
        const expected = digests.map((d) => bytes.add(d, 0));
        const words = new Int32Array(packed(digests).buffer);
        const one = new DigestTable(0, mix());
        expect(digests.map((_, i) => one.addWords(words, i * 8))).toEqual(expected);
        const many = new DigestTable(0, mix());
        for (let round = 0; round < 2; round++) {
          const out = new Int32Array(run);
          const numbers: number[] = [];
          for (let first = 0; first < digests.length; first += run) {
            const count = Math.min(run, digests.length - first);
            many.addManyWords(words, first * 8, count, out);
            numbers.push(...out.subarray(0, count));
          }
          expect(numbers).toEqual(expected);
          expect(many.size).toBe(bytes.size);
          for (let n = 0; n < many.size; n++) expect(hex(many.digestAt(n))).toBe(hex(bytes.digestAt(n)));
          // Cleared (smaller or larger than it has grown to), the table numbers from 0 again.
          many.clear(round === 0 ? 0 : 5000);
          expect(many.size).toBe(0);
        }
      }),
    );
  });
});

describe('DigestTable.findMany at any alignment', () => {
  it('finds present and absent digests as find does, reading aligned ones as words', () => {
    fc.assert(
      fc.property(pooledDigests, fc.constantFrom(0, 4, 7, 32), fc.boolean(), (digests, offset, tiny) => {
        const table = new DigestTable(0, tiny ? new Int32Array(9).fill(1) : undefined);
        for (const d of digests.slice(0, 20)) table.add(d, 0);
        const batch = [...digests.slice(10, 40), ...digests.slice(0, 5).map((d) => d.map((b) => b ^ 1))];
        const bytes = new Uint8Array(offset + batch.length * 32);
        batch.forEach((d, i) => {
          bytes.set(d, offset + i * 32);
        });
        const out = new Int32Array(batch.length);
        const beside = new Int32Array(table.size * 3 + 3);
        table.findMany(bytes, offset, batch.length, out, beside, 3);
        expect([...out]).toEqual(batch.map((d) => table.find(d, 0)));
      }),
    );
  });
});

describe('MatchedPeopleTable.clear', () => {
  it('leaves a table that finishes like a new one', () => {
    const hit = fc.tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 3 }), fc.nat(9));
    fc.assert(
      fc.property(fc.array(hit, { maxLength: 60 }), fc.array(hit, { maxLength: 60 }), (first, second) => {
        const keyOf = (k: number) =>
          k % 2 === 0 ? `key-${k}` : `${'Ab'.repeat(21)}${'AEIMQUYcgkosw048'[k]}`;
        const fill = (table: MatchedPeopleTable, hits: typeof first) => {
          for (const [k, kinds, segment] of hits) {
            const n = table.person(keyOf(k));
            table.addKinds(n, kinds);
            table.addSegment(n, segment);
          }
          return table.finish(10);
        };
        const reused = new MatchedPeopleTable();
        fill(reused, first);
        expect(fill(reused.clear(), second)).toEqual(fill(new MatchedPeopleTable(), second));
      }),
    );
  });
});

describe('partitionPacked', () => {
  it('lays out each shard as partitionDigests splits it, in order', () => {
    fc.assert(
      fc.property(pooledDigests, fc.constantFrom(1, 2, 4, 16, 256), (digests, shards) => {
        const plain = partitionDigests(digests, shards);
        const laid = partitionPacked(digests, shards);
        expect(laid.map(hex)).toEqual(plain.map((shard) => hex(packed(shard))));
        // Into a space kept from a call before (same shards, its buffers reused when large enough).
        const space = new PackedShardSpace();
        partitionPacked(digests.slice(0, 7), shards, space);
        expect(partitionPacked(digests, shards, space).map(hex)).toEqual(laid.map(hex));
        expect(partitionPacked(digests.slice(0, 7), shards, space).map(hex)).toEqual(
          partitionPacked(digests.slice(0, 7), shards).map(hex),
        );
        // From any iterable too.
        expect(partitionPacked(new Set(digests), shards).map(hex)).toEqual(
          partitionDigests(new Set(digests), shards).map((shard) => hex(packed(shard))),
        );
      }),
    );
  });

  it('refuses a digest that is not 32 bytes', () => {
    expect(() => partitionPacked([new Uint8Array(32), new Uint8Array(31)], 4)).toThrow(/not 32 bytes/);
  });
});

describe('matchShard over packed digests', () => {
  const keyer = hmacKeyer({ current: 'k1', keys: new Map([['k1', new Uint8Array(32).fill(5)]]) });
  const segmentIds = ['s1', 's2', 's3', 's4'];
  const partner = fc.array(fc.record({ digest, segments: fc.subarray(segmentIds) }), { maxLength: 30 });

  it('gives the tally, run and onPerson calls of the digests one by one, at any offset, in reused tables', async () => {
    await fc.assert(
      fc.asyncProperty(
        partner,
        fc.array(digest, { maxLength: 20 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (members, strangers, batchSize, offset, seed) => {
          const store = new MemoryAudienceStore();
          for (const segmentId of segmentIds)
            store.putSegment(
              'p',
              { segmentId, name: segmentId, description: '' },
              members.filter((m) => m.segments.includes(segmentId)).map((m) => keyer.key(m.digest)),
            );
          const snapshot = await store.snapshot('p');
          if (!snapshot) return;
          // Members (some twice) and strangers, shuffled by the seed; split in 4 shards.
          const list: Uint8Array[] = [
            ...members.map((m) => m.digest),
            ...strangers,
            ...members.slice(0, 4).map((m) => m.digest),
          ];
          let x = seed | 1;
          for (let i = list.length - 1; i > 0; i--) {
            x = (Math.imul(x, 48271) >>> 0) % 2147483647 || 1;
            const j = x % (i + 1);
            [list[i], list[j]] = [list[j] as Uint8Array, list[i] as Uint8Array];
          }
          const tables = new ShardTables();
          for (const shard of partitionDigests(list, 4)) {
            const seen: string[][] = [[], []];
            const onPerson =
              (into: string[]) => (primary: Uint8Array, id: { kind: string; digest: Uint8Array }) =>
                into.push(`${hex(primary)}:${id.kind}:${hex(id.digest)}`);
            const plain = await matchShard({
              digests: shard,
              snapshot,
              store,
              keyer,
              batchSize,
              onPerson: onPerson(seen[0] as string[]),
            });
            const fromPacked = await matchShard({
              packedDigests: packed(shard, offset),
              snapshot,
              store,
              keyer,
              batchSize,
              tables,
              onPerson: onPerson(seen[1] as string[]),
            });
            expect(fromPacked).toEqual(plain);
            expect(seen[1]).toEqual(seen[0]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses packed bytes that are not whole digests, and tables already matching a shard', async () => {
    const store = new MemoryAudienceStore();
    store.putSegment('p', { segmentId: 's1', name: 's1', description: '' }, [keyer.key(new Uint8Array(32))]);
    const snapshot = await store.snapshot('p');
    if (!snapshot) throw new Error('no snapshot');
    await expect(matchShard({ packedDigests: new Uint8Array(33), snapshot, store, keyer })).rejects.toThrow(
      /whole number/,
    );
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
    await expect(
      matchShard({ packedDigests: new Uint8Array(32), snapshot, store, keyer, tables }),
    ).rejects.toThrow(/another shard/);
    expect((await slow).matched).toBe(1);
    // Free again once the first shard is done.
    expect(
      (await matchShard({ packedDigests: new Uint8Array(32), snapshot, store, keyer, tables })).matched,
    ).toBe(1);
  });
});
