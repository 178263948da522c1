/**
 * When a job in flight is dead. Its record is updated when each phase starts, so a job whose
 * record has not changed for longer than its phase can take has no worker left: the bounds below
 * are derived from the functions' timeouts (shared/infra/definitions.ts), plus a margin for clocks
 * and slow writes. In the embedded stack a job is also dead at once when it was last written by a
 * previous start of the stack (its `instance`): that process is gone, and its work with it.
 */
import type { JobRecord } from '../domain/jobs.ts';
import { ASYNC_ATTEMPTS, FUNCTION_TIMEOUT_SECONDS, MATCH_TIMEOUT_SECONDS } from '../infra/definitions.ts';
import { UPLOAD_URL_SECONDS } from './context.ts';

/** Clock skew between functions and slow writes of the last update. */
export const LIVENESS_MARGIN_SECONDS = 300;

/**
 * A state machine task's retries of throttling and Lambda service errors wait at most this long
 * in all (cdk/stateless-stack.ts: 2 s doubling, capped at a minute, five retries: 62 s).
 */
const TASK_RETRY_DELAYS_SECONDS = 120;

/** Lambda's asynchronous retries wait about one, then two minutes. */
const ASYNC_RETRY_DELAYS_SECONDS = 180;

/**
 * A file landed but its S3 event never started the job: the upload URL's life, then every attempt
 * of the function with its retry delays. An event later than this (throttled for hours) finds the
 * job already taken over by recovery and is ignored by the handler.
 */
const lostEventBound = (timeout: number) =>
  UPLOAD_URL_SECONDS + ASYNC_ATTEMPTS * timeout + ASYNC_RETRY_DELAYS_SECONDS + LIVENESS_MARGIN_SECONDS;

export const LIVENESS_BOUNDS_SECONDS = {
  /** A raw list HASHING: every attempt sets HASHING as it starts, and one attempt runs at most its timeout. */
  hashing: FUNCTION_TIMEOUT_SECONDS['list-upload'] + LIVENESS_MARGIN_SECONDS,
  /**
   * A partner drop INGESTING: its split (one attempt of the ingest function), then, in AWS, the
   * ingest state machine, whose every people unit and identifier part updates the record as it ends:
   * between two updates runs at most one step (map items run side by side, each within its function's
   * timeout) and the waits of its throttling retries. Unlike a match, the state machine's own
   * timeout does not bound it: a live execution keeps the record fresh, a stopped one stops doing so.
   */
  ingesting:
    Math.max(FUNCTION_TIMEOUT_SECONDS.ingest, FUNCTION_TIMEOUT_SECONDS['ingest-step']) +
    TASK_RETRY_DELAYS_SECONDS +
    LIVENESS_MARGIN_SECONDS,
  /**
   * A match QUEUED or RUNNING: the state machine stops it at its timeout (no Catch runs then), and a
   * task invoked just before may run its own timeout more.
   */
  match:
    MATCH_TIMEOUT_SECONDS +
    Math.max(
      FUNCTION_TIMEOUT_SECONDS['match-split'],
      FUNCTION_TIMEOUT_SECONDS['match-shard'],
      FUNCTION_TIMEOUT_SECONDS['match-reduce'],
    ) +
    LIVENESS_MARGIN_SECONDS,
  /** A raw list uploaded but never HASHING: its event was lost (or dead-lettered before it started). */
  rawListUnclaimed: lostEventBound(FUNCTION_TIMEOUT_SECONDS['list-upload']),
  /** A partner drop uploaded but never INGESTING. */
  dropUnclaimed: lostEventBound(FUNCTION_TIMEOUT_SECONDS.ingest),
} as const;

export function livenessBoundSeconds(record: JobRecord): number {
  switch (record.kind) {
    case 'list':
      return record.status === 'HASHING'
        ? LIVENESS_BOUNDS_SECONDS.hashing
        : LIVENESS_BOUNDS_SECONDS.rawListUnclaimed;
    case 'audience':
      return record.status === 'INGESTING'
        ? LIVENESS_BOUNDS_SECONDS.ingesting
        : LIVENESS_BOUNDS_SECONDS.dropUnclaimed;
    case 'match':
      return LIVENESS_BOUNDS_SECONDS.match;
  }
}

export type DeathCause = 'previous-instance' | 'stale';

/**
 * Why a record still in flight (or awaiting the event of its upload) has no worker any more, or
 * undefined while it may still have one. `instance` is this start of the embedded stack (absent in AWS).
 */
export function deathOf(record: JobRecord, now: Date, instance?: string): DeathCause | undefined {
  if (instance && record.instance && record.instance !== instance) return 'previous-instance';
  const age = (now.getTime() - Date.parse(record.updatedAt)) / 1000;
  return age > livenessBoundSeconds(record) ? 'stale' : undefined;
}
