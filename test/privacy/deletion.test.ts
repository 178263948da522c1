/**
 * Deletion (issue: erasure and deletion): an advertiser deletes a match and a list; afterwards a
 * dump of every bucket and every table (as in at-rest-and-logs) finds nothing of them but the
 * audit trail's ids and the budget account's charge (the spend stays: deletion never refills a
 * budget). A list matched again after its match was deleted is a new release, paid again: the
 * replay entry went with the match.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  http,
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import {
  auditOf,
  budgetOf,
  dumpBuckets,
  dumpTables,
  dynamoClientFor,
  hexLines,
  matchLines,
  s3ClientFor,
  uploadHashedList,
} from './kit.ts';

const PARTNER = 'del-partner';
const ADV = 'del-adv';
let t: TestStack;

const segments: SeedSegment[] = [{ segmentId: 'a', name: 'A', people: range(0, 600) }];

beforeAll(async () => {
  t = await startTestStack({ MIN_LIST_SIZE: '100', MIN_SEGMENT_SIZE: '50', SHARD_COUNT: '4' });
  expect((await seedPartner(t.client(PARTNER, 'partner'), PARTNER, segments)).status).toBe('SUCCEEDED');
});

afterAll(async () => {
  await t?.stop();
});

/** Every object key and body, and every item, that mentions the id. */
async function traces(id: string) {
  // Background work (sweeps, cleanups) settles first: the dump is of what stays at rest.
  await t.stack.idle();
  const objects = (await dumpBuckets(t.stack, s3ClientFor(t.stack))).filter(
    (o) => o.key.includes(id) || o.body.includes(id),
  );
  const items = (await dumpTables(dynamoClientFor(t.stack))).filter((i) => i.text.includes(id));
  return { objects, items };
}

describe('an advertiser deletes a match and a list', () => {
  it('a deleted match leaves no record, no file and no replay entry; its spend stays spent', async () => {
    const adv = t.client(ADV, 'advertiser');
    const people = range(0, 400);
    const first = await matchLines(adv, PARTNER, hexLines(people));
    expect(first.status).toBe('SUCCEEDED');
    const before = await traces(first.matchId);
    expect(before.objects.length).toBeGreaterThan(0); // the result files
    const deleted = await http(t, 'DELETE', `/v1/matches/${first.matchId}`, {
      token: t.token(ADV, 'advertiser'),
    });
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.json).toEqual({ matchId: first.matchId, deleted: true });

    const after = await traces(first.matchId);
    expect(after.objects).toEqual([]);
    // Left: the audit entries (ids only) and the budget account's charge, which must stay.
    for (const item of after.items) {
      const pk = String(item.item.pk?.S);
      expect(pk.startsWith('audit#') || pk.startsWith('budget#'), pk).toBe(true);
    }
    expect(
      (await http(t, 'GET', `/v1/matches/${first.matchId}`, { token: t.token(ADV, 'advertiser') })).status,
    ).toBe(404);
    expect((await budgetOf(adv, PARTNER)).advertiser.spent).toBe(0.01);
    const trail = await auditOf(adv);
    expect(trail).toContainEqual(
      expect.objectContaining({ event: 'match-deleted', matchId: first.matchId, rhoSpent: 0 }),
    );

    // The same people again: no longer a replay (its entry went with the match), so a new release, paid.
    const again = await matchLines(adv, PARTNER, hexLines(people));
    expect(again.status).toBe('SUCCEEDED');
    expect(again.result?.replayOf).toBeUndefined();
    expect((await budgetOf(adv, PARTNER)).advertiser.spent).toBe(0.02);
  });

  it('a deleted list leaves no record and no object; another tenant cannot delete it', async () => {
    const adv = t.client(ADV, 'advertiser');
    const listId = await uploadHashedList(adv, hexLines(range(1_000, 200)));
    expect((await traces(listId)).objects.length).toBe(1);
    const other = await http(t, 'DELETE', `/v1/lists/${listId}`, {
      token: t.token('del-other', 'advertiser'),
    });
    expect(other.status).toBe(404);
    const partner = await http(t, 'DELETE', `/v1/lists/${listId}`, { token: t.token(PARTNER, 'partner') });
    expect(partner.status).toBe(403);
    const res = await http(t, 'DELETE', `/v1/lists/${listId}`, { token: t.token(ADV, 'advertiser') });
    expect(res.status, res.text).toBe(200);
    const after = await traces(listId);
    expect(after.objects).toEqual([]);
    for (const item of after.items) expect(String(item.item.pk?.S).startsWith('audit#')).toBe(true);
    expect(
      (await http(t, 'DELETE', `/v1/lists/${listId}`, { token: t.token(ADV, 'advertiser') })).status,
    ).toBe(404);
  });
});
