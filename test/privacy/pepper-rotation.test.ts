/**
 * Keyed hashing at rest and pepper rotation (docs/privacy.md, rule 6), noise off so counts compare
 * exactly, RETIRE_GRACE_SECONDS 0 so the old key's items are swept as soon as re-keying is done.
 * A partner ingests, an advertiser matches (R1); the operator rotates the local pepper file (a new
 * current key id) and asks for re-keying through the admin API; once the stack is idle the same
 * people match to the same counts, the catalogs are unchanged, every member item is under the
 * new key id and none under the old one, and no stored member value is a plain digest.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatchView } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import {
  hmacKeyer,
  type PepperRing,
  parsePepperRing,
  rotatePepperFile,
} from '../../shared/adapters/pepper.ts';
import {
  http,
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import {
  bucketsOf,
  digestSpellings,
  dumpTables,
  dynamoClientFor,
  hexLines,
  listAllKeys,
  matchLines,
  observable,
  type Result,
  s3ClientFor,
  sha256Bytes,
} from './kit.ts';

const PARTNER = 'pr-partner';
const K = 20;
let t: TestStack;
let ringBefore: PepperRing;
let r1: Result;
let catalogBefore: unknown;

const segments: SeedSegment[] = [
  { segmentId: 'sa', name: 'A', people: [...range(0, 150), ...range(10_000, 700)] },
  { segmentId: 'sb', name: 'B', people: [...range(100, 120), ...range(11_000, 700)] },
  { segmentId: 'sc', name: 'C', people: [...range(400, 30), ...range(12_000, 300)] },
];
const basePeople = [...new Set(segments.flatMap((s) => s.people))];
const L = [...range(0, 300), ...range(400, 30), ...range(900_000, 70)];

const pepperFile = () => t.stack.env.PEPPER_FILE as string;
const readRing = () => parsePepperRing(readFileSync(pepperFile(), 'utf8'));

async function memberItems(): Promise<string[]> {
  const dynamo = dynamoClientFor(t.stack);
  try {
    const items = await dumpTables(dynamo);
    return items
      .filter((i) => i.table === t.stack.env.AUDIENCES_TABLE)
      .map((i) => i.item.pk?.S as string)
      .filter((pk) => pk.startsWith(`member#${PARTNER}#`));
  } finally {
    dynamo.destroy();
  }
}

const counts = (r: Result) => ({
  matched: r.matched,
  segments: r.segments.map((s) => [s.segmentId, s.matched, s.reason ?? null]),
});

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: String(K),
    SHARD_COUNT: '4',
    RETIRE_GRACE_SECONDS: '0',
  });
  expect((await seedPartner(t.client(PARTNER, 'partner'), PARTNER, segments)).status).toBe('SUCCEEDED');
  const m = await matchLines(t.client('pr-adv-1', 'advertiser'), PARTNER, hexLines(L));
  expect(m.status).toBe('SUCCEEDED');
  r1 = m.result as Result;
  catalogBefore = await t.client('pr-adv-1', 'advertiser').get<unknown>('/v1/partners');
  ringBefore = readRing();
});

afterAll(async () => {
  await t?.stop();
});

describe('keyed at rest', () => {
  it('before rotation: one member item a person under k1, keyed with HMAC under the pepper, never a plain digest', async () => {
    expect(ringBefore.current).toBe('k1');
    const pks = await memberItems();
    expect(pks).toHaveLength(basePeople.length);
    const keyer = hmacKeyer(ringBefore, 'k1');
    const expected = new Set(
      basePeople.map((n) => `member#${PARTNER}#k1#${keyer.key(new Uint8Array(sha256Bytes(personEmail(n))))}`),
    );
    expect(new Set(pks)).toEqual(expected);
    const stored = pks.join('\n');
    for (const n of basePeople)
      for (const s of digestSpellings(sha256Bytes(personEmail(n)))) expect(stored.includes(s)).toBe(false);
  });
});

describe('pepper rotation', () => {
  it('only the operator may start re-keying (403 for advertisers and partners)', async () => {
    for (const [tenant, role] of [
      ['pr-adv-1', 'advertiser'],
      [PARTNER, 'partner'],
    ] as const) {
      const res = await http(t, 'POST', '/v1/admin/pepper/rekey', { token: t.token(tenant, role), body: {} });
      expect(res.status).toBe(403);
    }
  });

  it('rotate the pepper file, POST /v1/admin/pepper/rekey, wait: every member is under k2, none under k1, catalogs unchanged', async () => {
    const ring = rotatePepperFile(pepperFile());
    expect(ring.current).toBe('k2');
    const res = await http(t, 'POST', '/v1/admin/pepper/rekey', {
      token: t.token('operator', 'admin'),
      body: {},
    });
    expect(res.status, res.text).toBe(202);
    expect(res.json).toEqual({ status: 'started', keyId: 'k2' });
    await t.stack.idle();

    const pks = await memberItems();
    expect(pks).toHaveLength(basePeople.length);
    expect(pks.filter((pk) => pk.startsWith(`member#${PARTNER}#k1#`))).toEqual([]);
    const keyer = hmacKeyer(readRing(), 'k2');
    const expected = new Set(
      basePeople.map((n) => `member#${PARTNER}#k2#${keyer.key(new Uint8Array(sha256Bytes(personEmail(n))))}`),
    );
    expect(new Set(pks)).toEqual(expected);
    // The old key's manifests went with its items.
    const s3 = s3ClientFor(t.stack);
    try {
      expect(await listAllKeys(s3, bucketsOf(t.stack).results, `manifests/${PARTNER}/k1/`)).toEqual([]);
      expect(
        (await listAllKeys(s3, bucketsOf(t.stack).results, `manifests/${PARTNER}/k2/`)).length,
      ).toBeGreaterThan(0);
    } finally {
      s3.destroy();
    }
    expect(await t.client('pr-adv-1', 'advertiser').get<unknown>('/v1/partners')).toEqual(catalogBefore);
  });

  it('a keyed member value is not the sha256 of any identifier, nor the value under the old key', async () => {
    const pks = await memberItems();
    const oldKeyer = hmacKeyer(ringBefore, 'k1');
    const stored = new Set(pks.map((pk) => pk.slice(`member#${PARTNER}#k2#`.length)));
    for (const n of basePeople) {
      const digest = sha256Bytes(personEmail(n));
      for (const s of digestSpellings(digest)) expect(stored.has(s)).toBe(false);
      expect(stored.has(oldKeyer.key(new Uint8Array(digest)))).toBe(false);
    }
  });

  it('after re-keying, the same people match to identical counts (a new advertiser: no replay, no history)', async () => {
    const m: MatchView = await matchLines(t.client('pr-adv-2', 'advertiser'), PARTNER, hexLines(L));
    expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
    expect(counts(m.result as Result)).toEqual(counts(r1));
    expect(observable(m.result)).toEqual(observable(r1));
  });

  it('the same list at another k after re-keying gives the same counts', async () => {
    const m = await matchLines(t.client('pr-adv-3', 'advertiser'), PARTNER, hexLines([...L].reverse()), {
      minSegmentSize: K + 1,
    });
    expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
    expect(counts(m.result as Result)).toEqual(counts(r1));
  });

  it('a partner file ingested after the rotation is keyed under k2 and matched correctly', async () => {
    const report = await seedPartner(t.client(PARTNER, 'partner'), PARTNER, [
      { segmentId: 'sd', name: 'D (after rotation)', people: [...range(0, 60), ...range(13_000, 100)] },
    ]);
    expect(report.status).toBe('SUCCEEDED');
    const pks = await memberItems();
    expect(pks.every((pk) => pk.startsWith(`member#${PARTNER}#k2#`))).toBe(true);
    const m = await matchLines(t.client('pr-adv-4', 'advertiser'), PARTNER, hexLines(L));
    expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
    const seg = Object.fromEntries((m.result as Result).segments.map((s) => [s.segmentId, s.matched]));
    expect(seg).toEqual({ sa: 150, sb: 120, sc: 30, sd: 60 });
  });
});
