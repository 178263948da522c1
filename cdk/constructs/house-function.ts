/**
 * The house-default Lambda function: Node 22 on ARM64, one ESM bundle per handler (minified, with
 * source maps), an explicit log group with retention, its own role with no managed policies, and
 * bind helpers that set the environment variable and grant least privilege in one call.
 *
 * Bundling choice: the AWS SDK v3 is bundled (no `@aws-sdk/*` externals). The Node 22 runtime
 * ships an SDK, but its version moves under us without a deploy; bundling pins the exact versions
 * the tests ran against (package-lock.json) and tree-shaking keeps each bundle under the 1 MB bar,
 * which test/infra/bundles.test.ts enforces.
 */
import { Duration, RemovalPolicy, type Size, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { BucketDefinition, TableDefinition } from '../../shared/infra/definitions.ts';
import { acknowledge, acknowledgeWildcardResource } from '../nag.ts';

/**
 * Lets CommonJS dependencies bundled into an ESM output call `require` (esbuild's `__require`
 * shim looks for a global one). Named import avoids clashing with bundled identifiers.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __houseCreateRequire } from 'node:module'; const require = __houseCreateRequire(import.meta.url);";

/** A tree-shakable `zod` for the bundles (cdk/bundling/zod-lean.ts). */
export const ZOD_LEAN_MODULE = './cdk/bundling/zod-lean.ts';
/** The Lambda credential chain (environment, container endpoint) for the bundles (cdk/bundling/lambda-credentials.ts). */
export const LAMBDA_CREDENTIALS_MODULE = './cdk/bundling/lambda-credentials.ts';

/**
 * The esbuild options of every house function, shared by the CDK construct, the bundle-size test
 * and the bundle benchmark so all three build the very same bytes.
 */
export const HOUSE_ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minify: true,
  sourcemap: true,
  // Stack traces need the map's positions, not the sources: a map without them is a fraction of
  // the size, so --enable-source-maps parses less at every cold start (and holds ~12 MB less).
  sourcesContent: false,
  mainFields: ['module', 'main'],
  banner: { js: ESM_REQUIRE_BANNER },
  charset: 'utf8',
  external: [] as string[],
  // Relative to the project root (esbuild's working directory); see the modules for why.
  alias: { zod: ZOD_LEAN_MODULE, '@aws-sdk/credential-provider-node': LAMBDA_CREDENTIALS_MODULE },
} as const;

export const HOUSE_RUNTIME = lambda.Runtime.NODEJS_22_X;
export const HOUSE_ARCHITECTURE = lambda.Architecture.ARM_64;

export interface HouseFunctionProps {
  /** The handler file (exports `handler`). */
  readonly entry: string;
  /** Repository root: esbuild's working directory (tsconfig, package.json `imports`). */
  readonly projectRoot: string;
  readonly description: string;
  /** Every variable RuntimeConfigSchema requires; bind helpers add to it. */
  readonly environment: Record<string, string>;
  readonly memorySize?: number;
  readonly timeout?: Duration;
  /** /tmp for spill files (default 512 MiB). */
  readonly ephemeralStorageSize?: Size;
  /** Optional cap; unset by default so a new account's small concurrency quota is not exhausted. */
  readonly reservedConcurrentExecutions?: number;
  readonly logRetention?: logs.RetentionDays;
  /** For asynchronously invoked functions: failed events land here after the retries. */
  readonly deadLetterQueue?: sqs.IQueue;
  readonly retryAttempts?: number;
  readonly maxEventAge?: Duration;
}

/** A table of the stateful stack, with the definition it was built from. */
export interface DataTable {
  readonly definition: TableDefinition;
  readonly table: dynamodb.ITable;
}

/** A bucket of the stateful stack, with the definition it was built from. */
export interface DataBucket {
  readonly definition: BucketDefinition;
  readonly bucket: s3.IBucket;
}

export type TableAccess = 'read' | 'write' | 'readWrite';
/** get = GetObject (and presigned GET), put = PutObject (and presigned PUT), list = ListBucket under the prefix. */
export type ObjectVerb = 'get' | 'put' | 'delete' | 'list';

const TABLE_READ = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
];
// Transactions are authorised per item through these same actions.
const TABLE_WRITE = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
];

