/**
 * Nothing personal in logs (docs/privacy.md, rule 7): a full run at DEBUG level (partner ingest with bad
 * rows, raw email and phone lists hashed server-side, hashed-list matches, a failing match, a
 * failing ingest, a hostile raw list, requests carrying PII-looking values) with every byte written
 * to stdout and stderr captured (the Powertools logger and the shard worker threads' forwarded
 * output both go through them). No email, phone, digest (hex or base64) or keyed member value may
 * appear.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMatch, uploadPartnerAudience, waitForMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { hmacKeyer, parsePepperRing } from '../../shared/adapters/pepper.ts';
import {
  captureOutput,
  digestLikeStrings,
  exactCountScenario,
  http,
  type OutputCapture,
  putTo,
  range,
  seedPartner,
  sha256Base64,
  sha256Hex,
  startTestStack,
  type TestStack,
} from './helpers.ts';

// Before the service's modules (and its Logger) load: they are imported when the stack starts.
process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';

const PARTNER = 'pii-partner';
const ADV = 'pii-adv';

let t: TestStack;
let capture: OutputCapture;

const scenario = exactCountScenario({
  base: 0,
  listSize: 300,
  segments: [
    { segmentId: 's-a', listMatches: 120, others: 100 },
    { segmentId: 's-b', listMatches: 80, others: 100 },
  ],
});

/** A CRM-style messy spelling of a canonical email (same google-normalized identity). */
function messy(email: string, i: number): string {
  const [local, domain] = email.split('@') as [string, string];
  let l = local;
  if ((domain === 'gmail.com' || domain === 'googlemail.com') && l.length > 3)
    l = `${l.slice(0, 2)}.${l.slice(2)}+promo`;
  const out = `${l}@${domain}`;
  return i % 3 === 0
    ? ` ${out.toUpperCase()} `
    : i % 3 === 1
      ? `${out.charAt(0).toUpperCase()}${out.slice(1)}`
      : out;
}

const BAD_ROW_EMAILS = ['leaked.member@example.org', 'another.leak@example.net', 'x.y.z@example.com'];
const INVALID_LIST_VALUES = ['john doe@example.com', 'jane@', 'mary..smith@example', 'pat@@example.com'];
const RAW_LIST = [...scenario.listPeople.map((n, i) => messy(personEmail(n), i)), ...INVALID_LIST_VALUES];

/** US (NANP fictional 555-01xx) and UK (Ofcom drama range) numbers, as a CRM would hold them. */
const PHONES = [
  ...range(0, 80).map((i) => {
    const nn = String(i).padStart(2, '0');
    return { raw: `(202) 555-01${nn}`, e164: `+120255501${nn}` };
  }),
  ...range(0, 40).map((i) => {
    const nnn = String(i).padStart(3, '0');
    return { raw: `+44 20 7946 0${nnn}`, e164: `+442079460${nnn}` };
  }),
];

beforeAll(async () => {
  capture = captureOutput();
  t = await startTestStack({
    MIN_LIST_SIZE: '100',
    SHARD_COUNT: '4',
    RHO_PER_ADVERTISER_PARTNER: '10',
    RHO_PER_PARTNER: '10',
  });
});

afterAll(async () => {
  await t?.stop();
  capture?.restore();
});

