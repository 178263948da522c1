/**
 * The compact structures of the match agree with the straightforward ones on random input: the
 * digest table with a Set of strings, the batch HMAC with node:crypto's createHmac, the memory
 * store's binary lookups with its string lookups, the matched-people table and run merge with plain
 * maps and sorts, and matchShard's binary path (batch keys, binary
 * store) with its string path (one key at a time, base64url keys).
 */
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryAudienceStore } from '../../shared/adapters/memory/memory-audience-store.ts';
import { hmacKeyer, type PepperRing } from '../../shared/adapters/pepper.ts';
import {
  base64url32,
  createDigestHmac,
  createDigestHmacChain,
  createPrefixedDigestHash,
  type DigestHmac,
} from '../../shared/domain/matching/digest-hmac.ts';
import { SIMD_BATCH, simdHmac } from '../../shared/domain/matching/digest-hmac-simd.ts';
import { DigestTable } from '../../shared/domain/matching/digest-table.ts';
import { createPortableKeyer } from '../../shared/domain/matching/keyer.ts';
import { type ListPerson, matchShard } from '../../shared/domain/matching/match-shard.ts';
import {
  decodeBase64url32,
  kindBit,
  MatchedPeopleTable,
  mergeRuns,
} from '../../shared/domain/matching/matched-people.ts';
import type { AudienceKeyer, AudienceStore } from '../../shared/domain/ports.ts';
import { recordingSink } from '../support/people-sink.ts';

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
/** Digests drawn from a small pool, so duplicates are frequent. */
const pooledDigests = fc
  .array(digest, { minLength: 1, maxLength: 40 })
  .chain((pool) => fc.array(fc.constantFrom(...pool), { maxLength: 400 }));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('DigestTable', () => {
  it('numbers distinct digests in first-seen order, like a Map of strings', () => {
    fc.assert(
      fc.property(pooledDigests, fc.integer({ min: 0, max: 3 }), (digests, tiny) => {
        // A fixed mix with tiny = 0 sends every digest through the same few slots (collisions).
        const table = new DigestTable(0, tiny === 0 ? new Int32Array(9).fill(1) : undefined);
        const reference = new Map<string, number>();
        for (const d of digests) {
          const expected = reference.get(hex(d)) ?? reference.size;
          reference.set(hex(d), expected);
          expect(table.add(d, 0)).toBe(expected);
        }
        expect(table.size).toBe(reference.size);
        for (const [h, n] of reference) {
          expect(hex(table.digestAt(n))).toBe(h);
          expect(table.find(Buffer.from(h, 'hex'), 0)).toBe(n);
        }
        // findMany: the same answers for a batch of present and absent digests, at an offset.
        const batch = [...digests.slice(0, 20), ...digests.slice(0, 5).map((d) => d.map((b) => b ^ 1))];
        const bytes = new Uint8Array(7 + batch.length * 32);
        batch.forEach((d, i) => {
          bytes.set(d, 7 + i * 32);
        });
        const out = new Int32Array(batch.length);
        table.findMany(bytes, 7, batch.length, out);
        expect([...out]).toEqual(batch.map((d) => reference.get(hex(d)) ?? -1));
      }),
    );
  });

  it('grows past its first capacity and finds digests at any offset', () => {
    const table = new DigestTable();
    const all = new Uint8Array(5000 * 32);
    for (let i = 0; i < all.length; i++) all[i] = (i * 2654435761) >>> 13;
    for (let i = 0; i < 5000; i++) all[i * 32] = i & 0xff;
    for (let i = 0; i < 5000; i++) all[i * 32 + 1] = i >>> 8;
    for (let i = 0; i < 5000; i++) expect(table.add(all, i * 32)).toBe(i);
    for (let i = 0; i < 5000; i++) expect(table.find(all, i * 32)).toBe(i);
    expect(table.find(new Uint8Array(32).fill(255), 0)).toBe(-1);
  });
});

