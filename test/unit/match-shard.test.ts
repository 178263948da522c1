import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryAudienceStore } from '../../shared/adapters/memory/memory-audience-store.ts';
import { DomainError } from '../../shared/domain/errors.ts';
import { base64url, createPortableKeyer } from '../../shared/domain/matching/keyer.ts';
import {
  type ListPerson,
  matchShard,
  partitionDigests,
  partitionPeople,
  reduceTallies,
  type ShardMatch,
  shardOf,
} from '../../shared/domain/matching/match-shard.ts';
import { encodeRun, mergeRuns } from '../../shared/domain/matching/matched-people.ts';
import type { AudienceSnapshot } from '../../shared/domain/model.ts';
import type { AudienceStore } from '../../shared/domain/ports.ts';
import { recordingSink } from '../support/people-sink.ts';

const pepper = new Uint8Array(32).fill(7);
const keyer = createPortableKeyer('k1', pepper);
const digestOf = (email: string): Uint8Array => new Uint8Array(createHash('sha256').update(email).digest());
const keyOf = (email: string): string => keyer.key(digestOf(email));
const emails = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);

function seededStore(): MemoryAudienceStore {
  const store = new MemoryAudienceStore();
  // auto: a0..a59; outdoor: a40..a99 (overlap a40..a59); golf: g0..g9 (nobody in the list).
  store.putSegment(
    'p1',
    { segmentId: 'auto', name: 'Auto intenders', description: '' },
    emails('a', 60).map(keyOf),
  );
  store.putSegment(
    'p1',
    { segmentId: 'outdoor', name: 'Outdoor', description: '' },
    emails('a', 100).slice(40).map(keyOf),
  );
  store.putSegment('p1', { segmentId: 'golf', name: 'Golf', description: '' }, emails('g', 10).map(keyOf));
  return store;
}

/** A shard's counts without its run of matched people. */
const counts = ({ run: _run, ...tally }: ShardMatch) => tally;
const kinds = (email: number, phone = 0) => ({ email, phone });

async function snapshotOf(store: AudienceStore, partnerId = 'p1'): Promise<AudienceSnapshot> {
  const snapshot = await store.snapshot(partnerId);
  if (!snapshot) throw new Error('no snapshot');
  return snapshot;
}

describe('createPortableKeyer', () => {
  it('gives base64url HMAC-SHA256 under the pepper, byte-identical to node:crypto', () => {
    const digest = digestOf('someone@example.com');
    expect(keyer.key(digest)).toBe(createHmac('sha256', pepper).update(digest).digest('base64url'));
    expect(keyer.key(digest)).toHaveLength(43);
    expect(keyer.keyId).toBe('k1');
  });

  it('encodes base64url of every length without padding', () => {
    for (let n = 0; n < 8; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => 250 - i * 17);
      expect(base64url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
    }
  });
});

