/**
 * The membership filter never changes a match: the same tally and the same run of matched people
 * with and without it, at low, middle and high match rates; and it skips the reads of people the
 * partner does not hold (all but its false positives).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryAudienceStore } from '../../shared/adapters/memory/memory-audience-store.ts';
import { MembershipFilter } from '../../shared/domain/audiences/membership-filter.ts';
import { createPortableKeyer } from '../../shared/domain/matching/keyer.ts';
import { type ListPerson, matchShard } from '../../shared/domain/matching/match-shard.ts';
import type { AudienceSnapshot } from '../../shared/domain/model.ts';
import type { AudienceStore } from '../../shared/domain/ports.ts';

const keyer = createPortableKeyer('k1', new Uint8Array(32).fill(3));
const digest = (label: string) => new Uint8Array(createHash('sha256').update(label).digest());

/** Counts the keys each lookup asks for. */
function counting(store: AudienceStore): AudienceStore & { keys: number } {
  const wrapped = {
    keys: 0,
    snapshot: (p: string) => store.snapshot(p),
    memberships: (s: AudienceSnapshot, keys: readonly string[]) => {
      wrapped.keys += keys.length;
      return store.memberships(s, keys);
    },
  };
  return wrapped;
}

describe('matchShard with a membership filter', () => {
  for (const rate of [0.1, 0.4, 0.7]) {
    it(`gives the same tally and run with and without it at a ${rate * 100} % match rate, reading fewer keys`, async () => {
      const store = new MemoryAudienceStore();
      const members = Array.from({ length: 3_000 }, (_, i) => keyer.key(digest(`member:${i}`)));
      store.putSegment('p', { segmentId: 'a', name: 'A', description: '' }, members.slice(0, 2_000));
      store.putSegment('p', { segmentId: 'b', name: 'B', description: '' }, members.slice(1_000));
      const filter = MembershipFilter.sized(members.length);
      for (const key of members) filter.add(key);
      const list: ListPerson[] = Array.from({ length: 2_000 }, (_, i) => {
        const member = i < 2_000 * rate;
        const primary = { kind: 'email' as const, digest: digest(member ? `member:${i}` : `stranger:${i}`) };
        return i % 3 === 0 ? [primary, { kind: 'phone' as const, digest: digest(`phone:${i}`) }] : [primary];
      });
      const snapshot = (await store.snapshot('p')) as AudienceSnapshot;
      const plain = counting(store);
      const filtered = counting(store);
      const without = await matchShard({ people: list, snapshot, store: plain, keyer });
      const withFilter = await matchShard({
        people: list,
        snapshot,
        store: filtered,
        keyer,
        mayHold: (key) => filter.mayHold(key),
      });
      expect(withFilter).toEqual(without);
      expect(Buffer.from(withFilter.run).equals(Buffer.from(without.run))).toBe(true);
      expect(without.matched).toBeGreaterThan(0);
      const held = Math.ceil(2_000 * rate);
      expect(filtered.keys).toBeGreaterThanOrEqual(held);
      // Strangers' reads skipped, but for a few false positives.
      expect(filtered.keys - held).toBeLessThan((plain.keys - held) * 0.03 + 5);
    });
  }
});
