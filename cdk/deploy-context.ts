/**
 * The whole deploy context of the app: the privacy and pipeline settings of privacy-context.ts plus
 * the operational ones below (stage, alarm e-mail, matches per tenant), read from CDK context
 * (cdk.json `context` or `-c key=value`) and validated together at synth time.
 *
 * Strict: a context key shaped like a setting of this app (camelCase, such as `minSegmentsize`)
 * that is not one is an error naming it, so a typo never deploys the default silently. Keys the
 * CDK itself puts in the context (feature flags `@aws-cdk/...`, `aws:cdk:...`, `aws-cdk:...`,
 * `acknowledged-issue-numbers`, lookup caches `availability-zones:...`) all carry `@`, `:`, `-`,
 * `.` or `/`, and are left alone.
 */
import type { IConstruct } from 'constructs';
import { z } from 'zod';
import { PRIVACY_SETTINGS, type PrivacySettingName } from '../shared/domain/privacy/privacy-params.ts';
import { MATCH_TIMEOUT_SECONDS } from '../shared/infra/definitions.ts';
import {
  DEPLOY_CONTEXT_KEYS,
  type DeployContext,
  DeployContextError,
  parseDeployContext,
  privacyEnvironment,
} from './privacy-context.ts';

/** CLI context values arrive as strings (`-c maxRunningMatchesPerTenant=5`); cdk.json gives numbers. */
const wholeNumber = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z
      .number({ error: `must be a whole number between ${min} and ${max}` })
      .int({ error: `must be a whole number between ${min} and ${max}` })
      .min(min, { error: `must be at least ${min}` })
      .max(max, { error: `must be at most ${max}` }),
  );

export const OperationsContextSchema = z.object({
  /**
   * The copy of the service (dev, staging, prod...): stack names, and with them every export
   * name, derive from it, so several copies can share one account and region.
   */
  stage: z
    .string({ error: 'must be a stage name' })
    .regex(/^[a-z][a-z0-9]{0,11}$/, {
      error: 'must be a lowercase letter then up to 11 lowercase letters or digits (dev, prod, test2)',
    })
    .default('dev'),
  /** Optional e-mail address subscribed to the alarm topic (confirm the subscription e-mail). */
  alarmEmail: z.email({ error: 'must be an e-mail address' }).optional(),
  /** Matches one tenant may have QUEUED or RUNNING at once; one more is refused with 429. */
  maxRunningMatchesPerTenant: wholeNumber(1, 100).default(10),
});

export type OperationsContext = z.infer<typeof OperationsContextSchema>;

/** Every deploy setting of the app. */
export type Deployment = DeployContext & OperationsContext;

export const OPERATIONS_CONTEXT_KEYS = Object.keys(
  OperationsContextSchema.shape,
) as (keyof OperationsContext)[];

/** Every context key this app reads. */
export const PROJECT_CONTEXT_KEYS: readonly string[] = [...DEPLOY_CONTEXT_KEYS, ...OPERATIONS_CONTEXT_KEYS];

/** Context keys shaped like this app's settings; anything else belongs to the CDK or its CLI. */
export const isProjectShapedKey = (key: string): boolean => /^[a-z][A-Za-z0-9]*$/.test(key);

/** The setting an unknown key most likely meant: same letters ignoring case, or one edit away. */
function closestKey(key: string): string | undefined {
  const lower = key.toLowerCase();
  const distance = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0] as number;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j] as number;
        row[j] = Math.min(
          current + 1,
          (row[j - 1] as number) + 1,
          previous + (a[i - 1] === b[j - 1] ? 0 : 1),
        );
        previous = current;
      }
    }
    return row[b.length] as number;
  };
  return (
    PROJECT_CONTEXT_KEYS.find((k) => k.toLowerCase() === lower) ??
    PROJECT_CONTEXT_KEYS.find((k) => distance(k.toLowerCase(), lower) <= 2)
  );
}

const line = (key: string, message: string) =>
  `  - context key "${key}" ${message}; set it with -c ${key}=VALUE or in cdk.json "context"`;

/**
 * Validates every setting at once: unknown keys, each setting's bounds, and the settings checked
 * against each other or against the pipeline's fixed limits. Throws one DeployContextError
 * listing every problem.
 */
export function parseDeployment(raw: Readonly<Record<string, unknown>>): Deployment {
  const problems: string[] = [];
  for (const key of Object.keys(raw)) {
    if (!isProjectShapedKey(key) || PROJECT_CONTEXT_KEYS.includes(key)) continue;
    const hint = closestKey(key);
    problems.push(
      `  - context key "${key}" is not a setting of this app${hint ? ` (did you mean "${hint}"?)` : ''}; the settings are ${PROJECT_CONTEXT_KEYS.join(', ')}`,
    );
  }

  let privacy: DeployContext | undefined;
  try {
    privacy = parseDeployContext(raw);
  } catch (error) {
    if (!(error instanceof DeployContextError)) throw error;
    problems.push(...error.message.split('\n').slice(1));
  }

  const picked: Record<string, unknown> = {};
  for (const key of OPERATIONS_CONTEXT_KEYS) {
    if (raw[key] !== undefined && raw[key] !== null) picked[key] = raw[key];
  }
  const operations = OperationsContextSchema.safeParse(picked);
  if (!operations.success) {
    for (const issue of operations.error.issues) {
      const key = String(issue.path[0] ?? '(context)');
      const got = key in picked ? ` (got ${JSON.stringify(picked[key])})` : '';
      problems.push(line(key, `${issue.message}${got}`));
    }
  }

  // Checked even when another setting is bad, so one run lists every problem.
  const grace = privacy?.retireGraceSeconds ?? Number(raw.retireGraceSeconds);
  if (Number.isInteger(grace) && grace <= MATCH_TIMEOUT_SECONDS) {
    problems.push(
      line(
        'retireGraceSeconds',
        `must be more than the match timeout (${MATCH_TIMEOUT_SECONDS} seconds), or a running match could lose the segment version it pinned (got ${grace})`,
      ),
    );
  }

  if (problems.length > 0 || !privacy || !operations.success) {
    throw new DeployContextError(`Invalid deploy-time context:\n${problems.join('\n')}`);
  }
  return { ...privacy, ...operations.data };
}

/** Reads the whole deploy context of a construct tree (the App's context, cdk.json and `-c`). */
export function readDeployment(scope: IConstruct): Deployment {
  return parseDeployment(scope.node.getAllContext() as Record<string, unknown>);
}

/** The function environment of every deploy setting, named as RuntimeConfigSchema reads them. */
export function deploymentEnvironment(d: Deployment): Record<string, string> {
  return { ...privacyEnvironment(d), MAX_RUNNING_MATCHES: String(d.maxRunningMatchesPerTenant) };
}

/** The value of one setting by its context key (privacy settings live under `privacy`). */
export function settingOf(d: Deployment, key: string): unknown {
  const name = (Object.keys(PRIVACY_SETTINGS) as PrivacySettingName[]).find(
    (n) => PRIVACY_SETTINGS[n].context === key,
  );
  return name ? d.privacy[name] : (d as unknown as Record<string, unknown>)[key];
}

/** Stack names of one stage; export names derive from them. */
export function stackNames(stage: string): { stateful: string; stateless: string } {
  return {
    stateful: `AudienceOnboarding-${stage}-Stateful`,
    stateless: `AudienceOnboarding-${stage}-Stateless`,
  };
}
