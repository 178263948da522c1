/**
 * Builds the CDK app: validates the deploy context, creates the stateful and stateless stacks and
 * registers cdk-nag. cdk/app.ts synthesizes it; the infra tests build it with bundling skipped.
 */
import { App, type AppProps } from 'aws-cdk-lib';
import { type Deployment, readDeployment, stackNames } from './deploy-context.ts';
import { applyNag } from './nag.ts';
import { StatefulStack } from './stateful-stack.ts';
import { StatelessStack } from './stateless-stack.ts';

/**
 * Feature flags this app relies on, set in code because `npm run synth` runs the app directly
 * with tsx (no cdk.json). Context from cdk.json or `-c` still takes precedence.
 */
export const FEATURE_FLAGS = {
  // Server access logs delivered through a bucket policy, not ACLs (buckets enforce bucket-owner ownership).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/core:enablePartitionLiterals': true,
} as const;

export interface BuildAppOptions {
  readonly context?: Record<string, unknown>;
  readonly outdir?: string;
  /** Register cdk-nag as a synth-time validation plugin (default true). */
  readonly nag?: boolean;
  /** Where the handler files live (default lambdas/). */
  readonly handlersDir?: string;
}

export interface OnboardingApp {
  readonly app: App;
  readonly deploy: Deployment;
  readonly stateful: StatefulStack;
  readonly stateless: StatelessStack;
}

export function buildApp(options: BuildAppOptions = {}): OnboardingApp {
  const props: AppProps = {
    context: { ...FEATURE_FLAGS, ...options.context },
    ...(options.outdir ? { outdir: options.outdir } : {}),
  };
  const app = new App(props);
  const deploy = readDeployment(app);
  const names = stackNames(deploy.stage);
  // Environment-agnostic unless the CLI provides an account and region: synth needs no credentials.
  const env =
    process.env.CDK_DEFAULT_ACCOUNT && process.env.CDK_DEFAULT_REGION
      ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION }
      : undefined;
  const tags = { service: 'audience-onboarding', stage: deploy.stage };

  const stateful = new StatefulStack(app, names.stateful, {
    deploy,
    env,
    tags,
    description: 'Audience onboarding: data at rest and identity (retained on delete)',
    terminationProtection: true,
  });
  const stateless = new StatelessStack(app, names.stateless, {
    deploy,
    env,
    tags,
    statefulStackName: stateful.stackName,
    handlersDir: options.handlersDir,
    description: 'Audience onboarding: functions, HTTP API, match state machine, alarms',
  });
  // The stateless stack imports the stateful exports by name, so the order is declared here.
  stateless.addStackDependency(stateful);

  if (options.nag ?? true) applyNag(app);
  return { app, deploy, stateful, stateless };
}
