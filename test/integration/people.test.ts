/**
 * A person is the unit, end to end on the embedded stack with noise off (exact counts): a partner
 * members file with an email and a phone column per person, a Google Customer Match export
 * (`Email,Phone,First Name,Last Name,Country,Zip`) hashed locally (every identifier column, each
 * kind by its own rules) or server-side, matched on email or phone, each partner person counted
 * once however many list rows or identifiers hit it, across 16 shards.
 */
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../cli/api-client.ts';
import { type MatchView, runMatch, uploadPartnerAudience } from '../../cli/flows.ts';
import { hashStream } from '../../cli/hash-command.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { bySegment, http, listKeys, range, sha256Hex, startTestStack, type TestStack } from './helpers.ts';

const K = 20;
const PARTNER = 'people-partner';

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: String(K),
    SHARD_COUNT: '16',
  });
});

afterAll(async () => {
  await t?.stop();
});

/** Person n's phone in E.164 (google profile), and as a US CRM writes it. */
const phone = (n: number) => `+1202555${String(n).padStart(4, '0')}`;
const nationalPhone = (n: number) => `(202) 555-${String(n).padStart(4, '0')}`;

/**
 * Partner people: 0..299 with email and phone; 300..349 email only; 350..399 phone only.
 * auto: 0..199 and 300..349; pets: 100..299 and 350..399.
 */
function membersFile(): string {
  const rows = ['email_sha256,phone_sha256,segment_id'];
  const row = (n: number, segment: string) => {
    const email = n < 350 ? sha256Hex(personEmail(n)) : '';
    const tel = n < 300 || n >= 350 ? sha256Hex(phone(n)) : '';
    rows.push(`${email},${tel},${segment}`);
  };
  for (const n of [...range(0, 200), ...range(300, 50)]) row(n, 'auto');
  for (const n of [...range(100, 200), ...range(350, 50)]) row(n, 'pets');
  return `${rows.join('\n')}\n`;
}

/** A Customer Match export: see the expectations below for who is in it. */
function customerMatchFile(): string {
  const rows = ['Email,Phone,First Name,Last Name,Country,Zip'];
  const add = (email: string, tel: string) => rows.push(`${email},${tel},Jane,Doe,US,10001`);
  for (const n of range(0, 50)) add(personEmail(n).toUpperCase(), nationalPhone(n)); // both identifiers
  for (const n of range(50, 50)) add(` ${personEmail(n)} `, ''); // email only
  for (const n of range(100, 50)) add('', nationalPhone(n)); // phone only, national format
  for (const n of range(0, 10)) add(personEmail(n), ''); // a second row of people 0..9
  for (const n of range(20, 10)) add(`alias${n}@example.org`, phone(n)); // other list people, same partner people
  for (const n of range(350, 10)) add('', phone(n)); // partner people with a phone only
  for (const n of range(1000, 100)) add(`stranger${n}@example.org`, ''); // nobody
  add('', ''); // no identifier at all
  add('not-an-email', 'not-a-phone'); // invalid
  return `${rows.join('\n')}\n`;
}

type Result = NonNullable<MatchView['result']>;

