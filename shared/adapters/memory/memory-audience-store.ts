/**
 * In-memory AudienceStore with honest versions: every `putSegment` writes a new immutable version
 * and then flips the segment's pointer to it in one synchronous step, so a snapshot taken before
 * the flip keeps reading the old members and one taken after reads the new ones, never a mix
 * (the same protocol as the DynamoDB adapter: versioned writes, then a pointer flip).
 *
 * Memberships are kept as an inverted index, key -> version slots, so a lookup costs the number of
 * segments the key is in, not the number of segments in the catalog. Keys that are base64url of 32
 * bytes are also numbered in a digest table of their raw bytes, so `membershipsOfKeys` answers raw
 * keys without making a string of the absent ones.
 */

import { base64url32 } from '../../domain/matching/digest-hmac.ts';
import { DigestTable } from '../../domain/matching/digest-table.ts';
import { kindBit } from '../../domain/matching/matched-people.ts';
import type { AudienceSnapshot, IdentifierKind, Profile, SegmentInfo } from '../../domain/model.ts';
import type { AudienceStore, MemberHit, MembershipSink } from '../../domain/ports.ts';

/** The answer for a key with no people: one shared, frozen empty row (most keys of a list miss). */
const NO_HITS: readonly MemberHit[] = Object.freeze([]);

export interface SegmentDefinition {
  segmentId: string;
  name: string;
  description: string;
}

/**
 * A snapshot as this store pins it. `maxSegmentsPerMember` is a partner-side bound on the segments
 * one member is in: it does not depend on the advertiser's list, so it is a safe noise sensitivity.
 */
export interface MemoryAudienceSnapshot extends AudienceSnapshot {
  maxSegmentsPerMember: number;
}

interface VersionSlot {
  segment: SegmentInfo;
  keys: readonly string[];
  /** key -> the people it identifies in this version; a key absent here is its own person. */
  owners?: ReadonlyMap<string, readonly string[]>;
}

/** A partner person: its person key and its identifiers (keyed digests with their kinds). */
export interface MemoryPerson {
  person: string;
  ids: readonly { key: string; kind: IdentifierKind }[];
}

/**
 * Key number n's memberships in one 16-byte record at records[4n..4n+4], so a lookup reads one
 * cache line for them: its slot count c and kind bit as (c << 8) | kindBit, then its slot ids when
 * c <= 3, or else the index in `spill` where its c slot ids are.
 */
interface CompactMemberships {
  records: Int32Array;
  spill: Int32Array;
}

const RECORD_WORDS = 4;
const INLINE_SLOTS = RECORD_WORDS - 1;

interface PartnerState {
  profile: Profile;
  /** segmentId -> slot id of the current version. */
  current: Map<string, number>;
  /** Every version still stored, by slot id. */
  slots: Map<number, VersionSlot>;
  /** key -> slot ids it is a member of (all stored versions). */
  index: Map<string, number[]>;
  /** Last version number written per segment (versions only go up, even after a prune). */
  lastVersion: Map<string, number>;
  /** The raw bytes of every 43-character key ever written, numbered (for binary lookups). */
  rawKeys: DigestTable;
  /** The key of each number in `rawKeys`, and its slot ids (the same array as in `index`). */
  keyOfRaw: string[];
  slotsOfRaw: number[][];
  /** `slotsOfRaw` in typed arrays, with each key's kind bit; rebuilt on the first binary lookup after a write. */
  compact?: CompactMemberships;
  /** baseSize and maxSegmentsPerMember of the current versions, recomputed after a write. */
  stats?: { baseSize: number; maxSegmentsPerMember: number };
}

export class MemoryAudienceStore implements AudienceStore {
  private readonly partners = new Map<string, PartnerState>();
  private nextSlot = 1;
  /** Slot ids each snapshot pinned, computed once per snapshot object. */
  private readonly pinned = new WeakMap<AudienceSnapshot, Map<number, string>>();
  /** Per snapshot: 1 + the index in its segments of each slot it pinned (0: not pinned), by slot id. */
  private readonly pinnedIndex = new WeakMap<AudienceSnapshot, Int32Array>();
  private readonly slotOfVersion = new Map<string, number>();
  /** Scratch for binary lookups: each key's number in rawKeys, or -1. */
  private found = new Int32Array(0);
  /** Kept so the reads that only warm the caches are not optimized away. */
  touched = 0;

