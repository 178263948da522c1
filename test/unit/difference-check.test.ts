import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  combineFingerprints,
  fingerprintAdd,
  type MatchedSets,
  ShardedDifferenceCheck,
  symmetricDifferenceSize,
} from '../../shared/domain/privacy/difference-check.ts';

const hex16 = (n: number) => n.toString(16).padStart(16, '0');

/** The matched sets of a list of people, in `shards` shards by the digest's leading hex digit. */
function sets(people: number[], segments: Record<string, number[]>, shards = 1): MatchedSets[] {
  const shardOf = (n: number) => Number.parseInt(hex16(n * 2654435761).slice(-1), 16) % shards;
  return Array.from({ length: shards }, (_, s) => {
    const mine = (ps: number[]) => ps.filter((p) => shardOf(p) === s);
    let sum = 0n;
    for (const p of mine(people)) sum = fingerprintAdd(sum, hex16(p));
    const seg = Object.fromEntries(
      Object.entries(segments).map(([id, ps]) => [id, mine(ps).map(hex16).sort()]),
    );
    const union = [...new Set(Object.values(segments).flatMap(mine))].map(hex16).sort();
    return {
      listFingerprint: sum.toString(16).padStart(16, '0'),
      distinct: mine(people).length,
      union,
      segments: seg,
    };
  });
}

function check(current: MatchedSets[], earlier: MatchedSets[][], ids: string[], k: number) {
  const c = new ShardedDifferenceCheck(ids, earlier.length);
  for (let s = 0; s < current.length; s++) {
    earlier.forEach((e, i) => {
      c.add(i, current[s] as MatchedSets, e[s] as MatchedSets);
    });
  }
  return c.verdict(
    k,
    earlier.map((_, i) => i),
  );
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

describe('the difference check', () => {
  const k = 50;
  const base = Array.from({ length: 1_000 }, (_, i) => i);
  const inS = base.filter((i) => i % 3 === 0);
  const inT = base.filter((i) => i % 5 === 0);

  it('suppresses every segment and the total, with or without the victim in them, for "list plus one victim"', () => {
    const before = sets(base, { S: inS, T: inT });
    const victimInS = check(sets([...base, 5_000], { S: [...inS, 5_000], T: inT }), [before], ['S', 'T'], k);
    const victimNowhere = check(sets([...base, 5_000], { S: inS, T: inT }), [before], ['S', 'T'], k);
    expect([...victimInS.segments].sort()).toEqual(['S', 'T']);
    expect(victimInS.total).toBe(true);
    expect(victimInS).toEqual(victimNowhere);
  });

  it('releases segments that moved by k people or more', () => {
    const added = Array.from({ length: k }, (_, i) => 5_000 + i);
    const verdict = check(
      sets([...base, ...added], { S: [...inS, ...added] }),
      [sets(base, { S: inS })],
      ['S'],
      k,
    );
    expect(verdict.segments.size).toBe(0);
    expect(verdict.total).toBe(false);
  });

  it('gives the same verdict over 16 shards as over one, and the same list fingerprint', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(3_000), { maxLength: 400 }), fc.nat(60), (extra, cut) => {
        const people = [...base.slice(cut), ...extra.map((e) => 10_000 + e)];
        const segs = { S: people.filter((p) => p % 3 === 0), T: people.filter((p) => p % 7 === 0) };
        const earlier = { S: inS, T: base.filter((p) => p % 7 === 0) };
        const one = check(sets(people, segs, 1), [sets(base, earlier, 1)], ['S', 'T'], 20);
        const sixteen = check(sets(people, segs, 16), [sets(base, earlier, 16)], ['S', 'T'], 20);
        expect(sixteen).toEqual(one);
        expect(combineFingerprints(sets(people, segs, 16).map((s) => s.listFingerprint))).toBe(
          sets(people, segs, 1)[0]?.listFingerprint,
        );
      }),
      { numRuns: 40 },
    );
  });

  it('keeps order out of the list fingerprint', () => {
    const a = sets(base, { S: inS })[0]?.listFingerprint;
    const b = sets([...base].reverse(), { S: inS })[0]?.listFingerprint;
    expect(a).toBe(b);
  });
});
