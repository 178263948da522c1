/**
 * Partner erasure, segment deletion and retention (issue: erasure and deletion), on the embedded
 * stack with noise off so counts are exact. After each, a dump of every table and bucket (as in
 * at-rest-and-logs) finds nothing of what was removed: no keyed value of an erased person's
 * identifiers (under the pepper, as stored), no digest, in no item and no object; the audit trail
 * holds ids only; no privacy budget is refilled.
 *
 * Partner people (google profile): 0..99 email + phone, in auto (50..99 also in pets); 100..129
 * phone only, in pets; 200 and 201 with their own emails and one household phone, in auto.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runErase } from '../../cli/erase-command.ts';
import { type MatchView, runMatch, uploadPartnerAudience } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import { hmacKeyer, parsePepperRing } from '../../shared/adapters/pepper.ts';
import { useCaseContext } from '../../shared/adapters/runtime.ts';
import { enforceRetention } from '../../shared/use-cases/deletion.ts';
import { LIST_LIFETIME_DAYS } from '../../shared/use-cases/lists.ts';
import { bySegment, http, range, sha256Hex, startTestStack, type TestStack } from '../integration/helpers.ts';
import {
  auditOf,
  budgetOf,
  digestSpellings,
  dumpBuckets,
  dumpTables,
  dynamoClientFor,
  s3ClientFor,
  sha256Bytes,
} from './kit.ts';

const PARTNER = 'erase-partner';
const ADV = 'erase-adv';
const phone = (n: number) => `+1202555${String(n).padStart(4, '0')}`;
const HOUSEHOLD = phone(200);

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    UNSAFE_NOISE_OFF_FOR_TESTS: 'true',
    MIN_LIST_SIZE: '100',
    MIN_SEGMENT_SIZE: '20',
    SHARD_COUNT: '4',
    // A deleted segment's members are swept at once (no match is running in this file).
    RETIRE_GRACE_SECONDS: '0',
  });
  const rows = ['email_sha256,phone_sha256,segment_id'];
  for (const n of range(0, 100)) rows.push(`${sha256Hex(personEmail(n))},${sha256Hex(phone(n))},auto`);
  for (const n of range(50, 50)) rows.push(`${sha256Hex(personEmail(n))},${sha256Hex(phone(n))},pets`);
  for (const n of range(100, 30)) rows.push(`,${sha256Hex(phone(n))},pets`);
  for (const n of [200, 201]) rows.push(`${sha256Hex(personEmail(n))},${sha256Hex(HOUSEHOLD)},auto`);
  const report = await uploadPartnerAudience(t.client(PARTNER, 'partner'), {
    partnerId: PARTNER,
    profile: 'google',
    segments: [
      { segmentId: 'auto', name: 'Auto intenders' },
      { segmentId: 'pets', name: 'Pet owners' },
    ],
    source: { text: `${rows.join('\n')}\n` },
  });
  expect(report.status).toBe('SUCCEEDED');
});

afterAll(async () => {
  await t?.stop();
});

/** The advertiser's CRM list: every partner person by email or phone, and 100 strangers. */
function crmList(): string {
  const rows = ['Email,Phone'];
  for (const n of range(0, 100)) rows.push(`${personEmail(n)},`);
  for (const n of range(100, 30)) rows.push(`,${phone(n)}`);
  for (const n of [200, 201]) rows.push(`${personEmail(n)},`);
  for (const n of range(1_000, 100)) rows.push(`stranger${n}@example.org,`);
  return `${rows.join('\n')}\n`;
}

async function counts() {
  const { match } = await runMatch(t.client(ADV, 'advertiser'), {
    partnerId: PARTNER,
    list: { text: crmList() },
    quiet: true,
  });
  expect(match.status).toBe('SUCCEEDED');
  const segments = bySegment(match as MatchView);
  return {
    auto: segments.auto?.matched,
    pets: segments.pets?.matched,
    replayOf: match.result?.replayOf,
  };
}

/** How an identifier is stored: keyed under the pepper (what the table and manifests hold). */
function keyedOf(value: string): string {
  const ring = parsePepperRing(readFileSync(t.stack.env.PEPPER_FILE as string, 'utf8'));
  return hmacKeyer(ring).key(new Uint8Array(sha256Bytes(value)));
}

/** Every stored spelling of an identifier: its digests and its keyed value. */
const spellingsOf = (value: string) => [...digestSpellings(sha256Bytes(value)), keyedOf(value)];

/** Items and objects that hold any spelling of any of these identifiers. */
async function traces(values: readonly string[]) {
  await t.stack.idle();
  const needles = values.flatMap(spellingsOf);
  const items = (await dumpTables(dynamoClientFor(t.stack))).filter((i) =>
    needles.some((n) => i.text.includes(n)),
  );
  // The advertiser's own uploaded lists hold its customers' digests: that is its data, not the
  // partner's (it goes with the list's deletion or lifetime, tested below).
  const objects = (await dumpBuckets(t.stack, s3ClientFor(t.stack))).filter(
    (o) => !o.key.startsWith('lists/') && needles.some((n) => o.key.includes(n) || o.body.includes(n)),
  );
  return { items: items.map((i) => i.item.pk?.S), objects: objects.map((o) => o.key) };
}

