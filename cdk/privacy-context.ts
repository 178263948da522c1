/**
 * Deploy-time settings, read from CDK context (`-c minSegmentSize=80` or cdk.json) and validated
 * with zod at synth time. A bad value stops the synth with a message naming the context key, so
 * an operator never deploys a privacy setting the functions would reject at runtime.
 *
 * The bounds mirror shared/infra/runtime-config.ts (the functions validate the same values again).
 */
import type { IConstruct } from 'constructs';
import { z } from 'zod';
import {
  checkPrivacySettings,
  PRIVACY_SETTINGS,
  type PrivacySettingName,
  type PrivacySettings,
  type PrivacySettingsInput,
  privacySettingsToEnv,
} from '../shared/domain/privacy/privacy-params.ts';

/** CLI context values arrive as strings (`-c shardCount=32`); cdk.json gives real JSON types. */
const number = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), schema);

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

export const DeployContextSchema = z.object({
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
  /**
   * Rows one partner file may hold. The split scales out by byte ranges; the bound is the 16
   * identifier parts, each of which must merge its share of the file's identifiers within 15 minutes.
   */
  maxIngestRows: number(
    z
      .number({ error: 'must be a whole number between 1 and 250000000' })
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .max(250_000_000, {
        error: 'must be at most 250000000 (each identifier part of an upload must end within 15 minutes)',
      }),
  ).default(5_000_000),
  /** Optional existing SNS topic the alarms notify. */
  alarmTopicArn: z
    .string({ error: 'must be an SNS topic ARN' })
    .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, {
      error: 'must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)',
    })
    .optional(),
});

/** The privacy settings come from the one table of privacy settings (shared/domain/privacy). */
export type DeployContext = z.infer<typeof DeployContextSchema> & { privacy: PrivacySettings };

export const DEPLOY_CONTEXT_KEYS = [
  ...Object.keys(DeployContextSchema.shape),
  ...Object.values(PRIVACY_SETTINGS).map((s) => s.context),
] as string[];

/** Keys of earlier versions, refused with what replaces them rather than silently ignored. */
const RETIRED_KEYS: Readonly<Record<string, string>> = {
  noise: 'noise is always on in a deployment (there is no setting to turn it off)',
  epsilonPerMatch: 'the budget is now zCDP rho: use rhoPerMatch',
  epsilonBudget: 'the budget is now zCDP rho per period: use rhoPerAdvertiserPartner and rhoPerPartner',
};

export class DeployContextError extends Error {
  override readonly name = 'DeployContextError';
}

/** Validates raw context values; throws one error listing every bad key and what it must be. */
export function parseDeployContext(raw: Readonly<Record<string, unknown>>): DeployContext {
  const present = (key: string) => raw[key] !== undefined && raw[key] !== null;
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(DeployContextSchema.shape)) if (present(key)) picked[key] = raw[key];
  const problems: string[] = [];
  for (const [key, why] of Object.entries(RETIRED_KEYS)) {
    if (present(key)) problems.push(`  - context key "${key}" is no longer read: ${why}`);
  }
  const parsed = DeployContextSchema.safeParse(picked);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '(context)');
      const got = key in picked ? ` (got ${JSON.stringify(picked[key])})` : '';
      problems.push(
        `  - context key "${key}" ${issue.message}${got}; set it with -c ${key}=VALUE or in cdk.json "context"`,
      );
    }
  }
  const privacyInput: PrivacySettingsInput = {};
  for (const name of Object.keys(PRIVACY_SETTINGS) as PrivacySettingName[]) {
    const key = PRIVACY_SETTINGS[name].context;
    if (present(key)) privacyInput[name] = raw[key];
  }
  const checked = checkPrivacySettings(
    privacyInput,
    (name) => `context key "${PRIVACY_SETTINGS[name].context}"`,
  );
  for (const problem of checked.problems) {
    const key = /^context key "([^"]+)"/.exec(problem)?.[1] ?? 'KEY';
    problems.push(`  - ${problem}; set it with -c ${key}=VALUE or in cdk.json "context"`);
  }
  const privacy = checked.settings;
  if (privacy?.unsafeNoiseOffForTests) {
    problems.push(
      '  - context key "unsafeNoiseOffForTests" is refused: a deployment always adds noise (only test stacks may turn it off)',
    );
  }
  if (problems.length > 0 || !parsed.success || !privacy) {
    throw new DeployContextError(`Invalid deploy-time context:\n${problems.join('\n')}`);
  }
  return { ...parsed.data, privacy };
}

/** Reads the deploy context from a construct tree (the App's context, cdk.json and `-c`). */
export function readDeployContext(scope: IConstruct): DeployContext {
  const raw: Record<string, unknown> = {};
  for (const key of [...DEPLOY_CONTEXT_KEYS, ...Object.keys(RETIRED_KEYS)])
    raw[key] = scope.node.tryGetContext(key);
  return parseDeployContext(raw);
}

/**
 * The function environment for the deploy settings, named exactly as RuntimeConfigSchema reads
 * them (shared/infra/runtime-config.ts); test/infra/privacy-context.test.ts parses it with that schema.
 */
export function privacyEnvironment(c: DeployContext): Record<string, string> {
  return {
    ...privacySettingsToEnv(c.privacy),
    RETENTION_DAYS: String(c.retentionDays),
    SHARD_COUNT: String(c.shardCount),
    RETIRE_GRACE_SECONDS: String(c.retireGraceSeconds),
    MAX_INGEST_ROWS: String(c.maxIngestRows),
  };
}
