/**
 * The list fingerprint (shared/domain/privacy/list-fingerprint.ts): the sum modulo 2^64 of each
 * person's keyed 64-bit digest, equal to a reference computed here with Node's own HMAC and SHA-256,
 * whatever the order, across batch boundaries (four at a time with SIMD, and one by one), and added up across shards by combineFingerprints.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TaggedDigest } from '../../shared/domain/matching/match-shard.ts';
import { IDENTIFIER_KINDS, KIND_TAGS } from '../../shared/domain/model.ts';
import { combineFingerprints, ListFingerprint } from '../../shared/domain/privacy/list-fingerprint.ts';

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const scope = new Uint8Array(32).map((_, i) => i * 7 + 1);

/** A person: its primary digest, and further identifiers. */
const person = fc.record({
  primary: digest,
  others: fc.array(fc.record({ kind: fc.constantFrom(...IDENTIFIER_KINDS), digest }), { maxLength: 2 }),
});

/** The fingerprint by the definition, with Node's crypto. */
function reference(people: readonly { primary: Uint8Array; others: TaggedDigest[] }[]): string {
  let sum = 0n;
  const add = (bytes: Buffer) => {
    sum = (sum + bytes.readBigUInt64BE(0)) % 2n ** 64n;
  };
  for (const p of people) {
    add(createHash('sha256').update(scope).update(new Uint8Array(32)).update(p.primary).digest());
    for (const o of p.others)
      add(
        createHash('sha256')
          .update(scope)
          .update(p.primary)
          .update(KIND_TAGS[o.kind])
          .update(o.digest)
          .digest(),
      );
  }
  return sum.toString(16).padStart(16, '0');
}

function fingerprint(people: readonly { primary: Uint8Array; others: TaggedDigest[] }[]): string {
  const f = new ListFingerprint(scope);
  for (const p of people) {
    f.primaries(p.primary, 0, 1);
    for (const o of p.others) f.pair(p.primary, o);
  }
  return f.value();
}

describe('ListFingerprint', () => {
  it('is the keyed sum by definition, in any order, and shards add up', () => {
    fc.assert(
      fc.property(fc.array(person, { maxLength: 40 }), fc.nat(), (people, seed) => {
        const expected = reference(people);
        expect(fingerprint(people)).toBe(expected);
        const shuffled = [...people].sort(
          (a, b) => ((a.primary[0] as number) ^ seed) - ((b.primary[0] as number) ^ seed),
        );
        expect(fingerprint(shuffled)).toBe(expected);
        const cut = seed % (people.length + 1);
        expect(combineFingerprints([fingerprint(people.slice(0, cut)), fingerprint(people.slice(cut))])).toBe(
          expected,
        );
      }),
      { numRuns: 100 },
    );
  });

  it('hashes primaries in batches: across batch boundaries, at any offset, in calls of any size', () => {
    const people = Array.from({ length: 1300 }, (_, i) => ({
      primary: createHash('sha256').update(`person ${i}`).digest(),
      others: [] as TaggedDigest[],
    }));
    const packed = new Uint8Array(5 + people.length * 32);
    people.forEach((p, i) => {
      packed.set(p.primary, 5 + i * 32);
    });
    const f = new ListFingerprint(scope);
    f.primaries(packed, 5, people.length);
    expect(f.value()).toBe(reference(people));
    // A value taken midway does not disturb the rest; calls of 1, 700 and 599 digests.
    const g = new ListFingerprint(scope);
    g.primaries(packed, 5, 1);
    g.primaries(packed, 5 + 32, 700);
    expect(g.value()).toBe(reference(people.slice(0, 701)));
    g.primaries(packed, 5 + 701 * 32, people.length - 701);
    expect(g.value()).toBe(reference(people));
  });

  it('differs by scope', () => {
    const p = [{ primary: new Uint8Array(32).fill(3), others: [] as TaggedDigest[] }];
    const other = new ListFingerprint(new Uint8Array(32).fill(9));
    other.primaries(p[0]?.primary as Uint8Array, 0, 1);
    expect(other.value()).not.toBe(fingerprint(p));
  });
});