const erase = (body: unknown, tenant = PARTNER, role: 'partner' | 'advertiser' = 'partner') =>
  http(t, 'POST', `/v1/partners/${PARTNER}/erasures`, { token: t.token(tenant, role), body });

describe('a partner erases people by identifier', () => {
  it('before: every person is counted, and their identifiers are stored keyed', async () => {
    expect(await counts()).toEqual({ auto: 102, pets: 80, replayOf: undefined });
    const before = await traces([personEmail(10), phone(10)]);
    expect(before.items.length).toBeGreaterThanOrEqual(2);
    expect(before.objects.length).toBeGreaterThan(0); // the segment manifests
  });

  it('by one email: the person leaves every segment with their phone; nothing of either stays at rest', async () => {
    const spentBefore = (await budgetOf(t.client(ADV, 'advertiser'), PARTNER)).advertiser.spent;
    const res = await erase({ email_sha256: [sha256Hex(personEmail(10))] });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      partnerId: PARTNER,
      identifiers: 1,
      found: 1,
      people: 1,
      identifiersRemoved: 2,
    });
    expect(await traces([personEmail(10), phone(10)])).toEqual({ items: [], objects: [] });
    // Others untouched.
    expect((await traces([personEmail(11)])).items.length).toBeGreaterThan(0);
    // A new release (not a replay of the one before the erasure) without the person.
    const after = await counts();
    expect(after).toEqual({ auto: 101, pets: 80, replayOf: undefined });
    // Erasing refills nothing: the two matches were paid for (noise off: zero cost each).
    expect((await budgetOf(t.client(ADV, 'advertiser'), PARTNER)).advertiser.spent).toBeGreaterThanOrEqual(
      spentBefore,
    );
  });

  it('raw phones from the CLI are hashed locally; a phone-only person leaves pets', async () => {
    const summary = await runErase(t.client(PARTNER, 'partner'), {
      partner: PARTNER,
      phone: ['(202) 555-0105'],
      region: 'US',
    });
    expect(summary).toMatchObject({
      requests: 1,
      identifiers: 1,
      found: 1,
      people: 1,
      identifiersRemoved: 1,
    });
    expect(await traces([phone(105)])).toEqual({ items: [], objects: [] });
    expect((await counts()).pets).toBe(79);
  });

  it('a household phone: erasing one person by email keeps the phone for the other; erasing the phone erases whoever gave it', async () => {
    const one = await erase({ email_sha256: [sha256Hex(personEmail(200))] });
    expect(one.json).toMatchObject({ people: 1, identifiersRemoved: 1 });
    expect(await traces([personEmail(200)])).toEqual({ items: [], objects: [] });
    // The phone stays (its item, and the link on 201's own item): person 201 still gave it.
    expect((await traces([HOUSEHOLD])).items).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^member#${PARTNER}#.*#${keyedOf(HOUSEHOLD)}$`)),
      ]),
    );
    expect((await counts()).auto).toBe(100);

    const phoneOnly = await erase({ phone_sha256: [sha256Hex(HOUSEHOLD)] });
    expect(phoneOnly.json).toMatchObject({ found: 1, people: 1, identifiersRemoved: 2 });
    expect(await traces([HOUSEHOLD, personEmail(201)])).toEqual({ items: [], objects: [] });
    expect((await counts()).auto).toBe(99);
  });

  it('an identifier nobody holds erases nobody; a malformed one is refused by field and position', async () => {
    const unknown = await erase({ email_sha256: [sha256Hex('nobody@example.org')] });
    expect(unknown.json).toMatchObject({ identifiers: 1, found: 0, people: 0, identifiersRemoved: 0 });
    const bad = await erase({ email_sha256: [sha256Hex(personEmail(20)), 'abc123'] });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('email_sha256[1]');
    // Nothing of a refused request happened: person 20 is still held.
    expect((await traces([personEmail(20)])).items.length).toBeGreaterThan(0);
    expect((await erase({})).status).toBe(400);
    expect((await erase({ email_sha256: [], extra: 1 })).status).toBe(400);
  });

  it('a raw erasure file with a bad row is refused whole, naming the row, column and rule', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'onboard-erase-'));
    try {
      const file = join(dir, 'optouts.csv');
      await writeFile(file, `Email,Phone\n${personEmail(30)},\nnot-an-email,\n`);
      await expect(
        runErase(t.client(PARTNER, 'partner'), { partner: PARTNER, file, region: 'US' }),
      ).rejects.toThrow(/row 3, column "Email": /);
      expect((await traces([personEmail(30)])).items.length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('only the partner itself (or the operator) can erase; another tenant learns nothing', async () => {
    const body = { email_sha256: [sha256Hex(personEmail(40))] };
    expect((await erase(body, 'other-partner')).status).toBe(404);
    expect((await erase(body, ADV, 'advertiser')).status).toBe(403);
    expect((await traces([personEmail(40)])).items.length).toBeGreaterThan(0);
  });

  it('the audit trail records each erasure by id, with nothing personal', async () => {
    const trail = await auditOf(t.client(PARTNER, 'partner'));
    const erasures = trail.filter((e) => e.event === 'people-erased');
    expect(erasures.length).toBe(5);
    const text = JSON.stringify(trail);
    for (const value of [personEmail(10), phone(10), phone(105), HOUSEHOLD])
      for (const s of spellingsOf(value)) expect(text).not.toContain(s);
  });
});

