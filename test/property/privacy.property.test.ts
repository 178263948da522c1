import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryAudienceStore } from '../../shared/adapters/memory/memory-audience-store.ts';
import { createPortableKeyer } from '../../shared/domain/matching/keyer.ts';
import { matchShard, partitionPeople, reduceTallies } from '../../shared/domain/matching/match-shard.ts';
import type { AudienceSnapshot } from '../../shared/domain/model.ts';
import { applyPrivacy } from '../../shared/domain/privacy/apply-privacy.ts';
import {
  DEFAULT_PRIVACY_SETTINGS,
  type PrivacySettings,
  ROUNDING_MODES,
} from '../../shared/domain/privacy/privacy-params.ts';
import { MatchResultSchema } from '../../shared/domain/result/result-schema.ts';
import { seededWords } from '../support/seeded-words.ts';

const settingsArb: fc.Arbitrary<PrivacySettings> = fc
  .record({
    minSegmentSize: fc.integer({ min: 20, max: 200 }),
    rhoPerMatch: fc.constantFrom(0.001, 0.01, 0.1, 1),
    unsafeNoiseOffForTests: fc.boolean(),
    rounding: fc.constantFrom(...ROUNDING_MODES),
  })
  .map((s) => ({ ...DEFAULT_PRIVACY_SETTINGS, ...s, rhoPerAdvertiserPartner: 10, rhoPerPartner: 10 }));

const caseArb = fc
  .record({
    settings: settingsArb,
    raiseK: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
    counts: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 8 }),
    extraMatched: fc.integer({ min: 0, max: 400 }),
    seed: fc.integer(),
  })
  .map((c) => ({
    ...c,
    requestedK: c.raiseK === undefined ? undefined : Math.min(200, c.settings.minSegmentSize + c.raiseK),
  }));

const budget = {
  period: '2026-11',
  renewsAt: '2026-12-01T00:00:00.000Z',
  rhoSpent: 0.01,
  advertiserLeft: 1,
  advertiserAllowance: 10,
  partnerLeft: 1,
};

describe('privacy properties', () => {
  it('never releases a value under k; every suppression has a reason; ratios only beside a released total', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const ids = c.counts.map((_, i) => `s${i}`);
        const snapshot: AudienceSnapshot = {
          partnerId: 'p',
          profile: 'basic',
          segments: ids.map((segmentId, i) => ({
            segmentId,
            name: segmentId,
            description: '',
            size: 1000 + i,
            version: 1,
            publishedSize: 1000 + i,
          })),
          baseSize: 50_000,
          publishedBaseSize: 50_000,
        };
        const result = applyPrivacy({
          tally: {
            matched: Math.max(0, ...c.counts) + c.extraMatched,
            perSegment: Object.fromEntries(ids.map((id, i) => [id, c.counts[i] ?? 0])),
          },
          snapshot,
          listSummary: {
            rows: 5000,
            valid: 5000,
            invalid: 0,
            invalidByReason: {},
            duplicates: 0,
            distinct: 5000,
          },
          settings: c.settings,
          requestedK: c.requestedK,
          budget,
          random: seededWords(c.seed),
        });
        const k = result.privacy.k;
        expect(k).toBe(c.requestedK ?? c.settings.minSegmentSize);
        expect(MatchResultSchema.safeParse(result).success).toBe(true);
        expect(result.privacy.noise.sensitivity2).toBe(ids.length + 1);
        for (const s of result.segments) {
          expect(s.suppressed).toBe(s.matched === null);
          if (s.matched !== null) expect(s.matched).toBeGreaterThanOrEqual(k);
          else expect(['below-k', 'rounding-edge']).toContain(s.reason);
        }
        if (result.matched === null) {
          expect(result.matchedSuppressedReason).toBeDefined();
          expect(result.matchRate).toBeNull();
          for (const s of result.segments) expect([s.share, s.affinity]).toEqual([null, null]);
        } else {
          expect(result.matched).toBeGreaterThanOrEqual(k);
        }
        if (c.settings.unsafeNoiseOffForTests) expect(result.privacy.budget).toBeNull();
        else expect(result.privacy.noise.mechanism).toBe('discrete-gaussian');
      }),
      { numRuns: 500 },
    );
  });
});

