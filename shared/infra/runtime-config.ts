/**
 * The environment every function reads, validated once at init (fail fast with a clear message).
 * The CDK app sets these variables; the embedded stack sets the same ones for its in-process
 * handlers. Endpoints for s3rver and dynalite come from the SDK's own AWS_ENDPOINT_URL_* variables.
 */
import { z } from 'zod';
import { isDomainError } from '../domain/errors.ts';
import { type PrivacySettings, privacySettingsFromEnv } from '../domain/privacy/privacy-params.ts';
import { BUCKETS, TABLES } from './definitions.ts';

export const RuntimeConfigSchema = z.object({
  [TABLES.audiences.env]: z.string().min(3),
  [TABLES.jobs.env]: z.string().min(3),
  [TABLES.ledger.env]: z.string().min(3),
  [BUCKETS.uploads.env]: z.string().min(3),
  [BUCKETS.partnerDrops.env]: z.string().min(3),
  [BUCKETS.results.env]: z.string().min(3),
  /** Where the pepper lives: a Secrets Manager secret id in AWS, a file in the embedded stack. */
  PEPPER_SECRET_ID: z.string().min(1).optional(),
  PEPPER_FILE: z.string().min(1).optional(),
  /** Step Functions state machine for large matches (AWS); absent in the embedded stack. */
  MATCH_STATE_MACHINE_ARN: z.string().optional(),
  /** Step Functions state machine that runs a partner ingest after its plan (AWS); absent locally. */
  INGEST_STATE_MACHINE_ARN: z.string().optional(),
  /** The maintenance function (re-keying, sweeps), invoked asynchronously (AWS); absent locally. */
  MAINTENANCE_FUNCTION_NAME: z.string().optional(),
  RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** Shards a list is split into by hash prefix (a power of two). */
  SHARD_COUNT: z.coerce.number().int().min(1).max(256).default(16),
  /** Seconds a replaced segment version stays readable for matches that pinned it, before its sweep. */
  RETIRE_GRACE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(10_800),
  /** Rows a partner file may hold (ingest groups members in memory). */
  MAX_INGEST_ROWS: z.coerce.number().int().min(1).max(250_000_000).default(5_000_000),
  /** Matches one tenant may have QUEUED or RUNNING at once; one more is refused (429). */
  MAX_RUNNING_MATCHES: z.coerce.number().int().min(1).max(100).default(10),
  /**
   * Embedded stack only: an id of this start of the stack, recorded on the jobs and locks it works
   * on, so recovery knows what a previous (crashed) start left in flight. Absent in AWS.
   */
  ONBOARD_INSTANCE_ID: z.string().min(1).optional(),
});

export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;

/**
 * The deployment's privacy settings, as the domain core takes them: read from the environment by
 * the one table of privacy settings (MIN_SEGMENT_SIZE, RHO_PER_MATCH, ...), failing fast with the
 * setting, its value and the allowed range.
 */
export function privacySettingsOf(env: NodeJS.ProcessEnv = process.env): PrivacySettings {
  try {
    return privacySettingsFromEnv(env);
  } catch (error) {
    if (isDomainError(error)) throw new Error(`Invalid function configuration: ${error.detail}`);
    throw error;
  }
}

export function readRuntimeConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const parsed = RuntimeConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid function configuration: ${problems}`);
  }
  return parsed.data;
}