  private partner(partnerId: string): PartnerState {
    let state = this.partners.get(partnerId);
    if (!state) {
      state = {
        profile: 'basic',
        current: new Map(),
        slots: new Map(),
        index: new Map(),
        lastVersion: new Map(),
        rawKeys: new DigestTable(),
        keyOfRaw: [],
        slotsOfRaw: [],
      };
      this.partners.set(partnerId, state);
    }
    return state;
  }

  /** The normalization profile the partner's keys were hashed with (default `basic`). */
  setPartnerProfile(partnerId: string, profile: Profile): void {
    this.partner(partnerId).profile = profile;
  }

  /** Kind of each key written with `putSegmentPeople` (others are emails). */
  private readonly kinds = new Map<string, IdentifierKind>();
  /** Versions written with owners (people with several identifiers); none in the common case. */
  private slotsWithOwners = 0;

  /** Writes a new version of a segment with exactly these people (several identifiers each). */
  putSegmentPeople(
    partnerId: string,
    definition: SegmentDefinition,
    people: Iterable<MemoryPerson>,
  ): SegmentInfo {
    const owners = new Map<string, string[]>();
    const keys: string[] = [];
    const persons = new Set<string>();
    for (const p of people) {
      persons.add(p.person);
      for (const id of p.ids) {
        owners.set(id.key, [...(owners.get(id.key) ?? []), p.person]);
        this.kinds.set(id.key, id.kind);
        keys.push(id.key);
      }
    }
    const info = this.putSegment(partnerId, definition, keys, owners);
    return { ...info, size: persons.size };
  }

  /** Writes a new version of a segment with exactly these member keys and makes it current. */
  putSegment(
    partnerId: string,
    definition: SegmentDefinition,
    keys: Iterable<string>,
    owners?: ReadonlyMap<string, readonly string[]>,
  ): SegmentInfo {
    const state = this.partner(partnerId);
    const members = [...new Set(keys)];
    const version = (state.lastVersion.get(definition.segmentId) ?? 0) + 1;
    const segment: SegmentInfo = {
      segmentId: definition.segmentId,
      name: definition.name,
      description: definition.description,
      size: members.length,
      version,
    };
    // 1. Write the new version beside the old one (invisible: nothing points at it yet).
    const slot = this.nextSlot++;
    if (owners) segment.size = new Set(members.flatMap((k) => owners.get(k) ?? [k])).size;
    state.slots.set(slot, { segment, keys: members, ...(owners ? { owners } : {}) });
    if (owners) this.slotsWithOwners++;
    for (const key of members) {
      const slots = state.index.get(key);
      if (slots) slots.push(slot);
      else {
        const created = [slot];
        state.index.set(key, created);
        indexRaw(state, key, created);
      }
    }
    this.slotOfVersion.set(versionKey(partnerId, segment.segmentId, version), slot);
    // 2. Flip the pointer.
    state.lastVersion.set(definition.segmentId, version);
    state.current.set(definition.segmentId, slot);
    state.stats = undefined;
    state.compact = undefined;
    return { ...segment };
  }

  async snapshot(partnerId: string): Promise<MemoryAudienceSnapshot | undefined> {
    return this.snapshotNow(partnerId);
  }

  /** The synchronous form of `snapshot`. */
  snapshotNow(partnerId: string): MemoryAudienceSnapshot | undefined {
    const state = this.partners.get(partnerId);
    if (!state || state.current.size === 0) return undefined;
    const segments: SegmentInfo[] = [];
    for (const slot of state.current.values()) {
      const stored = state.slots.get(slot);
      if (stored) segments.push({ ...stored.segment });
    }
    segments.sort((a, b) => (a.segmentId < b.segmentId ? -1 : a.segmentId > b.segmentId ? 1 : 0));
    state.stats ??= this.currentStats(state);
    return { partnerId, profile: state.profile, segments, ...state.stats };
  }

  async memberships(
    snapshot: AudienceSnapshot,
    keys: readonly string[],
  ): Promise<ReadonlyArray<readonly MemberHit[]>> {
    const state = this.partners.get(snapshot.partnerId);
    if (!state) return keys.map(() => []);
    const pinned = this.pinnedSlots(snapshot);
    return keys.map((key) => this.hitsOf(state, pinned, key, state.index.get(key)));
  }

