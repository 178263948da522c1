/**
 * Attacks on the guarantee, run as an adversary would, in two worlds that differ in one person of
 * the partner's data (the victim is in segment S, or absent), over many trials. Each trial runs the
 * real matching (matchShard over the in-memory store, keyed like the service) and the real release
 * (applyPrivacy with fresh noise from a seeded source; replays through reuseRelease), and the
 * attacker guesses the world from what it sees. The success rate is compared with the best any
 * test can reach under the rho the attack spent (maxAttackAccuracy): a rate above that bound, by
 * more than the sampling slack, means the releases leak more than docs/privacy.md states.
 *
 * Used by test/privacy/guarantee-attacks.test.ts (asserting the bound) and by `npm run bench`
 * (reporting the rates).
 */
import { createHash } from 'node:crypto';
import { MemoryAudienceStore } from '../shared/adapters/memory/memory-audience-store.ts';
import { createPortableKeyer } from '../shared/domain/matching/keyer.ts';
import { matchShard } from '../shared/domain/matching/match-shard.ts';
import type { AudienceSnapshot } from '../shared/domain/model.ts';
import { applyPrivacy } from '../shared/domain/privacy/apply-privacy.ts';
import { maxAttackAccuracy } from '../shared/domain/privacy/budget.ts';
import { type PrivacySettings, parsePrivacySettings } from '../shared/domain/privacy/privacy-params.ts';
import { reuseRelease } from '../shared/domain/privacy/reuse-release.ts';
import type { MatchResult } from '../shared/domain/result/result-schema.ts';
// Reproducible words stand in for the CSPRNG: the same seeds give the same run.
import { seededWords } from '../test/support/seeded-words.ts';

const keyer = createPortableKeyer('attack', new Uint8Array(32).fill(7));
const digestOf = (person: number) => new Uint8Array(createHash('sha256').update(`person-${person}`).digest());
const range = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);

export type WorldName = 'in' | 'out';

interface SegmentSpec {
  segmentId: string;
  people: readonly number[];
}

/** A partner in one world, and the true tallies of the lists an attacker sends it. */
class World {
  private readonly store = new MemoryAudienceStore();
  private snapshotPinned: AudienceSnapshot | undefined;
  private readonly tallies = new Map<string, { matched: number; perSegment: Record<string, number> }>();

  constructor(segments: readonly SegmentSpec[]) {
    this.load(segments);
  }

  private load(segments: readonly SegmentSpec[]): void {
    for (const s of segments)
      this.store.putSegment(
        'partner',
        { segmentId: s.segmentId, name: s.segmentId, description: '' },
        s.people.map((p) => keyer.key(digestOf(p))),
      );
  }

  async snapshot(): Promise<AudienceSnapshot> {
    this.snapshotPinned ??= await this.store.snapshot('partner');
    if (!this.snapshotPinned) throw new Error('no snapshot');
    return this.snapshotPinned;
  }

  /** True counts of a list: the same every trial, so they are computed once. */
  async tally(list: readonly number[]) {
    const id = list.join(',');
    const known = this.tallies.get(id);
    if (known) return known;
    const t = await matchShard({
      digests: list.map(digestOf),
      snapshot: await this.snapshot(),
      store: this.store,
      keyer,
    });
    const tally = { matched: t.matched, perSegment: t.perSegment };
    this.tallies.set(id, tally);
    return tally;
  }
}

const BUDGET = {
  period: 'attack',
  renewsAt: '2030-01-01T00:00:00.000Z',
  rhoSpent: 0,
  advertiserLeft: 0,
  advertiserAllowance: 0,
  partnerLeft: 0,
};

/** One advertiser tenant of the simulated service: its releases, and its replays. */
class Tenant {
  private readonly released = new Map<string, { result: MatchResult; version: string }>();
  rhoSpent = 0;

  private version = 0;

  constructor(
    private world: World,
    private readonly settings: PrivacySettings,
    private readonly seed: string,
  ) {}

  /** The partner published new versions: earlier releases are no longer replays. */
  refreshed(world: World): void {
    this.world = world;
    this.version++;
  }

  async match(list: readonly number[]): Promise<MatchResult> {
    const id = [...new Set(list)].sort((a, b) => a - b).join(',');
    const earlier = this.released.get(id);
    if (earlier && earlier.version === String(this.version)) {
      return reuseRelease(earlier.result, {
        k: this.settings.minSegmentSize,
        now: new Date(0),
        replayOf: 'earlier',
        budget: null,
      });
    }
    const result = applyPrivacy({
      tally: await this.world.tally(list),
      snapshot: await this.world.snapshot(),
      listSummary: {
        rows: list.length,
        valid: list.length,
        invalid: 0,
        invalidByReason: {},
        duplicates: 0,
        distinct: new Set(list).size,
      },
      settings: this.settings,
      budget: BUDGET,
      random: seededWords(`${this.seed}:${this.released.size}:${this.version}`),
      now: new Date(0),
    });
    if (!this.settings.unsafeNoiseOffForTests) this.rhoSpent += this.settings.rhoPerMatch;
    this.released.set(id, { result, version: String(this.version) });
    return result;
  }
}