/**
 * A batch hash's SIMD and scalar paths give the same bytes, and `reference`'s, for any key up to a
 * block, any count of digests (across SIMD batches) and any offsets in and out.
 */
function agreesInBatches(
  make: (key: Uint8Array, simd: boolean) => DigestHmac,
  reference: (key: Uint8Array, digest: Uint8Array) => string,
): void {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 64 }),
      fc.integer({ min: 0, max: 2 * SIMD_BATCH + 7 }),
      fc.integer({ min: 0, max: 5 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      (key, count, offset, seed) => {
        const input = new Uint8Array(offset + count * 32);
        let x = seed | 1;
        for (let i = 0; i < input.length; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          input[i] = x & 255;
        }
        const simd = new Uint8Array(count * 32 + 3);
        const scalar = new Uint8Array(count * 32 + 3);
        make(key, true).keyInto(input, offset, count, simd, 3);
        make(key, false).keyInto(input, offset, count, scalar, 3);
        expect(hex(simd)).toBe(hex(scalar));
        for (const i of [0, count >> 1, count - 1].filter((i) => i >= 0 && i < count)) {
          const expected = reference(key, input.subarray(offset + i * 32, offset + i * 32 + 32));
          expect(hex(simd.subarray(3 + i * 32, 3 + i * 32 + 32))).toBe(expected);
        }
      },
    ),
    { numRuns: 50 },
  );
}

describe('prefixed hash of digests (the list fingerprint)', () => {
  it('equals SHA-256 of the key zero-padded to a block then the digest, SIMD and scalar, across batch boundaries', () => {
    agreesInBatches(createPrefixedDigestHash, (key, digest) => {
      const block = new Uint8Array(64);
      block.set(key);
      return createHash('sha256').update(block).update(digest).digest('hex');
    });
  });
});

describe('batch HMAC of digests', () => {
  it('equals createHmac for any key up to a block and any digests', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.array(digest, { minLength: 1, maxLength: 8 }),
        (key, digests) => {
          const input = new Uint8Array(3 + digests.length * 32);
          digests.forEach((d, i) => {
            input.set(d, 3 + i * 32);
          });
          const out = new Uint8Array(5 + digests.length * 32);
          createDigestHmac(key).keyInto(input, 3, digests.length, out, 5);
          digests.forEach((d, i) => {
            const expected = createHmac('sha256', key).update(d).digest();
            expect(hex(out.subarray(5 + i * 32, 5 + i * 32 + 32))).toBe(expected.toString('hex'));
            expect(base64url32(out, 5 + i * 32)).toBe(expected.toString('base64url'));
          });
        },
      ),
    );
  });

  it('keys four at a time with WebAssembly SIMD as the scalar path does, across batch boundaries', () => {
    expect(simdHmac(new Int32Array(8), new Int32Array(8))).toBeDefined();
    agreesInBatches(createDigestHmac, (key, digest) =>
      createHmac('sha256', key).update(digest).digest('hex'),
    );
  });

  it('chains keys like the pepper ring, in place', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 3 }),
        digest,
        (keys, d) => {
          let expected: Uint8Array = d;
          for (const k of keys) expected = createHmac('sha256', k).update(expected).digest();
          const out = new Uint8Array(32);
          createDigestHmacChain(keys).keyInto(d, 0, 1, out, 0);
          expect(hex(out)).toBe(hex(expected));
        },
      ),
    );
  });

  it("gives the keyers' own keys (hmacKeyer with a rotated ring, the portable keyer)", () => {
    fc.assert(
      fc.property(fc.array(digest, { minLength: 1, maxLength: 5 }), (digests) => {
        const ring: PepperRing = {
          current: 'k2',
          keys: new Map([
            ['k1', new Uint8Array(32).fill(1)],
            ['k2', new Uint8Array(32).fill(2)],
          ]),
        };
        const keyers = [
          hmacKeyer(ring, 'k1'),
          hmacKeyer(ring),
          createPortableKeyer('p', new Uint8Array(48).fill(9)),
        ];
        const input = new Uint8Array(digests.length * 32);
        digests.forEach((d, i) => {
          input.set(d, i * 32);
        });
        for (const keyer of keyers) {
          const out = new Uint8Array(input.length);
          keyer.keyInto?.(input, 0, digests.length, out, 0);
          digests.forEach((d, i) => {
            expect(base64url32(out, i * 32)).toBe(keyer.key(d));
          });
        }
      }),
    );
  });
});

