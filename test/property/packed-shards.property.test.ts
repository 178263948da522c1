/**
 * The packed form of digests (back to back, read in place as words) and the reused shard tables
 * agree with the plain forms: the digest table numbers packed words as it numbers bytes, finds them
 * at any alignment, and a cleared table or matched-people table works as a new one. (matchShard over
 * shard files, which hold digests packed so: shard-file.property.test.ts.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DigestTable } from '../../shared/domain/matching/digest-table.ts';
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