const segmentCount = (r: MatchResult, id: string) =>
  r.segments.find((s) => s.segmentId === id)?.matched ?? null;

// --- The partner's data: S holds the victim in world "in" ---------------------------------------

const K = 50;
const VICTIM = 1_000_000;
/** In world "out" the victim's place in S is empty: the worlds differ in one person exactly. */
const S_MEMBERS = range(0, 300);
/** k − 1 members of S the attacker knows (the anchor attack). */
const KNOWN_S = range(0, K - 1);
const segmentsOf = (world: WorldName): SegmentSpec[] => [
  { segmentId: 's', people: world === 'in' ? [...S_MEMBERS, VICTIM] : S_MEMBERS },
  // A and B overlap S and each other: the "total minus segments" tracker.
  { segmentId: 'a', people: range(200, 400) },
  { segmentId: 'b', people: range(500, 400) },
  { segmentId: 'c', people: range(2_000, 500) },
];
/** People in nobody's segments: bulk for lists. */
const strangers = (from: number, count: number) => range(5_000_000 + from, count);

export interface AttackOutcome {
  attack: string;
  /** The attacker's share of correct guesses over both worlds. */
  success: number;
  trials: number;
  /** What the attack spent against the partner, in zCDP rho. */
  rho: number;
  /** The best share any test can reach at that rho (docs/privacy.md). */
  bound: number;
  /** The bound plus the sampling slack at the documented false-alarm rate. */
  limit: number;
}

interface Attack {
  name: string;
  /** Runs the attacker against one world; returns its guess that the victim is "in". */
  run(world: WorldName, trial: number, settings: PrivacySettings): Promise<{ guessIn: boolean; rho: number }>;
}

/** One-sided z for a false-alarm rate of 0.1 % per attack. */
export const FALSE_ALARM_Z = 3.09;

function newWorld(world: WorldName): World {
  return new World(segmentsOf(world));
}

/** The worlds are built once per process; tallies are cached in them (true counts never change). */
const worlds: Record<WorldName, World> = { in: newWorld('in'), out: newWorld('out') };

const BASE_LIST = strangers(0, 400);

