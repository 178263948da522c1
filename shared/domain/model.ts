/**
 * The shared vocabulary of the domain core. No AWS imports anywhere under shared/domain.
 */

/** How identifiers are normalized before hashing: byte-compatible with the named ad platforms. */
export type Profile = 'basic' | 'google' | 'uid2';
export const PROFILES: readonly Profile[] = ['basic', 'google', 'uid2'];

export type IdentifierKind = 'email' | 'phone';
/**
 * Every identifier kind, in the fixed order that decides a person's primary identifier (its first
 * non-empty one): the person key of a partner member, the list person of an advertiser row.
 * Add a kind at the end, with its tag, to open the model to more.
 */
export const IDENTIFIER_KINDS: readonly IdentifierKind[] = ['email', 'phone'];

/** The one-letter tag of each kind in the hashed upload form (`e:<digest>,p:<digest>`). */
export const KIND_TAGS: Readonly<Record<IdentifierKind, string>> = { email: 'e', phone: 'p' };

/** The kinds in a set, in IDENTIFIER_KINDS order. */
export function orderedKinds(kinds: Iterable<IdentifierKind>): IdentifierKind[] {
  const set = new Set(kinds);
  return IDENTIFIER_KINDS.filter((k) => set.has(k));
}

export type Encoding = 'hex' | 'base64';

/** The encoding each profile's platform expects by default. */
export const DEFAULT_ENCODING: Readonly<Record<Profile, Encoding>> = {
  basic: 'hex',
  google: 'hex',
  uid2: 'base64',
};

/** A segment of a partner's audience, as shown in the catalog. */
export interface SegmentInfo {
  segmentId: string;
  name: string;
  description: string;
  /** Members in the current version (the partner base used for affinity). */
  size: number;
  /** The current version; readers pin it at match start so a replacement is never seen half-way. */
  version: number;
  /**
   * The identifier kinds the segment's members were given with (learned at ingest). Absent on
   * segments ingested before kinds were recorded: those were email only.
   */
  kinds?: IdentifierKind[];
  /**
   * The size as published: noisy (drawn once per version, charged to the partner's catalog budget)
   * and rounded; null when the noisy size is under k or the catalog budget could not pay for it.
   * The only size that ever leaves the service or enters a released value (affinity).
   */
  publishedSize?: number | null;
}

/** A partner's catalog pinned at one moment: the versions a match reads. */
export interface AudienceSnapshot {
  partnerId: string;
  profile: Profile;
  segments: readonly SegmentInfo[];
  /** Distinct members across all segments of this snapshot (the partner base). */
  baseSize: number;
  /** The partner base as published (noisy, rounded), or null: see SegmentInfo.publishedSize. */
  publishedBaseSize?: number | null;
  /** The pepper key id the partner's members are keyed with (rotation flips it). */
  keyId?: string;
  /**
   * An upper bound on the segments one member of the partner's whole base is in: the noise
   * sensitivity. A bound over the base, not the list, so the scale itself reveals nothing.
   */
  maxSegmentsPerMember?: number;
  /** Erasures applied to the partner's members so far: part of what a replay must find unchanged. */
  erasures?: number;
  /** The membership filter of this catalog version, when it has one (pinned with the snapshot). */
  filter?: FilterRef;
}

/**
 * A membership filter stored beside a catalog version (shared/domain/audiences/membership-filter.ts):
 * its id (unique per build), its parts and its bits per key, under the catalog's key id.
 */
export interface FilterRef {
  id: string;
  keyId: string;
  parts: number;
  bitsPerKey: number;
  /** Keyed values inserted (with repeats across segments). */
  keys: number;
}

/** A filter replaced by a newer catalog version, kept until no running match can still load it. */
export interface RetiredFilter {
  id: string;
  keyId: string;
  parts: number;
  retiredAt: string;
}

/** A segment version replaced by a newer one, kept until no running match can still read it. */
export interface RetiredVersion {
  segmentId: string;
  version: number;
  retiredAt: string;
}

/** A pepper key id the partner's members were keyed with before a rotation, swept after grace. */
export interface RetiredKey {
  keyId: string;
  retiredAt: string;
  /** The manifests (segment versions) written under that key id: what its sweep deletes. */
  manifests: { segmentId: string; version: number }[];
}

/** The stored catalog of one partner: what snapshots are cut from. */
export interface PartnerCatalog {
  partnerId: string;
  profile: Profile;
  keyId: string;
  segments: SegmentInfo[];
  baseSize: number;
  publishedBaseSize?: number | null;
  /** Upper bound on segments per member; only ever raised by ingest (see AudienceSnapshot). */
  maxSegmentsPerMember: number;
  /** Optimistic-concurrency revision: every write expects the one it read. */
  revision: number;
  retired: RetiredVersion[];
  /** Key ids replaced by a rotation, awaiting their sweep (absent on catalogs never rotated). */
  retiredKeys?: RetiredKey[];
  /** Erasures applied since the first upload (people removed in place, versions unchanged). */
  erasures?: number;
  /** The current membership filter (absent before the first ingest that builds one). */
  filter?: FilterRef;
  /** Filters of earlier versions, awaiting their sweep. */
  retiredFilters?: RetiredFilter[];
  updatedAt: string;
}

/** The identifier kinds a partner's segments hold (a public property of the catalog). */
export function catalogKinds(segments: readonly Pick<SegmentInfo, 'kinds'>[]): IdentifierKind[] {
  const kinds = new Set<IdentifierKind>();
  for (const s of segments) for (const k of s.kinds ?? ['email']) kinds.add(k as IdentifierKind);
  return orderedKinds(kinds);
}