describe('a partner deletes a segment', () => {
  it('it leaves the catalog at once, its members are swept, its manifest goes; other segments stay', async () => {
    const res = await http(t, 'DELETE', `/v1/partners/${PARTNER}/segments/pets`, {
      token: t.token(PARTNER, 'partner'),
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ segmentId: 'pets', deleted: true });
    const partners = await http(t, 'GET', '/v1/partners', { token: t.token(ADV, 'advertiser') });
    const own = (
      partners.json as { partners: { partnerId: string; segments: { segmentId: string }[] }[] }
    ).partners.find((p) => p.partnerId === PARTNER);
    expect(own?.segments.map((s) => s.segmentId)).toEqual(['auto']);
    await t.stack.idle();
    // Phone-only people were only in pets: nothing of them stays. No item keeps a pets token.
    expect(await traces([phone(110), phone(129)])).toEqual({ items: [], objects: [] });
    const items = await dumpTables(dynamoClientFor(t.stack));
    expect(
      items.filter((i) => String(i.item.pk?.S).startsWith('member#') && i.text.includes('pets#')),
    ).toEqual([]);
    const objects = await dumpBuckets(t.stack, s3ClientFor(t.stack));
    expect(objects.filter((o) => o.key.includes('/pets/'))).toEqual([]);
    const after = await counts();
    expect(after.pets).toBeUndefined();
    expect(after.auto).toBe(99);
    expect(
      (
        await http(t, 'DELETE', `/v1/partners/${PARTNER}/segments/pets`, {
          token: t.token(PARTNER, 'partner'),
        })
      ).status,
    ).toBe(404);
  });
});

describe('retention runs through the deletion paths', () => {
  it('past the list lifetime the list objects go; past retentionDays the list, every match and its files go, audited', async () => {
    await t.stack.idle();
    const adv = t.client(ADV, 'advertiser');
    const { matches } = await adv.call('listMatches');
    expect(matches.length).toBeGreaterThan(3);
    const ctx = useCaseContext();
    const uploadsBefore = (await dumpBuckets(t.stack, s3ClientFor(t.stack))).filter((o) =>
      o.key.startsWith('lists/'),
    );
    expect(uploadsBefore.length).toBeGreaterThan(0);

    const lifetime = await enforceRetention(
      { ...ctx, now: () => new Date(Date.now() + (LIST_LIFETIME_DAYS + 0.5) * 86_400_000) },
      LIST_LIFETIME_DAYS,
    );
    expect(lifetime.listObjectsPurged).toBeGreaterThan(0);
    expect(lifetime.matchesExpired).toBe(0);
    const objects = await dumpBuckets(t.stack, s3ClientFor(t.stack));
    expect(objects.filter((o) => o.key.startsWith('lists/'))).toEqual([]);
    expect(objects.filter((o) => o.key.startsWith('results/')).length).toBeGreaterThan(0);

    const retention = await enforceRetention(
      { ...ctx, now: () => new Date(Date.now() + (ctx.retentionDays + 0.5) * 86_400_000) },
      LIST_LIFETIME_DAYS,
    );
    expect(retention.matchesExpired).toBe(matches.length);
    expect(retention.listsExpired).toBeGreaterThan(0);
    expect(retention.uploadsExpired).toBe(1);
    const left = await dumpBuckets(t.stack, s3ClientFor(t.stack));
    expect(left.filter((o) => o.key.startsWith('results/') || o.key.startsWith('lists/'))).toEqual([]);
    const items = await dumpTables(dynamoClientFor(t.stack));
    expect(items.filter((i) => String(i.item.pk?.S).startsWith(`tenant#${ADV}`))).toEqual([]);
    expect(items.filter((i) => String(i.item.pk?.S).startsWith(`tenant#${PARTNER}`))).toEqual([]);
    expect(items.filter((i) => String(i.item.pk?.S).startsWith(`releases#${ADV}`))).toEqual([]);
    const trail = await auditOf(adv);
    expect(trail.filter((e) => e.event === 'match-expired').length).toBe(matches.length);
    expect(trail.filter((e) => e.event === 'list-expired').length).toBe(retention.listsExpired);
  });
});
