/**
 * Nothing raw at rest, nothing personal in logs (docs/privacy.md, rule 6 and 7), proven after full
 * runs, failure paths included: a partner ingest (with bad rows carrying a raw email and a phone),
 * a raw CSV list (emails, with phones and names in other columns) hashed server-side and matched,
 * a raw phone list, a list hashed by the CLI and matched, a list under the minimum size (failed
 * match), a partner file with the wrong header (failed ingest), a raw list that cannot be read
 * (failed hashing). Then EVERY object of EVERY bucket and EVERY item of EVERY table is read, as
 * an outsider with a leaked bucket or table would, and every byte written to stdout and stderr
 * (the service's logs at DEBUG, the shard workers' forwarded output) is scanned.
 *
 * Documented exception: a hashed advertiser list (uploads bucket, lists/{tenant}/{listId}.hashed)
 * stays until the bucket's 1-day lifecycle expiry, so that one list can be matched against several
 * partners. It holds unkeyed sha256 digests of the list (never raw values); nothing else may.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMatch, uploadPartnerAudience, waitForMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { hmacKeyer, parsePepperRing } from '../../shared/adapters/pepper.ts';
import { BUCKETS } from '../../shared/infra/definitions.ts';
import {
  captureOutput,
  digestLikeStrings,
  http,
  type OutputCapture,
  putTo,
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import {
  bucketsOf,
  digestSpellings,
  dumpBuckets,
  dumpTables,
  dynamoClientFor,
  hexLines,
  matchLines,
  type StoredItem,
  type StoredObject,
  s3ClientFor,
  sha256Bytes,
} from './kit.ts';

// Before the service's modules (and their Logger) load: they load when the stack starts.
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';

const PARTNER = 'rest-partner';
const ADV = 'rest-adv';
let t: TestStack;
let capture: OutputCapture;
const matchIds: string[] = [];

const segments: SeedSegment[] = [
  { segmentId: 's1', name: 'One', people: [...range(0, 150), ...range(10_000, 600)] },
  { segmentId: 's2', name: 'Two', people: [...range(100, 150), ...range(11_000, 600)] },
];
/** The raw CSV list: people 0..299, messily written, with a phone and a name beside each email. */
const rawPeople = range(0, 300);
const messy = (n: number, i: number) => {
  const e = personEmail(n);
  const [local, domain] = e.split('@') as [string, string];
  const spelled =
    domain === 'gmail.com' && i % 2 === 0 ? `${local.slice(0, 2)}.${local.slice(2)}+crm@${domain}` : e;
  return i % 3 === 0 ? `  ${spelled.toUpperCase()} ` : spelled;
};
const sidePhone = (i: number) => `(312) 555-${String(1000 + i).padStart(4, '0')}`;
const RAW_CSV = `Email,Phone,First Name\r\n${rawPeople.map((n, i) => `${messy(n, i)},${sidePhone(i)},Name${n}`).join('\r\n')}\r\n`;
/** A raw phone list (US), hashed server-side. */
const PHONES = range(0, 120).map((i) => ({
  raw: `(202) 555-${String(2000 + i).padStart(4, '0')}`,
  e164: `+1202555${String(2000 + i).padStart(4, '0')}`,
}));
/** Bad rows in the partner file: raw values where a hash belongs. */
const BAD_EMAIL = 'leaked.member@example.org';
const BAD_PHONE = '+12025550177';
const hashedPeople = [...range(50, 250), ...range(800_000, 50)];