  /** The binary form, answered synchronously: the data is in this process. */
  membershipsOfKeys(
    snapshot: AudienceSnapshot,
    keys: Uint8Array,
    count: number,
  ): ReadonlyArray<readonly MemberHit[]> {
    const out = new Array<readonly MemberHit[]>(count);
    const state = this.partners.get(snapshot.partnerId);
    const pinned = state ? this.pinnedSlots(snapshot) : undefined;
    for (let i = 0; i < count; i++) {
      const n = state ? state.rawKeys.find(keys, i * 32) : -1;
      out[i] =
        n === -1 || !state || !pinned
          ? NO_HITS
          : this.hitsOf(state, pinned, state.keyOfRaw[n] as string, state.slotsOfRaw[n]);
    }
    return out;
  }

  /** The sink form: each key's people and pinned segments added to `into`, no object per hit. */
  addMembershipsOfKeys(
    snapshot: AudienceSnapshot,
    keys: Uint8Array,
    count: number,
    into: MembershipSink,
  ): void {
    const state = this.partners.get(snapshot.partnerId);
    if (!state) return;
    if (this.slotsWithOwners > 0) {
      // People with several identifiers: through the MemberHit rows.
      const index = new Map(snapshot.segments.map((s, i) => [s.segmentId, i]));
      for (const row of this.membershipsOfKeys(snapshot, keys, count))
        for (const hit of row) {
          const person = into.person(hit.person);
          for (const id of hit.segments) into.addSegment(person, index.get(id) as number);
          into.addKinds(person, kindBit(hit.kind));
        }
      return;
    }
    // Every key is its own person: the key's bytes are the person's.
    state.compact ??= compactOf(state, this.kinds);
    const { records, spill } = state.compact;
    const pinned = this.pinnedIndexOf(snapshot);
    const pinnedSlots = pinned.length;
    if (this.found.length < count) this.found = new Int32Array(count);
    const found = this.found;
    // Each candidate's record is read beside its digest (the reads overlap).
    state.rawKeys.findMany(keys, 0, count, found, records, RECORD_WORDS);
    for (let i = 0; i < count; i++) {
      const n = found[i] as number;
      if (n === -1) continue;
      const at = n * RECORD_WORDS;
      const head = records[at] as number;
      const slotCount = head >>> 8;
      const list = slotCount <= INLINE_SLOTS ? records : spill;
      const from = slotCount <= INLINE_SLOTS ? at + 1 : (records[at + 1] as number);
      let person = -1;
      for (let j = from; j < from + slotCount; j++) {
        const slot = list[j] as number;
        const index = slot < pinnedSlots ? (pinned[slot] as number) : 0;
        if (index === 0) continue;
        if (person === -1) person = into.rawPerson(keys, i * 32);
        into.addSegment(person, index - 1);
      }
      if (person !== -1) into.addKinds(person, head & 255);
    }
  }

  private pinnedIndexOf(snapshot: AudienceSnapshot): Int32Array {
    let index = this.pinnedIndex.get(snapshot);
    if (!index) {
      index = new Int32Array(this.nextSlot);
      const at = new Map(snapshot.segments.map((s, i) => [s.segmentId, i]));
      for (const [slot, segmentId] of this.pinnedSlots(snapshot))
        index[slot] = (at.get(segmentId) as number) + 1;
      this.pinnedIndex.set(snapshot, index);
    }
    return index;
  }

  private hitsOf(
    state: PartnerState,
    pinned: Map<number, string>,
    key: string,
    slots: readonly number[] | undefined,
  ): readonly MemberHit[] {
    if (!slots || slots.length === 0) return NO_HITS;
    const kind = this.kinds.size === 0 ? 'email' : (this.kinds.get(key) ?? 'email');
    let segments: string[] | undefined;
    let byPerson: Map<string, string[]> | undefined;
    for (const slot of slots) {
      const segmentId = pinned.get(slot);
      if (segmentId === undefined) continue;
      const owners = this.slotsWithOwners === 0 ? undefined : state.slots.get(slot)?.owners?.get(key);
      if (!owners && !byPerson) {
        // The common case: the key is its own person.
        segments ??= [];
        segments.push(segmentId);
        continue;
      }
      if (!byPerson) {
        byPerson = new Map();
        if (segments) byPerson.set(key, segments);
      }
      for (const person of owners ?? [key]) {
        const list = byPerson.get(person) ?? [];
        byPerson.set(person, list);
        list.push(segmentId);
      }
    }
    if (byPerson) return [...byPerson].map(([person, list]) => ({ person, kind, segments: list }));
    return segments ? [{ person: key, kind, segments }] : NO_HITS;
  }