describe('matching properties', () => {
  const keyer = createPortableKeyer('prop', new Uint8Array(32).fill(3));
  const digests = Array.from(
    { length: 120 },
    (_, i) => new Uint8Array(createHash('sha256').update(`person${i}`).digest()),
  );
  const keys = digests.map((d) => keyer.key(d));

  const phones = Array.from(
    { length: 120 },
    (_, i) =>
      new Uint8Array(
        createHash('sha256')
          .update(`+1555${String(i).padStart(7, '0')}`)
          .digest(),
      ),
  );

  it('gives the same tally partitioned into any power-of-two shard count as in one shard, and the true counts of distinct partner people', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.boolean(), { minLength: 120, maxLength: 120 }), { minLength: 1, maxLength: 6 }),
        // A list row: a partner person's index and what it carries (0 email, 1 phone, 2 both).
        fc.array(fc.tuple(fc.integer({ min: 0, max: 119 }), fc.integer({ min: 0, max: 2 })), {
          maxLength: 300,
        }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 20 }),
        async (memberships, rows, shardBits, batchSize) => {
          // Partner person i: email i and phone i, person key = its email's key.
          const store = new MemoryAudienceStore();
          memberships.forEach((members, s) => {
            store.putSegmentPeople(
              'p',
              { segmentId: `seg${s}`, name: `Seg ${s}`, description: '' },
              keys
                .map((key, i) => ({
                  person: key,
                  ids: [
                    { key, kind: 'email' as const },
                    { key: keyer.key(phones[i] as Uint8Array), kind: 'phone' as const },
                  ],
                }))
                .filter((_, i) => members[i]),
            );
          });
          const snapshot = await store.snapshot('p');
          if (!snapshot) throw new Error('no snapshot');
          const email = (i: number) => ({ kind: 'email' as const, digest: digests[i] as Uint8Array });
          const phone = (i: number) => ({ kind: 'phone' as const, digest: phones[i] as Uint8Array });
          const list = rows.map(([i, mode]) =>
            mode === 0 ? [email(i)] : mode === 1 ? [phone(i)] : [email(i), phone(i)],
          );
          const { run: _run, ...single } = await matchShard({
            people: list,
            snapshot,
            store,
            keyer,
            batchSize,
          });
          const shards = partitionPeople(list, 2 ** shardBits);
          const tallies = await Promise.all(
            shards.map((shard) =>
              matchShard({ people: shard, snapshot, store, keyer, batchSize, concurrency: 3 }),
            ),
          );
          expect(await reduceTallies(tallies, snapshot)).toEqual(single);

          // Brute force: list people by primary; partner people hit through any identifier, once.
          const primaries = new Set(rows.map(([i, mode]) => `${mode === 1 ? 'p' : 'e'}${i}`));
          const hit = [...new Set(rows.map(([i]) => i))];
          const inSegments = (p: number) => memberships.filter((m) => m[p]).length;
          const matched = hit.filter((p) => inSegments(p) > 0);
          const through = (modes: number[]) =>
            new Set(rows.filter(([i, mode]) => modes.includes(mode) && inSegments(i) > 0).map(([i]) => i))
              .size;
          const perSegment: Record<string, number> = {};
          memberships.forEach((m, s) => {
            const n = hit.filter((p) => m[p]).length;
            if (n > 0) perSegment[`seg${s}`] = n;
          });
          expect(single).toEqual({
            distinct: primaries.size,
            listByKind: {
              email: new Set(rows.filter(([, mode]) => mode !== 1).map(([i]) => i)).size,
              phone: new Set(
                rows.filter(([, mode]) => mode !== 0).map(([i, mode]) => `${mode === 1 ? 'p' : 'e'}${i}`),
              ).size,
            },
            matched: matched.length,
            perSegment,
            byKind: { email: through([0, 2]), phone: through([1, 2]) },
            maxSegmentsPerPerson: Math.max(0, ...matched.map(inSegments)),
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});