describe('a person is the unit', () => {
  beforeAll(async () => {
    const report = await uploadPartnerAudience(t.client(PARTNER, 'partner'), {
      partnerId: PARTNER,
      profile: 'google',
      segments: [
        { segmentId: 'auto', name: 'Auto intenders' },
        { segmentId: 'pets', name: 'Pet owners' },
      ],
      source: { text: membersFile() },
    });
    expect(report.status).toBe('SUCCEEDED');
    expect(report.report).toMatchObject({ rowsRead: 500, accepted: 500, rejected: 0 });
    expect(report.report?.segments.map((s) => [s.segmentId, s.members])).toEqual([
      ['auto', 250],
      ['pets', 250],
    ]);
  });

  const expectPeople = (result: Result) => {
    // List people (by primary identifier): 50 + 50 + 50 + 10 aliases + 10 phones + 100 strangers.
    expect(result.list).toMatchObject({ rows: 282, valid: 280, invalid: 2, duplicates: 10, distinct: 270 });
    // Partner people 0..149 and 350..359, each once: people 0..9 (two rows each, email and phone)
    // and 20..29 (hit from other list people too) included.
    expect(result.matched).toBe(160);
    const matchView = { result } as MatchView;
    expect(bySegment(matchView).auto).toMatchObject({ matched: 150 });
    expect(bySegment(matchView).pets).toMatchObject({ matched: 60 });
    // Through email: 0..99; through phone: 0..49, 100..149, 350..359.
    expect(result.byKind).toEqual([
      { kind: 'email', matched: 100, suppressed: false, matchRate: round4(100 / 210) },
      { kind: 'phone', matched: 110, suppressed: false, matchRate: round4(110 / 120) },
    ]);
    // List people holding an email: 50 + 50 + 10 aliases + 100 strangers; a phone: 50 + 50 + 10 + 10.
    expect(result.list.byKind).toEqual({ email: 210, phone: 120 });
    // One partner person moves the total, each segment and each kind count by at most 1.
    expect(result.privacy.noise.sensitivity2).toBe(2 + 1 + 2);
  };

  it('a Customer Match file matches on email or phone, each partner person counted once', async () => {
    const { match, listSummary } = await runMatch(t.client('people-adv', 'advertiser'), {
      partnerId: PARTNER,
      list: { text: customerMatchFile() },
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    expect(listSummary).toMatchObject({ rows: 282, valid: 280, invalid: 2 });
    expectPeople(match.result as Result);
  });

  it('the server-side hashing of the raw file gives the same release', async () => {
    const { match } = await runMatch(t.client('people-adv-raw', 'advertiser'), {
      partnerId: PARTNER,
      list: { text: customerMatchFile() },
      raw: true,
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    expectPeople(match.result as Result);
  });

  it('--kind email matches on the email column alone', async () => {
    const { match } = await runMatch(t.client('people-adv-email', 'advertiser'), {
      partnerId: PARTNER,
      list: { text: customerMatchFile() },
      kind: 'email',
      quiet: true,
    });
    expect(match.status).toBe('SUCCEEDED');
    // 0..99 by email; rows without an email are empty rows now.
    expect(match.result?.matched).toBe(100);
    expect(match.result?.byKind?.map((k) => [k.kind, k.matched])).toEqual([
      ['email', 100],
      ['phone', null],
    ]);
  });

  it('the catalog states the identifier kinds of each segment', async () => {
    const response = await http(t, 'GET', '/v1/partners', { token: t.token('people-adv', 'advertiser') });
    const partner = response.json.partners.find((p: { partnerId: string }) => p.partnerId === PARTNER);
    expect(partner.kinds).toEqual(['email', 'phone']);
    expect(partner.segments.map((s: { kinds: string[] }) => s.kinds)).toEqual([
      ['email', 'phone'],
      ['email', 'phone'],
    ]);
  });
});

describe('checks before work', () => {
  const EMAILS_ONLY = 'emails-only-partner';
  beforeAll(async () => {
    const rows = ['sha256,segment_id', ...range(0, 150).map((n) => `${sha256Hex(personEmail(n))},auto`)];
    const report = await uploadPartnerAudience(t.client(EMAILS_ONLY, 'partner'), {
      partnerId: EMAILS_ONLY,
      profile: 'google',
      segments: [{ segmentId: 'auto', name: 'Auto intenders' }],
      source: { text: `${rows.join('\n')}\n` },
    });
    expect(report.status).toBe('SUCCEEDED');
  });

  it('a phone list against a partner of emails only is refused before anything is hashed, uploaded or started', async () => {
    const adv = t.client('people-adv-phones', 'advertiser');
    const error = await runMatch(adv, {
      partnerId: EMAILS_ONLY,
      list: {
        text: `Phone,Name\n${range(0, 150)
          .map((n) => `${nationalPhone(n)},x`)
          .join('\n')}\n`,
      },
      quiet: true,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, code: 'no-common-identifier-kind' });
    expect((error as ApiError).detail).toContain('email');
    expect(await listKeys(t, 'UPLOADS_BUCKET', 'lists/people-adv-phones/')).toEqual([]);
    expect((await adv.get<{ matches: unknown[] }>('/v1/matches')).matches).toEqual([]);
  });

  it('POST /v1/matches/check answers whether a match can run, with the problem it would give', async () => {
    const token = t.token('people-adv-check', 'advertiser');
    const check = (body: object) => http(t, 'POST', '/v1/matches/check', { token, body });
    const ok = await check({ partnerId: PARTNER, kinds: ['phone', 'email'], distinct: 100 });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ partnerId: PARTNER, profile: 'google', kinds: ['email', 'phone'], k: K });
    expect((await check({ partnerId: EMAILS_ONLY, kinds: ['email', 'phone'] })).json.kinds).toEqual([
      'email',
    ]);
    const refused = async (body: object) => {
      const r = await check(body);
      return [r.status, r.json.code];
    };
    expect(await refused({ partnerId: 'nobody', kinds: ['email'] })).toEqual([404, 'partner-not-found']);
    expect(await refused({ partnerId: EMAILS_ONLY, kinds: ['phone'] })).toEqual([
      422,
      'no-common-identifier-kind',
    ]);
    expect(await refused({ partnerId: PARTNER, kinds: ['email'], minSegmentSize: K - 1 })).toEqual([
      422,
      'min-segment-size-below-floor',
    ]);
    expect(await refused({ partnerId: PARTNER, kinds: ['email'], distinct: 99 })).toEqual([
      422,
      'list-too-small',
    ]);
    expect(await refused({ partnerId: PARTNER, kinds: [] })).toEqual([400, 'invalid-request']);
    const partnerToken = t.token(PARTNER, 'partner');
    expect(
      (
        await http(t, 'POST', '/v1/matches/check', {
          token: partnerToken,
          body: { partnerId: PARTNER, kinds: ['email'] },
        })
      ).status,
    ).toBe(403);
    const openapi = await http(t, 'GET', '/v1/openapi.json');
    expect(Object.keys(openapi.json.paths)).toContain('/v1/matches/check');
  });

  it('a list too small is refused after local hashing, before anything is uploaded', async () => {
    const adv = t.client('people-adv-small', 'advertiser');
    const error = await runMatch(adv, {
      partnerId: PARTNER,
      list: { text: `${range(0, 40).map(personEmail).join('\n')}\n` },
      quiet: true,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 422, code: 'list-too-small' });
    expect(await listKeys(t, 'UPLOADS_BUCKET', 'lists/people-adv-small/')).toEqual([]);
  });
});

describe('onboard hash of a Customer Match file', () => {
  it('replaces every identifier column by its hash, each kind normalized by its own rules', async () => {
    const input = 'Email,Phone,First Name\nJane.Doe@Example.com,(202) 555-0100,Jane\n,+1 202 555 0101,Bob\n';
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c) => chunks.push(String(c)));
    const summary = await hashStream(Readable.from([input]), out, { profile: 'google' });
    expect(chunks.join('')).toBe(
      [
        'Email,Phone,First Name',
        `${sha256Hex('jane.doe@example.com')},${sha256Hex('+12025550100')},Jane`,
        `,${sha256Hex('+12025550101')},Bob`,
        '',
      ].join('\n'),
    );
    expect(summary).toMatchObject({ rows: 2, valid: 2, distinct: 2 });
  });
});

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