beforeAll(async () => {
  capture = captureOutput();
  t = await startTestStack({
    MIN_LIST_SIZE: '100',
    SHARD_COUNT: '4',
    RHO_PER_ADVERTISER_PARTNER: '10',
    RHO_PER_PARTNER: '10',
  });
  expect(t.stack.env.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
  const partner = t.client(PARTNER, 'partner');
  const adv = t.client(ADV, 'advertiser');
  const advToken = t.token(ADV, 'advertiser');

  // 1. Partner ingest, with bad rows.
  const ingest = await seedPartner(partner, PARTNER, segments, {
    extraLines: [`${BAD_EMAIL},s1`, `${BAD_PHONE},s2`],
  });
  expect(ingest).toMatchObject({ status: 'SUCCEEDED', report: { rejected: 2 } });
  // 2. A raw CSV list, hashed server-side (email column), matched.
  const raw = await runMatch(adv, {
    partnerId: PARTNER,
    list: { text: RAW_CSV },
    raw: true,
    column: 'Email',
    quiet: true,
  });
  expect(raw.match.status).toBe('SUCCEEDED');
  expect(raw.match.result?.list.distinct).toBe(rawPeople.length);
  matchIds.push(raw.match.matchId);
  // 3. A raw phone list, hashed server-side, matched.
  const phoneList = await http(t, 'POST', '/v1/lists', {
    token: advToken,
    body: { format: 'raw', profile: 'google', kind: 'phone', region: 'US' },
  });
  expect(await putTo(phoneList.json.upload, `${PHONES.map((p) => p.raw).join('\n')}\n`)).toBe(200);
  await t.stack.idle();
  const phoneMatch = await http(t, 'POST', '/v1/matches', {
    token: advToken,
    body: { listId: phoneList.json.listId, partnerId: PARTNER },
  });
  expect(phoneMatch.status).toBe(202);
  // A few phones against a partner of emails only: refused before anything is spent (too small,
  // and no identifier kind in common), the raw list deleted all the same.
  expect((await waitForMatch(adv, phoneMatch.json.matchId, true)).status).toBe('FAILED');
  matchIds.push(phoneMatch.json.matchId);
  // 4. A list hashed by the CLI on the advertiser's machine, matched.
  const hashed = await runMatch(adv, {
    partnerId: PARTNER,
    list: { text: `${hashedPeople.map(personEmail).join('\n')}\n` },
    quiet: true,
  });
  expect(hashed.match.status).toBe('SUCCEEDED');
  matchIds.push(hashed.match.matchId);
  // 5. A failing match: under the minimum list size.
  const small = await matchLines(adv, PARTNER, hexLines(range(0, 40)));
  expect(small).toMatchObject({ status: 'FAILED', code: 'list-too-small' });
  matchIds.push(small.matchId);
  // 6. A failing ingest: the wrong header, raw emails in the file.
  const failing = await uploadPartnerAudience(partner, {
    partnerId: PARTNER,
    profile: 'google',
    segments: [{ segmentId: 's1', name: 'One' }],
    source: {
      text: `email,segment\n${range(0, 30)
        .map((n) => `${personEmail(n)},s1`)
        .join('\n')}\n`,
    },
  });
  expect(failing.status).toBe('FAILED');
  // 7. A raw list that cannot be read (UTF-16 with a BOM, an email inside).
  const hostile = await http(t, 'POST', '/v1/lists', {
    token: advToken,
    body: { format: 'raw', profile: 'google' },
  });
  expect(
    await putTo(
      hostile.json.upload,
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${personEmail(7)}\n`, 'utf16le')]),
    ),
  ).toBe(200);
  await t.stack.idle();
  expect((await adv.get<{ status: string }>(`/v1/lists/${hostile.json.listId}`)).status).toBe('FAILED');
});

afterAll(async () => {
  await t?.stop();
  capture?.restore();
});

/** Every identifier that went in, as written and as normalized (all profiles' forms). */
function identifiers(): { raw: string[]; normalized: string[] } {
  const people = new Set([...rawPeople, ...hashedPeople, ...segments.flatMap((s) => s.people)]);
  const raw = new Set<string>([BAD_EMAIL, BAD_PHONE]);
  const normalized = new Set<string>([BAD_EMAIL, BAD_PHONE, BAD_PHONE.slice(1)]);
  for (const n of people) {
    raw.add(personEmail(n));
    normalized.add(personEmail(n));
  }
  rawPeople.forEach((n, i) => {
    raw.add(messy(n, i).trim());
    raw.add(sidePhone(i));
    normalized.add(`+1312555${String(1000 + i).padStart(4, '0')}`);
    normalized.add(`1312555${String(1000 + i).padStart(4, '0')}`);
  });
  for (const p of PHONES) {
    raw.add(p.raw);
    normalized.add(p.e164);
    normalized.add(p.e164.slice(1));
  }
  return { raw: [...raw], normalized: [...normalized] };
}

let objects: StoredObject[];
let items: StoredItem[];

describe('nothing raw at rest (rule 7), keyed at rest (rule 6)', () => {
  beforeAll(async () => {
    await t.stack.idle();
    const s3 = s3ClientFor(t.stack);
    const dynamo = dynamoClientFor(t.stack);
    try {
      objects = await dumpBuckets(t.stack, s3);
      items = await dumpTables(dynamo);
    } finally {
      s3.destroy();
      dynamo.destroy();
    }
  });

  it('the dump is complete: every bucket and every table was read', () => {
    const buckets = bucketsOf(t.stack);
    expect(objects.some((o) => o.bucket === buckets.results && o.key.startsWith('results/'))).toBe(true);
    expect(objects.some((o) => o.key.startsWith('manifests/'))).toBe(true);
    const tables = new Set(items.map((i) => i.table));
    for (const env of ['AUDIENCES_TABLE', 'JOBS_TABLE', 'LEDGER_TABLE'])
      expect(tables.has(t.stack.env[env] as string), env).toBe(true);
    expect(items.length).toBeGreaterThan(1_000);
  });

  it('raw uploads are gone, partner drops are gone, and shards, tallies and ingest work files are gone after completion', () => {
    const buckets = bucketsOf(t.stack);
    expect(objects.filter((o) => o.bucket === buckets.partnerDrops).map((o) => o.key)).toEqual([]);
    const uploads = objects.filter((o) => o.bucket === buckets.uploads);
    expect(uploads.filter((o) => o.key.startsWith('raw/')).map((o) => o.key)).toEqual([]);
    // Only hashed lists are left in the uploads bucket (the documented exception).
    expect(uploads.filter((o) => !/^lists\/[^/]+\/[^/]+\.hashed$/.test(o.key)).map((o) => o.key)).toEqual([]);
    expect(BUCKETS.uploads.expireAfterDays).toBe(1);
    const results = objects.filter((o) => o.bucket === buckets.results).map((o) => o.key);
    for (const prefix of ['shards/', 'tallies/', 'ingest/'])
      expect(
        results.filter((k) => k.startsWith(prefix)),
        prefix,
      ).toEqual([]);
    // Membership filters are keyed values' bits (HMAC under the pepper), beside their catalog version.
    expect(results.filter((k) => !/^(results|manifests|digests|filters)\//.test(k))).toEqual([]);
    // Nor did a split leave its shard files in the temporary directory.
    const leftovers = readdirSync(tmpdir()).filter((d) =>
      matchIds.some((id) => d.startsWith(`onboard-split-${id}`)),
    );
    expect(leftovers).toEqual([]);
  });

  it('no raw identifier (email or phone, as written or normalized) in any object or item', () => {
    const { raw, normalized } = identifiers();
    const needles = [...new Set([...raw, ...normalized])];
    const leaks: string[] = [];
    for (const o of objects) {
      const body = o.body.toLowerCase();
      for (const v of needles) if (body.includes(v.toLowerCase())) leaks.push(`${o.bucket}/${o.key}: ${v}`);
    }
    for (const i of items) {
      const text = i.text.toLowerCase();
      for (const v of needles)
        if (text.includes(v.toLowerCase())) leaks.push(`${i.table} ${i.item.pk?.S}: ${v}`);
    }
    expect(leaks.slice(0, 10)).toEqual([]);
    // The names from the CSV's other columns did not survive either.
    expect(objects.some((o) => o.body.includes('Name1'))).toBe(false);
  });

  it('no unkeyed sha256 of any identifier (hex, HEX, base64, base64url) anywhere but the hashed lists', () => {
    const { normalized } = identifiers();
    const spellings = normalized.flatMap((v) => digestSpellings(sha256Bytes(v)));
    const isHashedList = (o: StoredObject) =>
      o.bucket === bucketsOf(t.stack).uploads && o.key.endsWith('.hashed');
    const leaks: string[] = [];
    for (const o of objects) {
      if (isHashedList(o)) continue;
      for (const s of spellings) if (o.body.includes(s)) leaks.push(`${o.bucket}/${o.key}`);
    }
    for (const i of items)
      for (const s of spellings) if (i.text.includes(s)) leaks.push(`${i.table} ${i.item.pk?.S}`);
    expect([...new Set(leaks)].slice(0, 10)).toEqual([]);
    // The detector works: the exception does hold digests of the list.
    const lists = objects.filter(isHashedList);
    expect(lists.length).toBeGreaterThanOrEqual(3);
    expect(lists.some((o) => spellings.some((s) => o.body.includes(s)))).toBe(true);
  });

  it('member keys at rest are HMAC under the pepper (one item a partner member), never a plain digest', () => {
    const ring = parsePepperRing(readFileSync(t.stack.env.PEPPER_FILE as string, 'utf8'));
    const keyer = hmacKeyer(ring);
    const memberPks = items
      .map((i) => i.item.pk?.S ?? '')
      .filter((pk) => pk.startsWith(`member#${PARTNER}#`));
    const members = [...new Set(segments.flatMap((s) => s.people))];
    expect(new Set(memberPks)).toEqual(
      new Set(
        members.map(
          (n) =>
            `member#${PARTNER}#${ring.current}#${keyer.key(new Uint8Array(sha256Bytes(personEmail(n))))}`,
        ),
      ),
    );
  });
});

describe('nothing personal in logs (rule 7)', () => {
  it('the captured output at DEBUG is non-empty and holds no email, phone, digest or keyed value', async () => {
    await t.stack.idle();
    // The service's logger is at DEBUG, and what it writes is captured.
    const { logger } = await import('../../shared/adapters/runtime.ts');
    expect(logger.getLevelName()).toBe('DEBUG');
    logger.debug('privacy test canary');
    const logs = capture.text();
    expect(logs).toMatch(/"level":"DEBUG","message":"privacy test canary"/);
    expect(logs.length).toBeGreaterThan(2_000);
    for (const marker of [
      '"ingest: succeeded"',
      '"ingest: failed"',
      '"raw list: hashed"',
      '"raw list: failed"',
      '"match: released"',
      '"match: failed"',
    ]) {
      expect(logs, marker).toContain(marker);
    }
    const { raw, normalized } = identifiers();
    const lower = logs.toLowerCase();
    const leaks = [...raw, ...normalized].filter((v) => lower.includes(v.toLowerCase()));
    const spelled = normalized
      .flatMap((v) => digestSpellings(sha256Bytes(v)))
      .filter((s) => logs.includes(s));
    const ring = parsePepperRing(readFileSync(t.stack.env.PEPPER_FILE as string, 'utf8'));
    const keyer = hmacKeyer(ring);
    const keyed = segments
      .flatMap((s) => s.people)
      .map((n) => keyer.key(new Uint8Array(sha256Bytes(personEmail(n)))))
      .filter((k) => logs.includes(k));
    expect({ leaks: leaks.slice(0, 5), spelled: spelled.slice(0, 5), keyed: keyed.slice(0, 5) }).toEqual({
      leaks: [],
      spelled: [],
      keyed: [],
    });
    // Nothing even shaped like a digest.
    expect(digestLikeStrings(logs)).toEqual({ hex: [], base64: [] });
    // Nor an email-shaped string of any kind.
    expect(logs.match(/[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}/gi) ?? []).toEqual([]);
    expect(existsSync(t.stack.env.PEPPER_FILE as string)).toBe(true);
  });
});
