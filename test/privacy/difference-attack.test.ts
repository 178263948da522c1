/**
 * The difference attack (PRODUCT.md rule 4): "upload a list, then the list plus one victim" and
 * its variants. Each attack runs twice, in two partner worlds that differ in one fact only: the
 * victim is in segment S (world "in") or not in the partner's base at all (world "out", where a
 * stranger takes the victim's place in S so every catalog size stays the same). The attacker
 * learns nothing about the victim when everything its final release shows (each segment's
 * matched value, suppression and reason, the matched total and its reason, shares, affinities,
 * the privacy block) is identical in both worlds.
 *
 * Noise is ON (the deployment default), so budgets and replays can be checked; the segments are
 * kept far from k (0 or >= 100 list members against k = 50, noise scale 3) so that noise cannot
 * flip a threshold decision and the worlds can be compared exactly. The threshold-edge variant,
 * which needs exact counts, is in threshold-and-derivation.test.ts (noise off).
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
import { auditOf, base64Of, budgetOf, hexLines, hexOf, matchLines, observable, type Result } from './kit.ts';

const K = 50;
let t: TestStack;

/** The attacker's base list L: people 0..499 (S holds 0..149, V 100..199, T 150..299). */
const L = range(0, 500);
/** The victim: a gmail.com person (n % 6 === 0), never in L. */
const VICTIM = 600_000;
/** Takes the victim's place in S in world "out", so both catalogs have the same sizes. */
const STAND_IN = 600_006;
/** k − 1 people in nobody's base. */
const FILLERS = range(700_000, K - 1);

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
    NOISE_ENABLED: 'true',
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
async function inBothWorlds(
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

/** The attacker's final release is the same in both worlds, and hides S and the total. */
function expectNothingLearned(worlds: { in: MatchView[]; out: MatchView[] }) {
  const lastIn = succeeded(worlds.in.at(-1) as MatchView);
  const lastOut = succeeded(worlds.out.at(-1) as MatchView);
  expect(observable(lastIn)).toEqual(observable(lastOut));
  const s = lastIn.segments.find((x) => x.segmentId === 's');
  expect(s).toMatchObject({ matched: null, suppressed: true, share: null, affinity: null });
  expect(lastIn.matched).toBeNull();
}

describe.concurrent('list, then list plus one victim', () => {
  it('plus victim: every segment and the total are suppressed (difference-check), identically in both worlds', async () => {
    const worlds = await inBothWorlds('plus', async (client, partnerId) => [
      await matchLines(client, partnerId, hexLines(L)),
      await matchLines(client, partnerId, hexLines([...L, VICTIM])),
    ]);
    // Control: the first release (L alone) is a normal one, with S released.
    for (const w of WORLDS) {
      const first = succeeded(worlds[w][0] as MatchView);
      expect(first.segments.find((s) => s.segmentId === 's')?.suppressed).toBe(false);
      expect(first.matched).not.toBeNull();
    }
    expectNothingLearned(worlds);
    const last = worlds.in[1]?.result as Result;
    for (const s of last.segments) {
      expect(s.suppressed).toBe(true);
      // Every flagged segment says difference-check, whatever its count: the reason reveals nothing.
      expect(s.reason).toBe('difference-check');
    }
    expect(last.matchedSuppressedReason).toBe('difference-check');
  });

  it('plus victim and k − 1 fillers that match nothing: still suppressed, identical in both worlds', async () => {
    const worlds = await inBothWorlds('fillers', async (client, partnerId) => [
      await matchLines(client, partnerId, hexLines(L)),
      await matchLines(client, partnerId, hexLines([...L, VICTIM, ...FILLERS])),
    ]);
    expectNothingLearned(worlds);
    // The fillers make the lists differ by k people, but the matched sets by 0 or 1 only.
    expect(worlds.in[1]?.result?.list.distinct).toBe(L.length + 1 + FILLERS.length);
    expect(worlds.in[1]?.result?.matchedSuppressedReason).toBe('difference-check');
  });

  it('minus one person (list with the victim, then without): identical in both worlds', async () => {
    const worlds = await inBothWorlds('minus', async (client, partnerId) => [
      await matchLines(client, partnerId, hexLines([...L, VICTIM])),
      await matchLines(client, partnerId, hexLines(L)),
    ]);
    expectNothingLearned(worlds);
  });

  it('the victim under another spelling (gmail dots and +tag, google profile, hashed by the CLI): identical in both worlds', async () => {
    // personEmail(VICTIM) is "...@gmail.com" with no dots; the attacker writes it another way.
    const canonical = personEmail(VICTIM);
    const [local, domain] = canonical.split('@') as [string, string];
    expect(domain).toBe('gmail.com');
    const spelled = ` ${local.slice(0, 2)}.${local.slice(2, 4)}.${local.slice(4).toUpperCase()}+tracker@GMail.com `;
    const worlds = await inBothWorlds('gmail', async (client, partnerId) => [
      await matchLines(client, partnerId, hexLines(L)),
      (
        await runMatch(client, {
          partnerId,
          list: { text: `${[...L.map(personEmail), spelled].join('\n')}\n` },
          quiet: true,
        })
      ).match,
    ]);
    expect(worlds.in[1]?.result?.list.distinct).toBe(L.length + 1);
    expectNothingLearned(worlds);
  });

  it('the victim under another encoding (uid2: base64 list, then the victim in hex): identical in both worlds', async () => {
    const [inWorld, outWorld] = await Promise.all(
      WORLDS.map(async (world) => {
        const client = attacker('uid2', world);
        const partnerId = partnerOf(world, 'uid2');
        return [
          await matchLines(client, partnerId, L.map(base64Of), { profile: 'uid2' }),
          await matchLines(client, partnerId, [...L.map(base64Of), hexOf(VICTIM)], { profile: 'uid2' }),
        ];
      }),
    );
    expectNothingLearned({ in: inWorld as MatchView[], out: outWorld as MatchView[] });
  });
});

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
    expect(spentAfterFirst.epsilonSpent).toBe(1);
    const m2 = await matchLines(client, partnerId, second, { profile });
    const r2 = succeeded(m2);
    expect(m2.matchId).not.toBe(m1.matchId);
    // The earlier release itself: same values, same noise draw (no averaging); only the time differs.
    expect(observable(r2)).toEqual(observable(r1));
    expect(r2.partner).toEqual(r1.partner);
    // Announced as a replay of the first match; the first is not one.
    expect(r2.replayOf).toBe(m1.matchId);
    expect(r1.replayOf).toBeUndefined();
    expect(await budgetOf(client, partnerId)).toEqual(spentAfterFirst);
    const audit = await auditOf(client);
    expect(audit.find((e) => e.matchId === m2.matchId)).toMatchObject({
      event: 'match-replayed',
      epsilonSpent: 0,
      partnerId,
    });
    expect(audit.find((e) => e.matchId === m1.matchId)).toMatchObject({
      event: 'match-released',
      epsilonSpent: 1,
    });
    return { r1, r2 };
  }

  it('an identical re-run (noise on) returns the earlier result without spending budget', async () => {
    const { r1 } = await expectReplay('rerun', hexLines(L), hexLines(L));
    expect(r1.privacy.noise.mechanism).toBe('discrete-laplace');
    expect(r1.privacy.budget).toEqual({ epsilonSpent: 1, epsilonLeft: 9 });
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
    expect(await budgetOf(client, partnerId)).toEqual(before);
  });
});
