/**
 * The noise sensitivity stays exact when people carry several identifiers: adding one partner
 * person (any identifiers, any segments, sharing a household phone with others) to the partner's
 * data moves every released count (total, each segment, each kind) by at most 1, so the squared
 * L2 distance between the two count vectors never exceeds `matchSensitivity2`, whatever the list.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MemoryAudienceStore,
  type MemoryPerson,
} from '../../shared/adapters/memory/memory-audience-store.ts';
import { createPortableKeyer } from '../../shared/domain/matching/keyer.ts';
import {
  type ListPerson,
  matchShard,
  partitionPeople,
  reduceTallies,
} from '../../shared/domain/matching/match-shard.ts';
import type { AudienceSnapshot, SegmentInfo } from '../../shared/domain/model.ts';
import { matchSensitivity2, releasedKinds } from '../../shared/domain/privacy/apply-privacy.ts';

const keyer = createPortableKeyer('sens', new Uint8Array(32).fill(9));
const digest = (s: string) => new Uint8Array(createHash('sha256').update(s).digest());
const emailOf = (n: number) => digest(`person${n}@example.com`);
const phoneOf = (n: number) => digest(`+1202555${String(n).padStart(4, '0')}`);
const SEGMENTS = ['s0', 's1', 's2'];

/** Partner person n: an email and/or a phone (mode 0 both, 1 email, 2 phone), maybe the household phone. */
function person(n: number, mode: number, household: boolean): MemoryPerson {
  const ids = [
    ...(mode !== 2 ? [{ key: keyer.key(emailOf(n)), kind: 'email' as const }] : []),
    ...(mode !== 1 ? [{ key: keyer.key(phoneOf(n)), kind: 'phone' as const }] : []),
    ...(household ? [{ key: keyer.key(phoneOf(9999)), kind: 'phone' as const }] : []),
  ];
  return { person: ids[0]?.key as string, ids };
}

async function countsOf(
  people: { p: MemoryPerson; segments: boolean[] }[],
  list: ListPerson[],
  shards: number,
) {
  const store = new MemoryAudienceStore();
  SEGMENTS.forEach((segmentId, s) => {
    store.putSegmentPeople(
      'p',
      { segmentId, name: segmentId, description: '' },
      people.filter((x) => x.segments[s]).map((x) => x.p),
    );
  });
  // The same public catalog on both sides: every segment, both kinds (a neighbour differs in people).
  const segments: SegmentInfo[] = SEGMENTS.map((segmentId) => ({
    segmentId,
    name: segmentId,
    description: '',
    size: 0,
    version: 1,
    kinds: ['email', 'phone'],
  }));
  const snapshot: AudienceSnapshot = { partnerId: 'p', profile: 'basic', segments, baseSize: 0 };
  const matches = await Promise.all(
    partitionPeople(list, shards).map((shard) => matchShard({ people: shard, snapshot, store, keyer })),
  );
  const tally = await reduceTallies(matches, snapshot);
  return {
    snapshot,
    vector: [
      tally.matched,
      ...SEGMENTS.map((s) => tally.perSegment[s] ?? 0),
      ...releasedKinds(snapshot).map((k) => tally.byKind[k]),
    ],
  };
}

describe('sensitivity with several identifiers per person', () => {
  it('is the total, each segment and each kind: S + 1 + K when the catalog holds K >= 2 kinds, S + 1 with one', () => {
    const seg = (kinds: ('email' | 'phone')[] | undefined): SegmentInfo => ({
      segmentId: 'x',
      name: 'x',
      description: '',
      size: 0,
      version: 1,
      ...(kinds ? { kinds } : {}),
    });
    expect(matchSensitivity2({ segments: [seg(['email', 'phone']), seg(['email'])] })).toBe(2 + 1 + 2);
    expect(matchSensitivity2({ segments: [seg(['email']), seg(undefined)] })).toBe(2 + 1);
    expect(matchSensitivity2({ segments: [seg(['phone'])] })).toBe(1 + 1);
  });

  it('one added partner person moves the released vector by at most the sensitivity, for any list and shards', async () => {
    const personArb = fc.record({
      mode: fc.integer({ min: 0, max: 2 }),
      household: fc.boolean(),
      segments: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(personArb, { minLength: 1, maxLength: 12 }),
        personArb,
        // List rows: which person, and which identifiers the row carries (0 both, 1 email, 2 phone, 3 household).
        fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 3 })), {
          maxLength: 40,
        }),
        fc.constantFrom(1, 2, 8),
        async (others, added, rows, shards) => {
          const base = others.map((o, n) => ({ p: person(n, o.mode, o.household), segments: o.segments }));
          const extra = { p: person(12, added.mode, added.household), segments: added.segments };
          const list: ListPerson[] = rows.map(([n, mode]) =>
            mode === 3
              ? [{ kind: 'phone', digest: phoneOf(9999) }]
              : [
                  ...(mode !== 2 ? [{ kind: 'email' as const, digest: emailOf(n) }] : []),
                  ...(mode !== 1 ? [{ kind: 'phone' as const, digest: phoneOf(n) }] : []),
                ],
          );
          const without = await countsOf(base, list, shards);
          const withIt = await countsOf([...base, extra], list, shards);
          const d2 = without.vector.reduce((sum, v, i) => sum + ((withIt.vector[i] as number) - v) ** 2, 0);
          for (let i = 0; i < without.vector.length; i++)
            expect(
              Math.abs((withIt.vector[i] as number) - (without.vector[i] as number)),
            ).toBeLessThanOrEqual(1);
          expect(d2).toBeLessThanOrEqual(matchSensitivity2(without.snapshot));
          expect(matchSensitivity2(without.snapshot)).toBe(SEGMENTS.length + 1 + 2);
        },
      ),
      { numRuns: 150 },
    );
  });
});
