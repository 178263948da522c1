/**
 * The difference attack raced: the list and the list plus the victim started back to back, so
 * both matches reduce at the same time. Releases of one advertiser against one partner are
 * serialised, so whichever comes second is checked against the first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MatchView, waitForMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import {
  exactCountScenario,
  http,
  putTo,
  seedPartner,
  sha256Hex,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';

const PARTNER = 'race-partner';
const ADV = 'race-adv';
let t: TestStack;

const scenario = exactCountScenario({
  base: 7_000,
  listSize: 400,
  segments: [
    { segmentId: 'a', listMatches: 150, others: 60 },
    { segmentId: 'b', listMatches: 120, others: 60 },
  ],
});
/** The victim: a partner member of segment a outside the list. */
const victim = (scenario.segments[0]?.people ?? []).find((p) => !scenario.listPeople.includes(p)) as number;

beforeAll(async () => {
  t = await startTestStack({ NOISE_ENABLED: 'false', MIN_LIST_SIZE: '100', MIN_SEGMENT_SIZE: '50' });
  const report = await seedPartner(t.client(PARTNER, 'partner'), PARTNER, scenario.segments);
  expect(report.status).toBe('SUCCEEDED');
});

afterAll(async () => {
  await t?.stop();
});

async function uploaded(people: number[]): Promise<string> {
  const token = t.token(ADV, 'advertiser');
  const created = await http(t, 'POST', '/v1/lists', {
    token,
    body: { format: 'hashed', profile: 'google' },
  });
  expect(
    await putTo(created.json.upload, `${people.map((p) => sha256Hex(personEmail(p))).join('\n')}\n`),
  ).toBe(200);
  return created.json.listId;
}

describe('racing the difference check', () => {
  it('list and list plus victim started at once: the second release is difference-checked against the first', async () => {
    const token = t.token(ADV, 'advertiser');
    const lists = [await uploaded(scenario.listPeople), await uploaded([...scenario.listPeople, victim])];
    const started = await Promise.all(
      lists.map((listId) => http(t, 'POST', '/v1/matches', { token, body: { listId, partnerId: PARTNER } })),
    );
    const client = t.client(ADV, 'advertiser');
    const done: MatchView[] = await Promise.all(
      started.map((s) => waitForMatch(client, s.json.matchId, true)),
    );
    for (const m of done) expect(m.status).toBe('SUCCEEDED');
    const checked = done.filter((m) => m.result?.segments.every((s) => s.reason === 'difference-check'));
    const released = done.filter((m) => m.result?.segments.every((s) => !s.suppressed));
    // Exactly one release shows counts; the other, whichever it is, shows nothing to subtract.
    expect(released).toHaveLength(1);
    expect(checked).toHaveLength(1);
    expect(checked[0]?.result?.matched).toBeNull();
  });
});
