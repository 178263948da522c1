/**
 * The records the service keeps about work in progress: lists, matches and partner audience
 * uploads. Each belongs to exactly one tenant; stores key them by tenant so that isolation is a
 * property of the data layout, not only of the checks in front of it.
 */
import type { AudienceSnapshot, Encoding, IdentifierKind, Profile } from './model.ts';
import type { ListSummary, MatchResult } from './result/result-schema.ts';

export type ListStatus = 'AWAITING_UPLOAD' | 'HASHING' | 'READY' | 'FAILED';
export type MatchStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
export type IngestStatus = 'AWAITING_UPLOAD' | 'INGESTING' | 'SUCCEEDED' | 'FAILED';

/** What every record of work in progress carries for recovery (shared/domain/job-liveness.ts). */
export interface InFlightMarks {
  /**
   * The embedded stack's start (a per-process id) that last wrote the record; absent in AWS. A
   * record still in flight with another instance's id was being worked on by a process now gone.
   */
  instance?: string;
  /** How many times recovery resumed this job (a job that kills its worker is resumed once). */
  recoveries?: number;
}

export interface ListRecord extends InFlightMarks {
  kind: 'list';
  tenantId: string;
  listId: string;
  status: ListStatus;
  /** `hashed`: one hash a line, hashed on the advertiser's machine; `raw`: hashed here, then deleted. */
  format: 'hashed' | 'raw';
  profile: Profile;
  identifierKind: IdentifierKind;
  /** The identifier kinds the list holds, as the advertiser's machine read them (hashed lists). */
  kinds?: IdentifierKind[];
  encoding: Encoding;
  region?: string;
  column?: string;
  summary?: ListSummary;
  errorCode?: string;
  errorDetail?: string;
  /** When retention deleted the list's objects (past its lifetime); the record stays a while longer. */
  objectsPurgedAt?: string;
  createdAt: string;
  updatedAt: string;
}

export interface MatchProgress {
  phase: 'queued' | 'splitting' | 'matching' | 'reducing' | 'done';
  shardsDone: number;
  shardsTotal: number;
}

export interface MatchRecord extends InFlightMarks {
  kind: 'match';
  tenantId: string;
  matchId: string;
  listId: string;
  partnerId: string;
  /** The k requested (already checked against the deployment floor). */
  minSegmentSize: number;
  status: MatchStatus;
  progress: MatchProgress;
  /** The partner versions pinned when the match started. */
  snapshot?: AudienceSnapshot;
  summary?: ListSummary;
  result?: MatchResult;
  errorCode?: string;
  errorDetail?: string;
  createdAt: string;
  updatedAt: string;
}

export interface SegmentDeclaration {
  segmentId: string;
  name: string;
  description: string;
}

export interface IngestReport {
  rowsRead: number;
  accepted: number;
  rejected: number;
  /** Rejections per rule, with the first row numbers of each (capped) so a partner can fix the file. */
  rejectedByRule: Record<string, { count: number; rows: number[] }>;
  duplicates: number;
  segments: { segmentId: string; members: number; version: number }[];
  /** A dry run: the file was read and counted, nothing was written or published. */
  dryRun?: boolean;
}

export interface AudienceUploadRecord extends InFlightMarks {
  kind: 'audience';
  /** The partner is the tenant that owns the upload. */
  tenantId: string;
  audienceId: string;
  status: IngestStatus;
  profile: Profile;
  segments: SegmentDeclaration[];
  /** The most rows an ingest may reject (a share of rows read) before it fails; default 0.1. */
  maxRejectedShare?: number;
  /** Read and report only: nothing is written, published or spent. */
  dryRun?: boolean;
  report?: IngestReport;
  errorCode?: string;
  errorDetail?: string;
  createdAt: string;
  updatedAt: string;
}

export type JobRecord = ListRecord | MatchRecord | AudienceUploadRecord;

export const SEGMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Ids are used as object keys in results and tallies: names of Object.prototype are refused. */
export const isUsableSegmentId = (id: string) => SEGMENT_ID_PATTERN.test(id) && !(id in Object.prototype);
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
