/**
 * The shared vocabulary of the domain core. No AWS imports anywhere under shared/domain.
 */

/** How identifiers are normalized before hashing: byte-compatible with the named ad platforms. */
export type Profile = 'basic' | 'google' | 'uid2';
export const PROFILES: readonly Profile[] = ['basic', 'google', 'uid2'];

export type IdentifierKind = 'email' | 'phone';
export const IDENTIFIER_KINDS: readonly IdentifierKind[] = ['email', 'phone'];

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
}

/** A partner's catalog pinned at one moment: the versions a match reads. */
export interface AudienceSnapshot {
  partnerId: string;
  profile: Profile;
  segments: readonly SegmentInfo[];
  /** Distinct members across all segments of this snapshot (the partner base). */
  baseSize: number;
}