export const ATTACKS: readonly Attack[] = [
  {
    // Anchor list, then anchor + k − 1 known members of S + the victim: S shows when the victim
    // lifts it to k. A deterministic decision on true counts made this exact.
    name: 'decision oracle: anchor, then anchor + k − 1 known members + victim',
    async run(world, trial, settings) {
      const tenant = new Tenant(worlds[world], settings, `oracle:${world}:${trial}`);
      await tenant.match(BASE_LIST);
      const r = await tenant.match([...BASE_LIST, ...KNOWN_S, VICTIM]);
      return { guessIn: segmentCount(r, 's') !== null, rho: tenant.rhoSpent };
    },
  },
  {
    // One match: the victim and members of S, A, B; total − A − B + |A ∩ B ∩ list| isolates S's
    // people outside A and B, the victim among them.
    name: 'overlapping-segment tracker: total − A − B in one match',
    async run(world, trial, settings) {
      const tenant = new Tenant(worlds[world], settings, `tracker:${world}:${trial}`);
      const list = [...range(200, 700), VICTIM, ...BASE_LIST];
      const r = await tenant.match(list);
      // Known to the attacker: the list holds 700 of A ∪ B (200..899); outside them, only the victim.
      const estimate = (r.matched ?? 0) - 700;
      return { guessIn: estimate >= 0.5, rho: tenant.rhoSpent };
    },
  },
  {
    name: 'union tracker: L, F, then L ∪ F ∪ {victim}',
    async run(world, trial, settings) {
      const tenant = new Tenant(worlds[world], settings, `union:${world}:${trial}`);
      const L = [...range(0, 150), ...strangers(0, 200)];
      const F = [...range(150, 100), ...strangers(1_000, 200)];
      const rl = await tenant.match(L);
      const rf = await tenant.match(F);
      const ru = await tenant.match([...L, ...F, VICTIM]);
      const estimate =
        (segmentCount(ru, 's') ?? 0) - (segmentCount(rl, 's') ?? 0) - (segmentCount(rf, 's') ?? 0);
      return { guessIn: estimate >= 0.5, rho: tenant.rhoSpent };
    },
  },
  {
    name: 'intersection tracker: A, B, A ∩ B, then A ∪ B ∪ {victim}',
    async run(world, trial, settings) {
      const tenant = new Tenant(worlds[world], settings, `inter:${world}:${trial}`);
      const A = [...range(0, 200), ...strangers(0, 200)];
      const B = [...range(100, 200), ...strangers(2_000, 200)];
      const both = [...range(100, 100), ...strangers(4_000, 100)];
      const ra = await tenant.match(A);
      const rb = await tenant.match(B);
      const rab = await tenant.match(both);
      const ru = await tenant.match([...new Set([...A, ...B]), VICTIM]);
      const s = (r: MatchResult) => segmentCount(r, 's') ?? 0;
      // A ∪ B holds 300 of S, counted once by A + B − A ∩ B: what is left over is the victim.
      const estimate = s(ru) - s(ra) - s(rb) + s(rab);
      return { guessIn: estimate >= 0.5, rho: tenant.rhoSpent };
    },
  },
  {
    // The same list before and after the partner's refresh (the victim joins S in world "in"; in
    // world "out" the refresh changes nothing). Not a replay: the versions differ.
    name: 'refresh re-run: the same list before and after a partner refresh',
    async run(world, trial, settings) {
      // Before the refresh both worlds hold the "out" data; after it, each its own.
      const tenant = new Tenant(worlds.out, settings, `refresh:${world}:${trial}`);
      const list = [...range(0, 300), VICTIM, ...BASE_LIST];
      const r1 = await tenant.match(list);
      tenant.refreshed(worlds[world]);
      const r2 = await tenant.match(list);
      const estimate = (segmentCount(r2, 's') ?? 0) - (segmentCount(r1, 's') ?? 0);
      return { guessIn: estimate >= 0.5, rho: tenant.rhoSpent };
    },
  },
  {
    // Many tenants, each with its own budget, average their releases of the same list. The
    // partner-wide budget caps what they spend together; the attack uses 16 tenants.
    name: 'several tenants averaging: 16 tenants match list + victim',
    async run(world, trial, settings) {
      const list = [...range(0, 300), VICTIM, ...BASE_LIST];
      let sum = 0;
      let rho = 0;
      for (let i = 0; i < 16; i++) {
        const tenant = new Tenant(worlds[world], settings, `sybil:${world}:${trial}:${i}`);
        sum += segmentCount(await tenant.match(list), 's') ?? 0;
        rho += tenant.rhoSpent;
      }
      return { guessIn: sum / 16 >= 300.5, rho };
    },
  },
  {
    // One tenant re-runs the same list (reordered, duplicated) to average the noise away: every
    // re-run is a replay of the first release.
    name: 'averaging by re-running: the same list 10 times',
    async run(world, trial, settings) {
      const tenant = new Tenant(worlds[world], settings, `rerun:${world}:${trial}`);
      const list = [...range(0, 300), VICTIM, ...BASE_LIST];
      let sum = 0;
      for (let i = 0; i < 10; i++)
        sum += segmentCount(await tenant.match(i % 2 ? [...list].reverse() : list), 's') ?? 0;
      return { guessIn: sum / 10 >= 300.5, rho: tenant.rhoSpent };
    },
  },
];

/** Runs every attack `trials` times in each world and scores it against the bound. */
export async function runAttacks(
  settings: PrivacySettings,
  trials: number,
  only: readonly Attack[] = ATTACKS,
): Promise<AttackOutcome[]> {
  const out: AttackOutcome[] = [];
  for (const attack of only) {
    let correct = 0;
    let rho = 0;
    for (let trial = 0; trial < trials; trial++) {
      for (const world of ['in', 'out'] as const) {
        const { guessIn, rho: spent } = await attack.run(world, trial, settings);
        if (guessIn === (world === 'in')) correct++;
        rho = Math.max(rho, spent);
      }
    }
    const n = 2 * trials;
    const bound = settings.unsafeNoiseOffForTests ? 1 : maxAttackAccuracy(rho);
    const limit = Math.min(1, bound + FALSE_ALARM_Z * Math.sqrt((bound * (1 - bound)) / n));
    out.push({ attack: attack.name, success: correct / n, trials: n, rho, bound, limit });
  }
  return out;
}

/** The settings of the attacks: the deployment defaults (rho 0.01 a match, k 50), small lists allowed. */
export const ATTACK_SETTINGS = parsePrivacySettings({ minListSize: 100, minSegmentSize: K });
export const NOISE_OFF_SETTINGS = parsePrivacySettings({
  minListSize: 100,
  minSegmentSize: K,
  unsafeNoiseOffForTests: true,
});
