/**
 * Deploy-time settings, read from CDK context (`-c minSegmentSize=80` or cdk.json) and validated
 * with zod at synth time. A bad value stops the synth with a message naming the context key, so
 * an operator never deploys a privacy setting the functions would reject at runtime.
 *
 * The bounds mirror shared/infra/runtime-config.ts (the functions validate the same values again).
 */
import type { IConstruct } from 'constructs';
import { z } from 'zod';

/** CLI context values arrive as strings (`-c noise=false`); cdk.json gives real JSON types. */
const number = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), schema);

const boolean = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (s === 'true' || s === '1') return true;
    if (s === 'false' || s === '0') return false;
    return v;
  },
  z.boolean({ error: 'must be true or false' }),
);

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

export const DeployContextSchema = z
  .object({
    /** k: the smallest count ever released (PRODUCT.md privacy rule 1). */
    minSegmentSize: number(
      z
        .number({ error: 'must be a whole number between 20 and 200' })
        .int({ error: 'must be a whole number between 20 and 200' })
        .min(20, { error: 'must be at least 20 (k-anonymity floor)' })
        .max(200, { error: 'must be at most 200' }),
    ).default(50),
    /** Lists with fewer distinct valid identifiers are refused (rule 2). */
    minListSize: number(
      z
        .number({ error: 'must be a whole number of at least 1' })
        .int({ error: 'must be a whole number' })
        .min(1, { error: 'must be at least 1' })
        .max(100_000_000, { error: 'must be at most 100000000' }),
    ).default(1000),
    /** Discrete Laplace noise on released counts (rule 5). */
    noise: boolean.default(true),
    epsilonPerMatch: number(
      z
        .number({ error: 'must be a number greater than 0 and at most 10' })
        .positive({ error: 'must be greater than 0' })
        .max(10, { error: 'must be at most 10' }),
    ).default(1),
    epsilonBudget: number(
      z
        .number({ error: 'must be a number greater than 0 and at most 1000' })
        .positive({ error: 'must be greater than 0' })
        .max(1000, { error: 'must be at most 1000' }),
    ).default(10),
    /** Released counts rounded to the nearest 5 or 10 after noise, or not at all. */
    rounding: z
      .enum(['none', 'nearest-5', 'nearest-10'], { error: 'must be one of none, nearest-5, nearest-10' })
      .default('none'),
    /** Days results (and job records) are kept; drives the results bucket lifecycle and item TTLs. */
    retentionDays: number(
      z
        .number({ error: 'must be a whole number of days between 1 and 3650' })
        .int({ error: 'must be a whole number of days' })
        .min(1, { error: 'must be at least 1 day' })
        .max(3650, { error: 'must be at most 3650 days' }),
    ).default(30),
    /** Hash-prefix shards a list is split into (a power of two, 1 to 256). */
    shardCount: number(
      z
        .number({ error: 'must be a power of two between 1 and 256' })
        .int({ error: 'must be a whole number' })
        .min(1, { error: 'must be at least 1' })
        .max(256, { error: 'must be at most 256' })
        .refine(isPowerOfTwo, { error: 'must be a power of two (1, 2, 4, ... 256)' }),
    ).default(16),
    /** Distributed Map child executions running at once; bounds DynamoDB read pressure. */
    maxShardConcurrency: number(
      z
        .number({ error: 'must be a whole number between 1 and 1000' })
        .int({ error: 'must be a whole number' })
        .min(1, { error: 'must be at least 1' })
        .max(1000, { error: 'must be at most 1000' }),
    ).default(16),
    /** Seconds a replaced segment version stays readable for matches that pinned it. */
    retireGraceSeconds: number(
      z
        .number({ error: 'must be a whole number of seconds between 0 and 86400' })
        .int({ error: 'must be a whole number of seconds' })
        .min(0, { error: 'must be at least 0' })
        .max(86_400, { error: 'must be at most 86400 (one day)' }),
      // Longer than a match can run (the state machine times out after 2 hours), plus queueing.
    ).default(10_800),
    /** Rows one partner file may hold (ingest groups members in memory, 2 GB per function). */
    maxIngestRows: number(
      z
        .number({ error: 'must be a whole number between 1 and 20000000' })
        .int({ error: 'must be a whole number' })
        .min(1, { error: 'must be at least 1' })
        .max(20_000_000, { error: 'must be at most 20000000 (the ingest function holds a file in 2 GB)' }),
    ).default(5_000_000),
    /** Optional existing SNS topic the alarms notify. */
    alarmTopicArn: z
      .string({ error: 'must be an SNS topic ARN' })
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, {
        error: 'must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)',
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.epsilonPerMatch > c.epsilonBudget) {
      ctx.addIssue({
        code: 'custom',
        path: ['epsilonPerMatch'],
        message: `must not exceed epsilonBudget (${c.epsilonBudget}), or no match could ever run`,
      });
    }
  });

export type DeployContext = z.infer<typeof DeployContextSchema>;

export const DEPLOY_CONTEXT_KEYS = Object.keys(DeployContextSchema.shape) as (keyof DeployContext)[];

export class DeployContextError extends Error {
  override readonly name = 'DeployContextError';
}

/** Validates raw context values; throws one error listing every bad key and what it must be. */
export function parseDeployContext(raw: Readonly<Record<string, unknown>>): DeployContext {
  const picked: Record<string, unknown> = {};
  for (const key of DEPLOY_CONTEXT_KEYS) {
    if (raw[key] !== undefined && raw[key] !== null) picked[key] = raw[key];
  }
  const parsed = DeployContextSchema.safeParse(picked);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '(context)');
    const got = key in picked ? ` (got ${JSON.stringify(picked[key])})` : '';
    return `  - context key "${key}" ${issue.message}${got}; set it with -c ${key}=VALUE or in cdk.json "context"`;
  });
  throw new DeployContextError(`Invalid deploy-time context:\n${problems.join('\n')}`);
}

/** Reads the deploy context from a construct tree (the App's context, cdk.json and `-c`). */
export function readDeployContext(scope: IConstruct): DeployContext {
  const raw: Record<string, unknown> = {};
  for (const key of DEPLOY_CONTEXT_KEYS) raw[key] = scope.node.tryGetContext(key);
  return parseDeployContext(raw);
}

/**
 * The function environment for the deploy settings, named exactly as RuntimeConfigSchema reads
 * them (shared/infra/runtime-config.ts); test/infra/privacy-context.test.ts parses it with that schema.
 */
export function privacyEnvironment(c: DeployContext): Record<string, string> {
  return {
    MIN_SEGMENT_SIZE: String(c.minSegmentSize),
    MIN_LIST_SIZE: String(c.minListSize),
    NOISE_ENABLED: String(c.noise),
    EPSILON_PER_MATCH: String(c.epsilonPerMatch),
    EPSILON_BUDGET: String(c.epsilonBudget),
    ROUNDING: c.rounding,
    RETENTION_DAYS: String(c.retentionDays),
    SHARD_COUNT: String(c.shardCount),
    RETIRE_GRACE_SECONDS: String(c.retireGraceSeconds),
    MAX_INGEST_ROWS: String(c.maxIngestRows),
  };
}