/** A partner of `people` people (person keys may be shared by several identifiers), random segments. */
const partner = fc.record({
  members: fc.array(
    fc.record({
      digest,
      segments: fc.subarray(['s1', 's2', 's3', 's4']),
      owner: fc.integer({ min: 0, max: 5 }),
    }),
    { maxLength: 30 },
  ),
  sharedOwners: fc.boolean(),
});

function partnerStore(
  p: { members: { digest: Uint8Array; segments: string[]; owner: number }[]; sharedOwners: boolean },
  keyer: AudienceKeyer,
) {
  const store = new MemoryAudienceStore();
  for (const segmentId of ['s1', 's2', 's3', 's4']) {
    const members = p.members.filter((m) => m.segments.includes(segmentId));
    if (p.sharedOwners) {
      store.putSegmentPeople(
        'p',
        { segmentId, name: segmentId, description: '' },
        members.map((m) => ({
          person: `person-${m.owner}`,
          ids: [{ key: keyer.key(m.digest), kind: 'email' as const }],
        })),
      );
    } else
      store.putSegment(
        'p',
        { segmentId, name: segmentId, description: '' },
        members.map((m) => keyer.key(m.digest)),
      );
  }
  return store;
}

describe('binary lookups and keys', () => {
  const keyer = hmacKeyer({ current: 'k1', keys: new Map([['k1', new Uint8Array(32).fill(3)]]) });

  /** A partner's store and snapshot, and its members' and strangers' digests keyed back to back. */
  const keyedBatch = async (p: Parameters<typeof partnerStore>[0], strangers: Uint8Array[]) => {
    const store = partnerStore(p, keyer);
    const snapshot = await store.snapshot('p');
    if (!snapshot) return undefined;
    const digests = [...p.members.map((m) => m.digest), ...strangers];
    const raw = new Uint8Array(digests.length * 32);
    digests.forEach((d, i) => {
      keyer.keyInto?.(d, 0, 1, raw, i * 32);
    });
    return { store, snapshot, digests, raw };
  };

  it('the memory store answers raw keys as it answers their base64url', async () => {
    await fc.assert(
      fc.asyncProperty(partner, fc.array(digest, { maxLength: 10 }), async (p, strangers) => {
        const batch = await keyedBatch(p, strangers);
        if (!batch) return;
        const { store, snapshot, digests, raw } = batch;
        const keys = digests.map((d) => keyer.key(d));
        expect(store.membershipsOfKeys(snapshot, raw, digests.length)).toEqual(
          await store.memberships(snapshot, keys),
        );
      }),
    );
  });

  it("the memory store's sink form adds the people and pinned segments of its string answers", async () => {
    await fc.assert(
      fc.asyncProperty(partner, fc.array(digest, { maxLength: 10 }), async (p, strangers) => {
        const batch = await keyedBatch(p, strangers);
        if (!batch) return;
        const { store, snapshot, digests, raw } = batch;
        const viaSink = new MatchedPeopleTable();
        store.addMembershipsOfKeys(snapshot, raw, digests.length, viaSink);
        const viaRows = new MatchedPeopleTable();
        const index = new Map(snapshot.segments.map((s, i) => [s.segmentId, i]));
        for (const row of await store.memberships(
          snapshot,
          digests.map((d) => keyer.key(d)),
        ))
          for (const hit of row) {
            const n = viaRows.person(hit.person);
            viaRows.addKinds(n, kindBit(hit.kind));
            for (const id of hit.segments) viaRows.addSegment(n, index.get(id) as number);
          }
        const segments = snapshot.segments.length;
        expect(viaSink.finish(segments)).toEqual(viaRows.finish(segments));
      }),
    );
  });

  it('matchShard gives the same tally and run with batch keys and binary lookups as with strings', async () => {
    const person = fc.array(
      fc.record({ kind: fc.constantFrom('email' as const, 'phone' as const), digest }),
      {
        minLength: 1,
        maxLength: 3,
      },
    );
    await fc.assert(
      fc.asyncProperty(
        partner,
        fc.array(person, { maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        async (p, strangers, batchSize) => {
          const store = partnerStore(p, keyer);
          const snapshot = await store.snapshot('p');
          if (!snapshot) return;
          // List people: partner members (some twice, some with a stranger's id) and strangers.
          const people: ListPerson[] = [
            ...p.members.map((m, i) => [
              { kind: 'email' as const, digest: m.digest },
              ...(strangers[i]?.slice(0, 1) ?? []),
            ]),
            ...strangers,
            ...p.members.slice(0, 5).map((m) => [{ kind: 'email' as const, digest: m.digest }]),
          ];
          const stringKeyer: AudienceKeyer = { keyId: keyer.keyId, key: keyer.key };
          const stringStore: AudienceStore = {
            snapshot: (id) => store.snapshot(id),
            memberships: (s, keys) => store.memberships(s, keys),
          };
          const seen: string[][] = [[], []];
          const run = (k: AudienceKeyer, s: AudienceStore, into: string[]) =>
            matchShard({
              people,
              snapshot,
              store: s,
              keyer: k,
              batchSize,
              peopleSink: recordingSink(into),
            });
          const fast = await run(keyer, store, seen[0] as string[]);
          const plain = await run(stringKeyer, stringStore, seen[1] as string[]);
          expect(fast).toEqual(plain);
          expect(seen[0]).toEqual(seen[1]);
          // Batch keys against a store that only takes strings: same again.
          expect(await run(keyer, stringStore, [])).toEqual(plain);
        },
      ),
    );
  });
});

describe('MatchedPeopleTable and mergeRuns', () => {
  /** The straightforward run: keys sorted as strings, each person's distinct segments ascending. */
  function plainRun(people: Map<string, { kinds: number; segments: Set<number> }>): Uint8Array {
    const bytes: number[] = [];
    for (const key of [...people.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const p = people.get(key) as { kinds: number; segments: Set<number> };
      const segments = [...p.segments].sort((a, b) => a - b);
      bytes.push(
        key.length,
        ...[...key].map((c) => c.charCodeAt(0)),
        p.kinds,
        segments.length >> 8,
        segments.length & 255,
      );
      for (const s of segments) bytes.push(s >> 8, s & 255);
    }
    return new Uint8Array(bytes);
  }
  // Keys that often share their first four characters (ties of the packed sort) or are prefixes.
  const key = fc
    .tuple(
      fc.constantFrom('', 'AAAA', 'AAAB', 'zz'),
      fc.string({ unit: fc.constantFrom('A', 'b', '-', '_', '0'), maxLength: 6 }),
    )
    .map(([a, b]) => a + b);
  const hits = fc.array(fc.tuple(key, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 9 })), {
    maxLength: 80,
  });

  it('writes the run the straightforward way would, with the same counts, for hits in any order and repeats', async () => {
    await fc.assert(
      fc.asyncProperty(hits, async (list) => {
        const table = new MatchedPeopleTable();
        const plain = new Map<string, { kinds: number; segments: Set<number> }>();
        for (const [k, kinds, segment] of list) {
          const n = table.person(k);
          table.addKinds(n, kinds);
          table.addSegment(n, segment);
          const p = plain.get(k) ?? { kinds: 0, segments: new Set<number>() };
          p.kinds |= kinds;
          p.segments.add(segment);
          plain.set(k, p);
        }
        const { counts, run } = table.finish(10);
        expect([...run]).toEqual([...plainRun(plain)]);
        expect(counts.matched).toBe(plain.size);
        const perSegment = new Array<number>(10).fill(0);
        for (const p of plain.values()) for (const s of p.segments) perSegment[s] = (perSegment[s] ?? 0) + 1;
        expect(counts.perSegment).toEqual(perSegment);
        expect(counts.maxSegmentsPerPerson).toBe(
          Math.max(0, ...[...plain.values()].map((p) => p.segments.size)),
        );
        expect(await mergeRuns([[run]], 10)).toEqual(counts);
      }),
    );
  });

  it('holds a person given by the 32 bytes of its key as the same person given by the key', async () => {
    const raw = fc.array(
      fc.tuple(fc.integer({ min: 0, max: 5 }), fc.boolean(), fc.integer({ min: 0, max: 9 })),
      {
        maxLength: 60,
      },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(digest, { minLength: 6, maxLength: 6 }),
        raw,
        hits,
        async (pool, rawHits, other) => {
          const bytes = new Uint8Array(6 * 32);
          pool.forEach((d, i) => {
            bytes.set(d, i * 32);
          });
          // The same hits, people by bytes or by base64url key, interleaved with other keys.
          const table = new MatchedPeopleTable();
          const plain = new MatchedPeopleTable();
          rawHits.forEach(([i, asBytes, segment], at) => {
            const n = asBytes ? table.rawPerson(bytes, i * 32) : table.person(base64url32(bytes, i * 32));
            table.addKinds(n, 1);
            table.addSegment(n, segment);
            const m = plain.person(base64url32(bytes, i * 32));
            plain.addKinds(m, 1);
            plain.addSegment(m, segment);
            const [k, kinds, s] = other[at] ?? ['x', 2, 0];
            for (const t of [table, plain]) {
              const o = t.person(k);
              t.addKinds(o, kinds);
              t.addSegment(o, s);
            }
          });
          expect(table.size).toBe(plain.size);
          expect(table.finish(10)).toEqual(plain.finish(10));
        },
      ),
    );
  });

  it('decodes exactly the canonical base64url of 32 bytes', () => {
    fc.assert(
      fc.property(
        digest,
        fc.integer({ min: 0, max: 42 }),
        fc.constantFrom('+', '=', 'B', 'é', 'A'),
        (d, at, c) => {
          const key = base64url32(d, 0);
          const out = new Uint8Array(32);
          expect(decodeBase64url32(key, out)).toBe(true);
          expect(hex(out)).toBe(hex(d));
          const changed = key.slice(0, at) + c + key.slice(at + 1);
          const decoded = Buffer.from(changed, 'base64url');
          const canonical = /^[A-Za-z0-9_-]{43}$/.test(changed) && base64url32(decoded, 0) === changed;
          expect(decodeBase64url32(changed, out)).toBe(canonical);
          if (canonical) expect(hex(out)).toBe(decoded.toString('hex'));
          expect(decodeBase64url32(key.slice(1), out)).toBe(false);
        },
      ),
    );
  });

  it('merges runs split into any chunks like one table of all their hits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(hits, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 9 }),
        async (shards, chunk) => {
          const all = new MatchedPeopleTable();
          const runs = shards.map((list) => {
            const table = new MatchedPeopleTable();
            for (const [k, kinds, segment] of list) {
              for (const t of [table, all]) {
                const n = t.person(k);
                t.addKinds(n, kinds);
                t.addSegment(n, segment);
              }
            }
            const { run } = table.finish(10);
            const chunks: Uint8Array[] = [];
            for (let i = 0; i < run.length; i += chunk) chunks.push(run.subarray(i, i + chunk));
            return (async function* () {
              yield* chunks;
            })();
          });
          expect(await mergeRuns(runs, 10)).toEqual(all.finish(10).counts);
        },
      ),
    );
  });
});