  /**
   * Deletes versions that are no longer current (the cleanup sweep). Snapshots pinned to a dropped
   * version then read it as empty: run it only once no match can still hold such a snapshot.
   */
  dropSupersededVersions(partnerId: string): number {
    const state = this.partners.get(partnerId);
    if (!state) return 0;
    const live = new Set(state.current.values());
    let dropped = 0;
    for (const [slot, stored] of state.slots) {
      if (live.has(slot)) continue;
      for (const key of stored.keys) {
        // In place: binary lookups hold the same array.
        const slots = state.index.get(key);
        if (!slots) continue;
        const at = slots.indexOf(slot);
        if (at >= 0) slots.splice(at, 1);
        if (slots.length === 0) state.index.delete(key);
      }
      state.slots.delete(slot);
      state.compact = undefined;
      this.slotOfVersion.delete(versionKey(partnerId, stored.segment.segmentId, stored.segment.version));
      dropped++;
    }
    return dropped;
  }

  private pinnedSlots(snapshot: AudienceSnapshot): Map<number, string> {
    let pinned = this.pinned.get(snapshot);
    if (!pinned) {
      pinned = new Map();
      for (const segment of snapshot.segments) {
        const slot = this.slotOfVersion.get(
          versionKey(snapshot.partnerId, segment.segmentId, segment.version),
        );
        if (slot !== undefined) pinned.set(slot, segment.segmentId);
      }
      this.pinned.set(snapshot, pinned);
    }
    return pinned;
  }

  private currentStats(state: PartnerState): { baseSize: number; maxSegmentsPerMember: number } {
    const live = new Set(state.current.values());
    // Per person: the live segments it is in, through any of its identifiers.
    const segmentsOf = new Map<string, Set<number>>();
    for (const [key, slots] of state.index) {
      for (const slot of slots) {
        if (!live.has(slot)) continue;
        for (const person of state.slots.get(slot)?.owners?.get(key) ?? [key]) {
          const set = segmentsOf.get(person) ?? new Set<number>();
          segmentsOf.set(person, set);
          set.add(slot);
        }
      }
    }
    let maxSegmentsPerMember = 0;
    for (const set of segmentsOf.values()) maxSegmentsPerMember = Math.max(maxSegmentsPerMember, set.size);
    return { baseSize: segmentsOf.size, maxSegmentsPerMember };
  }
}

/** The records of every raw key's memberships (see CompactMemberships). */
function compactOf(state: PartnerState, kinds: ReadonlyMap<string, IdentifierKind>): CompactMemberships {
  const keys = state.rawKeys.size;
  const records = new Int32Array(keys * RECORD_WORDS);
  let spilled = 0;
  for (let n = 0; n < keys; n++) {
    const length = (state.slotsOfRaw[n] as number[]).length;
    if (length > INLINE_SLOTS) spilled += length;
  }
  const spill = new Int32Array(spilled);
  spilled = 0;
  const email = kindBit('email');
  for (let n = 0; n < keys; n++) {
    const slots = state.slotsOfRaw[n] as number[];
    const kind = kinds.size > 0 ? kindBit(kinds.get(state.keyOfRaw[n] as string) ?? 'email') : email;
    if (slots.length >= 2 ** 23) throw new RangeError('a key is in too many segment versions');
    const at = n * RECORD_WORDS;
    records[at] = (slots.length << 8) | kind;
    if (slots.length <= INLINE_SLOTS) records.set(slots, at + 1);
    else {
      records[at + 1] = spilled;
      spill.set(slots, spilled);
      spilled += slots.length;
    }
  }
  return { records, spill };
}

/** Numbers a key written as base64url of 32 bytes, so a binary lookup finds it. */
function indexRaw(state: PartnerState, key: string, slots: number[]): void {
  if (key.length !== 43) return;
  const raw = new Uint8Array(Buffer.from(key, 'base64url'));
  // Only the canonical spelling: a key with stray trailing bits is never what a keyer writes.
  if (raw.length !== 32 || base64url32(raw, 0) !== key) return;
  const n = state.rawKeys.add(raw, 0);
  state.keyOfRaw[n] = key;
  state.slotsOfRaw[n] = slots;
}

function versionKey(partnerId: string, segmentId: string, version: number): string {
  return JSON.stringify([partnerId, segmentId, version]);
}