describe('matchShard', () => {
  it('dedupes the shard and tallies distinct people per segment', async () => {
    const store = seededStore();
    const snapshot = await snapshotOf(store);
    // a0..a119 (a100..a119 match nothing), every digest twice, plus strangers.
    const list = [...emails('a', 120), ...emails('a', 120), ...emails('z', 30)].map(digestOf);
    const tally = await matchShard({ digests: list, snapshot, store, keyer });
    expect(counts(tally)).toEqual({
      distinct: 150,
      listByKind: kinds(150),
      matched: 100,
      perSegment: { auto: 60, outdoor: 60 },
      byKind: kinds(100),
      maxSegmentsPerPerson: 2,
    });
  });

  it('reads async iterables and never exceeds the batch size or the concurrency', async () => {
    const inner = seededStore();
    const snapshot = await snapshotOf(inner);
    const sizes: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const slow: AudienceStore = {
      snapshot: (id) => inner.snapshot(id),
      async memberships(s, keys) {
        sizes.push(keys.length);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        return inner.memberships(s, keys);
      },
    };
    async function* digests(): AsyncGenerator<Uint8Array> {
      for (const e of emails('a', 1000)) yield digestOf(e);
    }
    let progressCalls = 0;
    const tally = await matchShard({
      digests: digests(),
      snapshot,
      store: slow,
      keyer,
      batchSize: 7,
      concurrency: 3,
      onProgress: () => {
        progressCalls++;
      },
    });
    expect(tally.distinct).toBe(1000);
    expect(tally.matched).toBe(100);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(7);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(progressCalls).toBe(sizes.length);
  });

  it('counts a person once per segment and ignores segments outside the snapshot', async () => {
    const inner = seededStore();
    const snapshot = await snapshotOf(inner);
    const odd: AudienceStore = {
      snapshot: (id) => inner.snapshot(id),
      memberships: async (_s, keys) =>
        keys.map((key) => [{ person: key, kind: 'email' as const, segments: ['auto', 'auto', 'unknown'] }]),
    };
    const tally = await matchShard({ digests: emails('x', 5).map(digestOf), snapshot, store: odd, keyer });
    expect(counts(tally)).toEqual({
      distinct: 5,
      listByKind: kinds(5),
      matched: 5,
      perSegment: { auto: 5 },
      byKind: kinds(5),
      maxSegmentsPerPerson: 1,
    });
  });

  it('propagates a failed lookup after the others settle', async () => {
    const inner = seededStore();
    const snapshot = await snapshotOf(inner);
    let calls = 0;
    const failing: AudienceStore = {
      snapshot: (id) => inner.snapshot(id),
      async memberships(s, keys) {
        calls++;
        if (calls === 2) throw new Error('throttled');
        return inner.memberships(s, keys);
      },
    };
    await expect(
      matchShard({ digests: emails('a', 500).map(digestOf), snapshot, store: failing, keyer, batchSize: 10 }),
    ).rejects.toThrow('throttled');
  });

  it('refuses a digest that is not 32 bytes with a typed error that holds no data', async () => {
    const store = seededStore();
    const snapshot = await snapshotOf(store);
    const bad = [digestOf('a0@example.com'), new Uint8Array(31).fill(1)];
    const error = await matchShard({ digests: bad, snapshot, store, keyer }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('invalid-digest');
    expect((error as DomainError).detail).not.toMatch(/[0-9a-f]{16}/);
  });

  it('returns an empty tally for an empty shard', async () => {
    const store = seededStore();
    const snapshot = await snapshotOf(store);
    const empty = await matchShard({ digests: [], snapshot, store, keyer });
    expect(counts(empty)).toEqual({
      distinct: 0,
      listByKind: kinds(0),
      matched: 0,
      perSegment: {},
      byKind: kinds(0),
      maxSegmentsPerPerson: 0,
    });
    expect(empty.run).toHaveLength(0);
  });

  it('gives the same tally partitioned into shards as in one shard', async () => {
    const store = seededStore();
    const snapshot = await snapshotOf(store);
    const list = [...emails('a', 150), ...emails('a', 50)].map(digestOf);
    const whole = await matchShard({ digests: list, snapshot, store, keyer });
    for (const shardCount of [2, 16, 256]) {
      const shards = partitionDigests(list, shardCount);
      const tallies = await Promise.all(
        shards.map((digests) => matchShard({ digests, snapshot, store, keyer })),
      );
      expect(await reduceTallies(tallies, snapshot)).toEqual(counts(whole));
    }
  });
});

describe('people with several identifiers', () => {
  const phoneDigest = (n: number) => digestOf(`+1555010${String(n).padStart(4, '0')}`);
  const phoneKey = (n: number) => keyer.key(phoneDigest(n));
  /**
   * Partner people 0..99, each with an email and a phone (person key: the email's key); p0..p59 in
   * auto, p40..p99 in outdoor; a household phone (9999) shared by p0 and p1.
   */
  function peopleStore(): MemoryAudienceStore {
    const store = new MemoryAudienceStore();
    const person = (n: number) => ({
      person: keyOf(`p${n}@example.com`),
      ids: [
        { key: keyOf(`p${n}@example.com`), kind: 'email' as const },
        { key: phoneKey(n), kind: 'phone' as const },
        ...(n < 2 ? [{ key: phoneKey(9999), kind: 'phone' as const }] : []),
      ],
    });
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => person(a + i));
    store.putSegmentPeople('p2', { segmentId: 'auto', name: 'Auto', description: '' }, range(0, 60));
    store.putSegmentPeople('p2', { segmentId: 'outdoor', name: 'Outdoor', description: '' }, range(40, 100));
    return store;
  }
  const email = (n: number) => ({ kind: 'email' as const, digest: digestOf(`p${n}@example.com`) });
  const phone = (n: number) => ({ kind: 'phone' as const, digest: phoneDigest(n) });

  it('matches a Customer Match row on email or phone, counting each partner person once', async () => {
    const store = peopleStore();
    const snapshot = await snapshotOf(store, 'p2');
    expect(snapshot.baseSize).toBe(100);
    const list: ListPerson[] = [
      [email(0), phone(0)], // both identifiers hit p0: once
      [email(1)], // email only
      [phone(2)], // phone only
      [{ kind: 'email', digest: digestOf('stranger@example.com') }, phone(3)], // a new email, p3's phone
      [email(4)],
      [email(4), phone(4)], // another row of the same partner person (a list duplicate)
      [{ kind: 'email', digest: digestOf('other@example.com') }, phone(4)], // a third list person hitting p4
      [email(50), phone(50)], // in both segments
      [{ kind: 'email', digest: digestOf('nobody@example.com') }],
    ];
    const tally = await matchShard({ people: list, snapshot, store, keyer });
    expect(counts(tally)).toEqual({
      // By primary identifier: p0, p1, phone 2, stranger, p4, other, p50, nobody.
      distinct: 8,
      listByKind: kinds(7, 6), // phones: p0, phone 2, stranger, p4 (its second row), other, p50
      matched: 6, // p0, p1, p2, p3, p4, p50
      perSegment: { auto: 6, outdoor: 1 },
      byKind: kinds(4, 5), // email: p0, p1, p4, p50; phone: p0, p2, p3, p4, p50
      maxSegmentsPerPerson: 2,
    });
  });

  it('counts everyone a shared identifier belongs to (a household phone): one added person moves each count by 1', async () => {
    const store = peopleStore();
    const snapshot = await snapshotOf(store, 'p2');
    const tally = await matchShard({ people: [[phone(9999)]], snapshot, store, keyer });
    expect(counts(tally)).toMatchObject({ matched: 2, perSegment: { auto: 2 }, byKind: kinds(0, 2) });
  });

  it('dedupes partner people across shards: partitioned == single shard, for any shard count', async () => {
    const store = peopleStore();
    const snapshot = await snapshotOf(store, 'p2');
    // Every partner person hit twice, by two list people with different primaries (so in
    // different shards): once by email, once by a row whose email is unknown and phone is theirs.
    const list: ListPerson[] = [];
    for (let n = 0; n < 120; n++) {
      list.push([email(n)]);
      list.push([{ kind: 'email', digest: digestOf(`alias${n}@example.org`) }, phone(n)]);
    }
    const whole = await matchShard({ people: list, snapshot, store, keyer });
    expect(counts(whole)).toMatchObject({
      distinct: 240,
      matched: 100,
      perSegment: { auto: 60, outdoor: 60 },
    });
    for (const shardCount of [2, 16, 256]) {
      const shards = partitionPeople(list, shardCount);
      const matches = await Promise.all(
        shards.map((people) => matchShard({ people, snapshot, store, keyer })),
      );
      // Summing the shards alone would count partner people twice; the merge counts them once.
      expect(matches.reduce((a, m) => a + m.matched, 0)).toBeGreaterThan(100);
      expect(await reduceTallies(matches, snapshot)).toEqual(counts(whole));
    }
  });

  it('tells the people sink each distinct primary and (primary, identifier) pair once, whatever the order and duplicates', async () => {
    const store = peopleStore();
    const snapshot = await snapshotOf(store, 'p2');
    const seen = async (list: ListPerson[]) => {
      const out: string[] = [];
      await matchShard({
        people: list,
        snapshot,
        store,
        keyer,
        peopleSink: recordingSink(out),
      });
      return out.sort();
    };
    const a = await seen([[email(1), phone(1)], [email(2)], [email(1)]]);
    const b = await seen([[email(2)], [email(1)], [email(1), phone(1)], [email(1), phone(1)]]);
    expect(a).toEqual(b);
    expect(a).toHaveLength(3);
  });
});