describe('no personal data in logs', () => {
  it('a whole run at DEBUG writes logs, and none of them holds an identifier, a digest or a keyed value', async () => {
    expect(t.stack.env.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
    const partner = t.client(PARTNER, 'partner');
    const advertiser = t.client(ADV, 'advertiser');
    const advToken = t.token(ADV, 'advertiser');
    const partnerToken = t.token(PARTNER, 'partner');

    // 1. Partner ingest, with bad rows that carry raw emails and foreign hashes.
    const ingest = await seedPartner(partner, PARTNER, scenario.segments, {
      extraLines: [
        `${BAD_ROW_EMAILS[0]},s-a`,
        `${sha256Hex(BAD_ROW_EMAILS[1] as string)},no-such-segment`,
        `${sha256Hex(BAD_ROW_EMAILS[2] as string)},`,
      ],
    });
    expect(ingest.status).toBe('SUCCEEDED');
    expect(ingest.report?.rejected).toBe(3);

    // 2. A raw email list, hashed server-side, matched.
    const raw = await runMatch(advertiser, {
      partnerId: PARTNER,
      list: { text: `${RAW_LIST.join('\n')}\n` },
      raw: true,
      quiet: true,
    });
    expect(raw.match.status).toBe('SUCCEEDED');

    // 3. A hashed list (hashed here), matched: another list, so a difference check runs too.
    const hashedPeople = [...range(0, 250), ...range(5_000, 60)];
    const hashed = await runMatch(advertiser, {
      partnerId: PARTNER,
      list: { text: `${hashedPeople.map(personEmail).join('\n')}\n` },
      quiet: true,
    });
    expect(hashed.match.status).toBe('SUCCEEDED');

    // 4. A raw phone list (US region), hashed server-side, then matched against a partner of
    // emails only: refused before anything is spent (no identifier kind in common).
    const phoneList = await http(t, 'POST', '/v1/lists', {
      token: advToken,
      body: { format: 'raw', profile: 'google', kind: 'phone', region: 'US' },
    });
    expect(phoneList.status).toBe(201);
    expect(await putTo(phoneList.json.upload, `${PHONES.map((p) => p.raw).join('\n')}\n`)).toBe(200);
    await t.stack.idle();
    const phoneView = await advertiser.get<{ status: string; summary?: { valid: number } }>(
      `/v1/lists/${phoneList.json.listId}`,
    );
    expect(phoneView.status).toBe('READY');
    expect(phoneView.summary?.valid).toBe(PHONES.length);
    const phoneMatch = await http(t, 'POST', '/v1/matches', {
      token: advToken,
      body: { listId: phoneList.json.listId, partnerId: PARTNER },
    });
    expect(phoneMatch.status).toBe(202);
    expect(await waitForMatch(advertiser, phoneMatch.json.matchId, true)).toMatchObject({
      status: 'FAILED',
      code: 'no-common-identifier-kind',
    });

    // 5. A failing match: a list under the minimum size, refused by the check after local hashing.
    const small = await runMatch(advertiser, {
      partnerId: PARTNER,
      list: { text: `${range(0, 40).map(personEmail).join('\n')}\n` },
      quiet: true,
    }).catch((error: unknown) => error);
    expect(small).toMatchObject({ status: 422, code: 'list-too-small' });

    // 6. A failing ingest: wrong header, raw emails in the file.
    const failing = await uploadPartnerAudience(partner, {
      partnerId: PARTNER,
      profile: 'google',
      segments: [{ segmentId: 's-a', name: 'A' }],
      source: {
        text: `email,segment\n${range(0, 30)
          .map((n) => `${personEmail(n)},s-a`)
          .join('\n')}\n`,
      },
    });
    expect(failing.status).toBe('FAILED');

    // 7. A hostile raw list: an email, then binary bytes.
    const hostile = await http(t, 'POST', '/v1/lists', {
      token: advToken,
      body: { format: 'raw', profile: 'google' },
    });
    expect(
      await putTo(
        hostile.json.upload,
        Buffer.concat([Buffer.from(`${personEmail(7)}\n`), Buffer.alloc(16, 0)]),
      ),
    ).toBe(200);

    // 8. Requests carrying PII-looking values in paths, bodies and query strings.
    const memberDigest = sha256Hex(personEmail(1));
    expect(
      (
        await http(t, 'POST', '/v1/matches', {
          token: advToken,
          body: { listId: memberDigest, partnerId: PARTNER },
        })
      ).status,
    ).toBe(404);
    expect(
      (await http(t, 'GET', `/v1/lists/${encodeURIComponent(personEmail(2))}`, { token: advToken })).status,
    ).toBe(400);
    expect(
      (await http(t, 'GET', `/v1/x/${personEmail(3)}?email=${personEmail(4)}`, { token: advToken })).status,
    ).toBe(404);
    expect(
      (
        await http(t, 'POST', '/v1/lists', {
          token: advToken,
          body: { column: personEmail(5), extra: personEmail(6) },
        })
      ).status,
    ).toBe(400);
    expect(
      (await http(t, 'GET', `/v1/partners/${PARTNER}/audiences/${memberDigest}`, { token: partnerToken }))
        .status,
    ).toBe(404);
    expect(
      (
        await http(t, 'POST', '/v1/lists', {
          token: advToken,
          rawBody: `{"email":"${personEmail(8)}"`,
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(400);

    await t.stack.idle();
    // A canary through the service's own Powertools logger: DEBUG is on and its output is captured.
    const { logger } = await import('../../shared/adapters/runtime.ts');
    logger.debug('test canary: debug level is on');
    const logs = capture.text();
    expect(logs).toMatch(/"level":"DEBUG","message":"test canary: debug level is on"/);

    // The capture works: logs of every kind of step are in it.
    expect(logs.length).toBeGreaterThan(2_000);
    for (const marker of [
      '"api: request"',
      '"ingest: succeeded"',
      '"ingest: failed"',
      '"raw list: hashed"',
      '"raw list: failed"',
      '"match: failed"',
      '"match: released"',
    ]) {
      expect(logs, marker).toContain(marker);
    }
    expect(logs).toContain('"level":"ERROR"');

    // Identifiers as uploaded and as normalized.
    const emails = new Set<string>([
      ...[...scenario.listPeople, ...hashedPeople, ...range(0, 40)].map(personEmail),
      ...scenario.segments.flatMap((s) => s.people.map(personEmail)),
      ...RAW_LIST.map((e) => e.trim()),
      ...INVALID_LIST_VALUES,
      ...BAD_ROW_EMAILS,
    ]);
    const phones = new Set<string>(PHONES.flatMap((p) => [p.raw, p.e164, p.e164.slice(1)]));
    const leaks: string[] = [];
    const check = (value: string, what: string) => {
      if (logs.includes(value)) leaks.push(`${what}: ${value}`);
    };
    for (const e of emails) {
      check(e, 'email');
      check(e.toLowerCase(), 'email');
      check(sha256Hex(e), 'email sha256 hex');
      check(sha256Hex(e).toUpperCase(), 'email sha256 HEX');
      check(sha256Base64(e), 'email sha256 base64');
    }
    for (const p of phones) {
      check(p, 'phone');
      check(sha256Hex(p), 'phone sha256 hex');
      check(sha256Base64(p), 'phone sha256 base64');
    }
    // Keyed member values (HMAC under the pepper), as stored in the audiences table; and the pepper.
    const pepperText = readFileSync(t.stack.env.PEPPER_FILE as string, 'utf8');
    const ring = parsePepperRing(pepperText);
    const keyer = hmacKeyer(ring);
    for (const s of scenario.segments) {
      for (const n of s.people)
        check(keyer.key(Buffer.from(sha256Hex(personEmail(n)), 'hex')), 'keyed member value');
    }
    for (const key of ring.keys.values()) check(Buffer.from(key).toString('base64'), 'pepper');
    expect(leaks.slice(0, 20)).toEqual([]);

    // The detectors themselves find what they look for.
    const probe = digestLikeStrings(`a ${sha256Hex('probe')} b "${sha256Base64('probe')}" c`);
    expect([probe.hex.length, probe.base64.length]).toEqual([1, 1]);
    // And nothing shaped like a digest at all: no 64-hex run, no 44-character base64 run.
    const shaped = digestLikeStrings(logs);
    expect(shaped.hex).toEqual([]);
    expect(shaped.base64).toEqual([]);
  });
});
