/**
 * Segment membership tokens and the arithmetic of replacing segment versions. A member's record
 * holds `segmentId#version` tokens; a catalog says which version of each segment is current.
 * Pure functions, so ingest, sweep and re-keying all agree on what "current" means.
 */
import type { PartnerCatalog, SegmentInfo } from '../model.ts';

export const token = (segmentId: string, version: number) => `${segmentId}#${version}`;

export function parseToken(t: string): { segmentId: string; version: number } {
  const at = t.lastIndexOf('#');
  return { segmentId: t.slice(0, at), version: Number(t.slice(at + 1)) };
}

/** The set of tokens a catalog counts as current. */
export function currentTokens(segments: readonly SegmentInfo[]): Set<string> {
  return new Set(segments.map((s) => token(s.segmentId, s.version)));
}

export function countCurrent(tokens: Iterable<string>, current: ReadonlySet<string>): number {
  let n = 0;
  for (const t of tokens) if (current.has(t)) n++;
  return n;
}

/**
 * A fresh version number for a segment: strictly above the current one and unique per attempt
 * (time-based), so tokens left by an ingest that failed before its flip are never mistaken for a
 * later version.
 */
export function nextVersion(current: number | undefined, nowMs: number): number {
  return Math.max((current ?? 0) + 1, nowMs);
}

/** Tokens to keep for a member once the retired versions in `retired` are swept. */
export function withoutTokens(tokens: readonly string[], retired: ReadonlySet<string>): string[] {
  return tokens.filter((t) => !retired.has(t));
}

export function emptyCatalog(
  partnerId: string,
  profile: PartnerCatalog['profile'],
  keyId: string,
): PartnerCatalog {
  return {
    partnerId,
    profile,
    keyId,
    segments: [],
    baseSize: 0,
    maxSegmentsPerMember: 0,
    revision: 0,
    retired: [],
    updatedAt: new Date(0).toISOString(),
  };
}
