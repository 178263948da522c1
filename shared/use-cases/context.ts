/** What the use cases are given: ports, settings and a clock. Built by the runtime, or by tests. */

import type {
  AudienceKeyer,
  AudienceStore,
  AudienceWriter,
  DomainLogger,
  IngestRunner,
  JobStore,
  Ledger,
  MaintenanceRunner,
  MatchRunner,
  ObjectStore,
} from '../domain/ports.ts';
import type { PrivacySettings } from '../domain/privacy/privacy-params.ts';

export interface UseCaseContext {
  settings: PrivacySettings;
  buckets: { uploads: string; partnerDrops: string; results: string };
  jobs: JobStore;
  audiences: AudienceStore & AudienceWriter;
  objects: ObjectStore;
  ledger: Ledger;
  runner: MatchRunner;
  /** Where an ingest's steps run after its plan (absent: in the ingest's own invocation). */
  ingestRunner?: IngestRunner;
  logger: DomainLogger;
  keyer(keyId?: string): Promise<AudienceKeyer>;
  /** The keyer of the ring's first key, which rotation never removes (for values that must outlive it). */
  stableKeyer(): Promise<AudienceKeyer>;
  /** The pepper ring's current key id, reloaded from its source. */
  currentKeyId(): Promise<string>;
  rekeyer(fromKeyId: string, toKeyId: string): Promise<(key: string) => string>;
  maintenance: MaintenanceRunner;
  shardCount: number;
  maxIngestRows: number;
  /** Matches one tenant may have in flight at once (too-many-running-matches past it). */
  maxRunningMatches: number;
  retireGraceSeconds: number;
  retentionDays: number;
  now(): Date;
  newId(): string;
}

/** Presigned URLs live this long (at most 15 minutes). */
export const UPLOAD_URL_SECONDS = 900;
export const DOWNLOAD_URL_SECONDS = 300;