describe('matched-people runs', () => {
  it('merge sorted runs counting each person once, with the union of its kinds and segments', async () => {
    const run1 = encodeRun(
      new Map([
        ['bb', { kinds: 1, segments: new Set([0]) }],
        ['aa', { kinds: 1, segments: new Set([1]) }],
      ]),
    );
    const run2 = encodeRun(
      new Map([
        ['bb', { kinds: 2, segments: new Set([2]) }],
        ['cc', { kinds: 2, segments: new Set([0, 2]) }],
      ]),
    );
    // Chunked at every byte: records cross chunk boundaries.
    const bytes = (run: Uint8Array) => Array.from(run, (b) => Uint8Array.of(b));
    expect(await mergeRuns([bytes(run1), [run2], []], 3)).toEqual({
      matched: 3,
      perSegment: [2, 1, 2],
      byKind: { email: 2, phone: 2 },
      maxSegmentsPerPerson: 2,
    });
  });

  it('refuses an unsorted or truncated run', async () => {
    const sorted = encodeRun(new Map([['aa', { kinds: 1, segments: new Set([0]) }]]));
    await expect(mergeRuns([[sorted.subarray(0, sorted.length - 1)]], 1)).rejects.toThrow(DomainError);
    const twice = new Uint8Array([...sorted, ...sorted]);
    await expect(mergeRuns([[twice]], 1)).rejects.toThrow(DomainError);
  });
});