export class HouseFunction extends nodejs.NodejsFunction {
  readonly houseLogGroup: logs.LogGroup;
  readonly houseRole: iam.Role;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    // The log group and the role are siblings: they must exist before super() runs.
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      // Function logs hold no personal data (docs/privacy.md, rule 7); the audit trail is in the Ledger table.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}: ${props.description}`,
    });
    // Instead of the AWSLambdaBasicExecutionRole managed policy (logs on every log group).
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );

    super(scope, id, {
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: `${props.projectRoot}/package-lock.json`,
      description: props.description,
      runtime: HOUSE_RUNTIME,
      architecture: HOUSE_ARCHITECTURE,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(30),
      ephemeralStorageSize: props.ephemeralStorageSize,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      // Stack traces through the external source maps (sourceMap alone does not turn them on).
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      logGroup,
      role,
      // X-Ray: each invocation's segments, joined to the state machine's and the SDK calls' traces.
      tracing: lambda.Tracing.ACTIVE,
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: HOUSE_ESBUILD_OPTIONS.target,
        minify: HOUSE_ESBUILD_OPTIONS.minify,
        sourceMap: HOUSE_ESBUILD_OPTIONS.sourcemap,
        sourceMapMode: nodejs.SourceMapMode.EXTERNAL,
        sourcesContent: HOUSE_ESBUILD_OPTIONS.sourcesContent,
        mainFields: [...HOUSE_ESBUILD_OPTIONS.mainFields],
        banner: ESM_REQUIRE_BANNER,
        charset: nodejs.Charset.UTF8,
        externalModules: [...HOUSE_ESBUILD_OPTIONS.external],
        esbuildArgs: Object.fromEntries(
          Object.entries(HOUSE_ESBUILD_OPTIONS.alias).map(([from, to]) => [`--alias:${from}`, to]),
        ),
      },
    });
    this.houseLogGroup = logGroup;
    this.houseRole = role;
    const runtimeReason =
      'Node.js 22 is the runtime the service is built and tested for; moving to Node 24 is a deliberate upgrade with its own test run, not a side effect of a CDK bump.';
    acknowledge(this, 'AwsSolutions-L1', runtimeReason);
    acknowledge(this, 'Serverless-LambdaLatestVersion', runtimeReason);
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      `Active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords of ${id} do not support resource-level permissions.`,
    );
    if (props.deadLetterQueue) {
      acknowledge(
        this,
        'Serverless-LambdaAsyncFailureDestination',
        `${id}'s failed asynchronous events go to its dead-letter queue (DeadLetterConfig), which is alarmed; an on-failure destination as well would deliver every failed event twice.`,
      );
    } else {
      acknowledge(
        this,
        'Serverless-LambdaDLQ',
        `${id} is only invoked synchronously (by API Gateway or by a Step Functions task, which retries and catches its errors): a dead-letter queue applies to asynchronous invocations only.`,
      );
    }
  }

  /** Sets the table's environment variable and grants item-level access, nothing table-wide. */
  bindTable(ref: DataTable, access: TableAccess): this {
    this.addEnvironment(ref.definition.env, ref.table.tableName);
    const actions = [...(access === 'write' ? [] : TABLE_READ), ...(access === 'read' ? [] : TABLE_WRITE)];
    this.houseRole.addToPolicy(
      new iam.PolicyStatement({ actions: [...new Set(actions)], resources: [ref.table.tableArn] }),
    );
    if (ref.table.encryptionKey) {
      this.grantKeyVia(
        ref.table.encryptionKey,
        'dynamodb',
        access === 'read'
          ? ['kms:Decrypt', 'kms:DescribeKey']
          : ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
      );
    }
    return this;
  }

  /**
   * Sets the bucket's environment variable and grants object access under the given prefixes only
   * (the whole bucket when no prefix is given).
   */
  bindBucket(
    ref: DataBucket,
    access: ObjectVerb | readonly ObjectVerb[],
    prefix?: string | readonly string[],
  ): this {
    this.addEnvironment(ref.definition.env, ref.bucket.bucketName);
    const verbs = new Set<ObjectVerb>(typeof access === 'string' ? [access] : access);
    const prefixes = prefix === undefined ? [''] : typeof prefix === 'string' ? [prefix] : [...prefix];
    const objectActions = [
      ...(verbs.has('get') ? ['s3:GetObject'] : []),
      ...(verbs.has('put') ? ['s3:PutObject'] : []),
      ...(verbs.has('delete') ? ['s3:DeleteObject'] : []),
    ];
    if (objectActions.length > 0) {
      const resources = prefixes.map((p) => ref.bucket.arnForObjects(`${p}*`));
      this.houseRole.addToPolicy(new iam.PolicyStatement({ actions: objectActions, resources }));
      for (const [i, resource] of resources.entries()) {
        const where = prefixes[i] ? `the ${prefixes[i]} prefix` : 'its own objects';
        acknowledgeWildcardResource(
          this.houseRole,
          resource,
          `${this.node.id} may ${objectActions.join(', ')} only under ${where} of the ${ref.definition.id} bucket; an S3 object ARN needs a trailing wildcard to name a key prefix.`,
        );
      }
    }
    if (verbs.has('list')) {
      // Without ListBucket a missing key reads as 403 instead of 404; scoped to the same prefixes.
      this.houseRole.addToPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [ref.bucket.bucketArn],
          ...(prefix === undefined
            ? {}
            : { conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } } }),
        }),
      );
    }
    if (ref.bucket.encryptionKey) {
      const keyActions = [
        ...(verbs.has('get') ? ['kms:Decrypt'] : []),
        // Multipart uploads (lib-storage) decrypt the data key again to complete the upload.
        ...(verbs.has('put') ? ['kms:GenerateDataKey', 'kms:Decrypt'] : []),
      ];
      if (keyActions.length > 0) this.grantKeyVia(ref.bucket.encryptionKey, 's3', keyActions);
    }
    return this;
  }

  /** Sets PEPPER_SECRET_ID (or another variable) and grants reading that one secret. */
  bindSecret(secret: secretsmanager.ISecret, env = 'PEPPER_SECRET_ID'): this {
    this.addEnvironment(env, secret.secretArn);
    this.houseRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
    );
    if (secret.encryptionKey) this.grantKeyVia(secret.encryptionKey, 'secretsmanager', ['kms:Decrypt']);
    return this;
  }

  /** Sets MATCH_STATE_MACHINE_ARN and grants starting executions of that state machine. */
  bindStateMachine(stateMachine: sfn.IStateMachine, env = 'MATCH_STATE_MACHINE_ARN'): this {
    this.addEnvironment(env, stateMachine.stateMachineArn);
    stateMachine.grantStartExecution(this);
    return this;
  }

  /**
   * Sets MAINTENANCE_FUNCTION_NAME (or another variable) to a function's name and grants
   * lambda:InvokeFunction on exactly that function: its unqualified ARN, no versions or aliases
   * (the runtime invokes it by name). Unlike `grantInvoke`, which adds `ARN:*`.
   */
  bindFunction(target: lambda.IFunction, env = 'MAINTENANCE_FUNCTION_NAME'): this {
    this.addEnvironment(env, target.functionName);
    this.houseRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [target.functionArn] }),
    );
    return this;
  }

  /** Errors and throttles, each alarming on any occurrence in five minutes. */
  addStandardAlarms(action?: cloudwatch.IAlarmAction): cloudwatch.Alarm[] {
    const alarms = [
      this.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }).createAlarm(this, 'ErrorsAlarm', {
        alarmDescription: `${this.node.id} returned errors`,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      this.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }).createAlarm(
        this,
        'ThrottlesAlarm',
        {
          alarmDescription: `${this.node.id} was throttled`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
      ),
    ];
    if (action) for (const alarm of alarms) alarm.addAlarmAction(action);
    return alarms;
  }

  /** Key use only through the named service, so the role cannot call KMS directly. */
  private grantKeyVia(key: kms.IKey, service: 'dynamodb' | 's3' | 'secretsmanager', actions: string[]): void {
    this.houseRole.addToPolicy(
      new iam.PolicyStatement({
        actions: [...new Set(actions)],
        resources: [key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `${service}.${Stack.of(this).region}.amazonaws.com` },
        },
      }),
    );
  }
}
