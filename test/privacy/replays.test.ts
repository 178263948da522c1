/**
 * Replays (rule 5): the same people matched again against the same partner versions get the
 * earlier release back, with no new noise and no spend, so re-running a list (reordered,
 * duplicated, re-encoded, re-spelled) cannot average the noise away. Noise is ON (the deployment
 * default). Whether a match is a replay depends only on the advertiser's own list and the catalog
 * versions, never on the partner's people, so the decision itself is no oracle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../../cli/api-client.ts';
import { type MatchView, runMatch } from '../../cli/flows.ts';
import { personEmail } from '../../local/synthetic-data.ts';
import {
  range,
  type SeedSegment,
  seedPartner,
  startTestStack,
  type TestStack,
} from '../integration/helpers.ts';
import { auditOf, base64Of, budgetOf, hexLines, matchLines, observable, type Result } from './kit.ts';

const K = 50;
let t: TestStack;

/** The attacker's base list L: people 0..499 (S holds 0..149, V 100..199, T 150..299). */
const L = range(0, 500);
/** The victim: a gmail.com person (n % 6 === 0), never in L. */
const VICTIM = 600_000;
/** Takes the victim's place in S in world "out", so both catalogs have the same sizes. */
const STAND_IN = 600_006;

type World = 'in' | 'out';
const WORLDS: readonly World[] = ['in', 'out'];

function worldSegments(world: World): SeedSegment[] {
  const extra = world === 'in' ? VICTIM : STAND_IN;
  return [
    {
      segmentId: 's',
      name: 'S (the victim may be here)',
      people: [...range(0, 150), extra, ...range(10_000, 400)],
    },
    { segmentId: 't', name: 'T', people: [...range(150, 150), ...range(20_000, 400)] },
    { segmentId: 'u', name: 'U (none of L)', people: range(30_000, 300) },
    { segmentId: 'v', name: 'V (overlaps S and T)', people: [...range(100, 100), ...range(40_000, 200)] },
  ];
}

const partnerOf = (world: World, profile: 'google' | 'uid2' = 'google') => `dw-${profile}-${world}`;

beforeAll(async () => {
  t = await startTestStack({
    MIN_LIST_SIZE: '100',
    SHARD_COUNT: '4',
    MIN_SEGMENT_SIZE: String(K),
  });
  await Promise.all(
    WORLDS.flatMap((world) =>
      (['google', 'uid2'] as const).map(async (profile) => {
        const id = partnerOf(world, profile);
        const report = await seedPartner(t.client(id, 'partner'), id, worldSegments(world), { profile });
        expect(report.status).toBe('SUCCEEDED');
      }),
    ),
  );
});

afterAll(async () => {
  await t?.stop();
});

/** An advertiser of its own per attack and world: budgets and difference checks start clean. */
const attacker = (attack: string, world: World): ApiClient =>
  t.client(`atk-${attack}-${world}`, 'advertiser');

/** Runs the same attack in both worlds (in parallel) and returns each world's releases. */
async function _inBothWorlds(
  attack: string,
  run: (client: ApiClient, partnerId: string, world: World) => Promise<MatchView[]>,
) {
  const [inWorld, outWorld] = await Promise.all(
    WORLDS.map((world) => run(attacker(attack, world), partnerOf(world), world)),
  );
  return { in: inWorld as MatchView[], out: outWorld as MatchView[] };
}

function succeeded(m: MatchView): Result {
  expect(m.status, `${m.code}: ${m.detail}`).toBe('SUCCEEDED');
  return m.result as Result;
}

describe.concurrent('replays: the same people again learn nothing and spend nothing', () => {
  /** Runs `second` after `first` for one attacker; the second must be a replay of the first. */
  async function expectReplay(
    attack: string,
    first: readonly string[],
    second: readonly string[],
    profile: 'google' | 'uid2' = 'google',
  ) {
    const client = attacker(attack, 'in');
    const partnerId = partnerOf('in', profile);
    const m1 = await matchLines(client, partnerId, first, { profile });
    const r1 = succeeded(m1);
    const spentAfterFirst = await budgetOf(client, partnerId);
    expect(spentAfterFirst.advertiser.spent).toBe(0.01);
    const m2 = await matchLines(client, partnerId, second, { profile });
    const r2 = succeeded(m2);
    expect(m2.matchId).not.toBe(m1.matchId);
    // The earlier release itself: same values, same noise draw (no averaging); only the time differs.
    expect(observable(r2)).toEqual(observable(r1));
    expect(r2.partner).toEqual(r1.partner);
    // Announced as a replay of the first match; the first is not one.
    expect(r2.replayOf).toBe(m1.matchId);
    expect(r1.replayOf).toBeUndefined();
    // The advertiser's own account (the partner-wide one moves with the other tests' matches).
    expect((await budgetOf(client, partnerId)).advertiser).toEqual(spentAfterFirst.advertiser);
    const audit = await auditOf(client);
    expect(audit.find((e) => e.matchId === m2.matchId)).toMatchObject({
      event: 'match-replayed',
      rhoSpent: 0,
      replayOf: m1.matchId,
      partnerId,
    });
    expect(audit.find((e) => e.matchId === m1.matchId)).toMatchObject({
      event: 'match-released',
      rhoSpent: 0.01,
    });
    return { r1, r2 };
  }

  it('an identical re-run (noise on) returns the earlier result without spending budget', async () => {
    const { r1 } = await expectReplay('rerun', hexLines(L), hexLines(L));
    expect(r1.privacy.noise.mechanism).toBe('discrete-gaussian');
    expect(r1.privacy.budget).toMatchObject({ rhoSpent: 0.01, advertiserLeft: 0.39 });
  });

  it('reordered list (plus victim, shuffled): a replay of the earlier result, budget not spent again', async () => {
    const lines = hexLines([...L, VICTIM]);
    const shuffled = [...lines].reverse();
    shuffled.push(shuffled.shift() as string);
    await expectReplay('reorder', lines, shuffled);
  });

  it('duplicated rows (every row of the list plus victim twice, some thrice): a replay, budget not spent again', async () => {
    const lines = hexLines([...L, VICTIM]);
    const { r2 } = await expectReplay('dup', lines, [...lines, ...lines, ...lines.slice(0, 50)]);
    // The list totals shown are the earlier list's: the replay reveals nothing new, not even them.
    expect(r2.list.distinct).toBe(L.length + 1);
  });

  it('the same people under another encoding (uid2: hex, then base64 of the same digests): a replay', async () => {
    await expectReplay('enc', hexLines([...L, VICTIM]), [...L, VICTIM].map(base64Of), 'uid2');
  });

  it('the same people under another spelling (google: canonical, then gmail dots and +tag): a replay', async () => {
    const client = attacker('spell', 'in');
    const partnerId = partnerOf('in');
    const people = [...L, VICTIM];
    const m1 = await matchLines(client, partnerId, hexLines(people));
    const before = await budgetOf(client, partnerId);
    const gmailSpelling = (n: number) => {
      const [local, domain] = personEmail(n).split('@') as [string, string];
      return domain === 'gmail.com'
        ? `${local.slice(0, 1)}.${local.slice(1)}+x@gmail.com`
        : personEmail(n).toUpperCase();
    };
    const { match: m2 } = await runMatch(client, {
      partnerId,
      list: { text: `${people.map(gmailSpelling).join('\n')}\n` },
      quiet: true,
    });
    expect(observable(succeeded(m2))).toEqual(observable(succeeded(m1)));
    expect((await budgetOf(client, partnerId)).advertiser).toEqual(before.advertiser);
  });
});
