import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  differenceCheck,
  fingerprintAdd,
  type MatchedSets,
  mergeMatchedSets,
  symmetricDifferenceSize,
} from '../../shared/domain/privacy/difference-check.ts';

const hex16 = (n: number) => n.toString(16).padStart(16, '0');
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => hex16(from + i));

function sets(people: number[], segments: Record<string, number[]>): MatchedSets {
  let sum = 0n;
  for (const p of people) sum = fingerprintAdd(sum, hex16(p));
  const seg = Object.fromEntries(Object.entries(segments).map(([id, ps]) => [id, ps.map(hex16).sort()]));
  const union = [...new Set(Object.values(segments).flat())].map(hex16).sort();
  return {
    listFingerprint: sum.toString(16).padStart(16, '0'),
    distinct: people.length,
    union,
    segments: seg,
  };
}

describe('symmetricDifferenceSize', () => {
  it('equals the size of the set symmetric difference', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(200)), fc.uniqueArray(fc.nat(200)), (a, b) => {
        const A = new Set(a);
        const B = new Set(b);
        const expected = [...A].filter((x) => !B.has(x)).length + [...B].filter((x) => !A.has(x)).length;
        expect(symmetricDifferenceSize(a.map(hex16).sort(), b.map(hex16).sort())).toBe(expected);
      }),
    );
  });
});

describe('differenceCheck', () => {
  const k = 50;
  const base = Array.from({ length: 1_000 }, (_, i) => i);
  const inS = base.filter((i) => i % 3 === 0);

  it('suppresses every segment, with or without the victim in it, for "list plus one victim"', () => {
    const before = sets(base, { S: inS, T: base.filter((i) => i % 5 === 0) });
    const withVictimInS = sets([...base, 5_000], { S: [...inS, 5_000], T: base.filter((i) => i % 5 === 0) });
    const withVictimNowhere = sets([...base, 5_000], { S: inS, T: base.filter((i) => i % 5 === 0) });
    const a = differenceCheck(withVictimInS, [before], ['S', 'T'], k);
    const b = differenceCheck(withVictimNowhere, [before], ['S', 'T'], k);
    expect([...a.segments].sort()).toEqual(['S', 'T']);
    expect(a).toEqual(b);
    expect(a.total).toBe(true);
  });

  it('releases segments that moved by k people or more', () => {
    const before = sets(base, { S: inS });
    const more = [...base, ...range(5_000, 5_000 + k).map((h) => Number.parseInt(h, 16))];
    const after = sets(more, { S: [...inS, ...more.slice(base.length)] });
    expect(differenceCheck(after, [before], ['S'], k).segments.size).toBe(0);
  });

  it('skips earlier matches of the very same list (replays are handled apart)', () => {
    const before = sets(base, { S: inS });
    const again = sets([...base].reverse(), { S: inS });
    expect(again.listFingerprint).toBe(before.listFingerprint);
    expect(differenceCheck(again, [before], ['S'], k).compared).toBe(0);
  });

  it('merges disjoint shards into the whole', () => {
    const whole = sets(base, { S: inS });
    const parts = [0, 1, 2, 3].map((r) =>
      sets(
        base.filter((i) => i % 4 === r),
        { S: inS.filter((i) => i % 4 === r) },
      ),
    );
    expect(mergeMatchedSets(parts)).toEqual(whole);
  });
});