describe('shardOf and partitionDigests', () => {
  it('uses the leading bits of the digest', () => {
    const d = new Uint8Array(32);
    d[0] = 0b1011_0001;
    expect(shardOf(d, 1)).toBe(0);
    expect(shardOf(d, 2)).toBe(1);
    expect(shardOf(d, 4)).toBe(0b10);
    expect(shardOf(d, 16)).toBe(0b1011);
    expect(shardOf(d, 256)).toBe(0b1011_0001);
  });

  it('rejects shard counts that are not powers of two up to 256', () => {
    const d = new Uint8Array(32);
    for (const bad of [0, 3, 6, 512, 1.5, -2]) {
      expect(() => shardOf(d, bad)).toThrow(DomainError);
      expect(() => partitionDigests([d], bad)).toThrow(DomainError);
    }
  });

  it('partitions into disjoint shards covering every digest, each one a contiguous range', () => {
    const list = emails('p', 500).map(digestOf);
    const shards = partitionDigests(list, 8);
    expect(shards).toHaveLength(8);
    expect(shards.flat()).toHaveLength(500);
    shards.forEach((shard, i) => {
      for (const d of shard) expect(shardOf(d, 8)).toBe(i);
    });
  });
});

describe('MemoryAudienceStore versions', () => {
  it('keeps a snapshot on the version it pinned while a replacement is written', async () => {
    const store = seededStore();
    store.setPartnerProfile('p1', 'google');
    const before = await snapshotOf(store);
    expect(before.profile).toBe('google');
    expect(before.segments.map((s) => [s.segmentId, s.version, s.size])).toEqual([
      ['auto', 1, 60],
      ['golf', 1, 10],
      ['outdoor', 1, 60],
    ]);
    expect(before.baseSize).toBe(110);

    // Replace auto with a0..a9 only.
    const info = store.putSegment(
      'p1',
      { segmentId: 'auto', name: 'Auto (v2)', description: 'replaced' },
      emails('a', 10).map(keyOf),
    );
    expect(info).toMatchObject({ segmentId: 'auto', version: 2, size: 10 });
    const after = await snapshotOf(store);
    expect(after.segments.find((s) => s.segmentId === 'auto')).toMatchObject({
      version: 2,
      size: 10,
      name: 'Auto (v2)',
    });
    expect(after.baseSize).toBe(80);

    const key = keyOf('a30@example.com');
    const hit = (k: string, ...segments: string[]) => [{ person: k, kind: 'email', segments }];
    expect(await store.memberships(before, [key])).toEqual([hit(key, 'auto')]);
    expect(await store.memberships(after, [key])).toEqual([[]]);
    const [a5, a45] = [keyOf('a5@example.com'), keyOf('a45@example.com')];
    expect(await store.memberships(after, [a5, a45])).toEqual([hit(a5, 'auto'), hit(a45, 'outdoor')]);

    const old = await matchShard({ digests: emails('a', 100).map(digestOf), snapshot: before, store, keyer });
    const now = await matchShard({ digests: emails('a', 100).map(digestOf), snapshot: after, store, keyer });
    expect(old.perSegment.auto).toBe(60);
    expect(now.perSegment.auto).toBe(10);

    expect(store.dropSupersededVersions('p1')).toBe(1);
    expect(await store.memberships(after, [a5])).toEqual([hit(a5, 'auto')]);
    // Versions keep going up after a prune.
    expect(store.putSegment('p1', { segmentId: 'auto', name: 'Auto', description: '' }, []).version).toBe(3);
  });

  it('reports the partner-side bound on segments per member and answers unknown partners', async () => {
    const store = seededStore();
    expect((await store.snapshot('p1'))?.maxSegmentsPerMember).toBe(2);
    expect(await store.snapshot('nobody')).toBeUndefined();
    const ghost: AudienceSnapshot = { partnerId: 'nobody', profile: 'basic', segments: [], baseSize: 0 };
    expect(await store.memberships(ghost, ['k1', 'k2'])).toEqual([[], []]);
  });
});
