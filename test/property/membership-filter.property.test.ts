/**
 * The membership filter: never a false negative (a key added is always "maybe"), a false-positive
 * rate near its design rate, a stored form that reads back identical, parts by the key's top bits.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BITS_PER_KEY,
  designFalsePositiveRate,
  FILTER_PARTS,
  filterPartOf,
  MembershipFilter,
} from '../../shared/domain/audiences/membership-filter.ts';

const pepper = randomBytes(32);
const keyOf = (value: string) => createHmac('sha256', pepper).update(value).digest('base64url');

describe('MembershipFilter', () => {
  it('has no false negatives, for any keys and any size it was built for', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 0, maxLength: 400 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.integer({ min: 4, max: 24 }),
        (values, declared, bitsPerKey) => {
          const filter = MembershipFilter.sized(declared, bitsPerKey);
          const keys = values.map(keyOf);
          for (const k of keys) filter.add(k);
          const read = MembershipFilter.from(filter.bytes());
          for (const k of keys) {
            expect(filter.mayHold(k)).toBe(true);
            expect(read.mayHold(k)).toBe(true);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('answers "no" for keys it never saw at about its design rate', () => {
    const n = 200_000;
    const filter = MembershipFilter.sized(n);
    for (let i = 0; i < n; i++) filter.add(keyOf(`member-${i}`));
    let positives = 0;
    const probes = 200_000;
    for (let i = 0; i < probes; i++) if (filter.mayHold(keyOf(`stranger-${i}`))) positives++;
    const measured = positives / probes;
    const design = designFalsePositiveRate(DEFAULT_BITS_PER_KEY);
    expect(design).toBeGreaterThan(0.001);
    expect(design).toBeLessThan(0.01);
    expect(measured).toBeGreaterThan(design * 0.6);
    expect(measured).toBeLessThan(design * 1.4);
  });

  it('stores as 16 header bytes and its blocks, and refuses anything else', () => {
    const filter = MembershipFilter.sized(1_000);
    expect(filter.byteLength).toBe(16 + filter.blocks * 32);
    const bytes = filter.bytes();
    expect(() => MembershipFilter.from(bytes.subarray(0, bytes.length - 1))).toThrow(RangeError);
    expect(() => MembershipFilter.from(new Uint8Array(48))).toThrow(RangeError);
    expect(() => filter.add('not base64url!!!')).toThrow(RangeError);
  });

  it('parts by the top four bits of the keyed value, evenly', () => {
    const counts = new Array<number>(FILTER_PARTS).fill(0);
    for (let i = 0; i < 16_000; i++) {
      const part = filterPartOf(keyOf(`p-${i}`));
      counts[part] = (counts[part] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
    expect(filterPartOf('_xxxxxxxxxxxxxx')).toBe(15);
    expect(filterPartOf('Axxxxxxxxxxxxxx')).toBe(0);
  });
});
