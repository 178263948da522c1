/**
 * Everything that can be deleted and redeployed without losing data: the functions, the HTTP API,
 * the match and ingest state machines, the S3 triggers, the dead-letter queues and the alarms. It reads the
 * stateful stack through its named exports (StatefulStack.importRefs).
 */
import { CfnOutput, Duration, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpUserPoolAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { ROUTES } from '../shared/api/routes.ts';
import {
  ASYNC_ATTEMPTS,
  FUNCTION_TIMEOUT_SECONDS,
  INGEST_TIMEOUT_SECONDS,
  MATCH_TIMEOUT_SECONDS,
  TRIGGERS,
} from '../shared/infra/definitions.ts';
import { HouseFunction } from './constructs/house-function.ts';
import { WebConsole } from './constructs/web-console.ts';
import { type Deployment, deploymentEnvironment } from './deploy-context.ts';
import { handlerEntry, type LambdaHandlerName, REPO_ROOT } from './handlers.ts';
import { acknowledge, acknowledgeWildcardResource, acknowledgeWildcardResourcesIn } from './nag.ts';
import { type StatefulRefs, StatefulStack } from './stateful-stack.ts';

/**
 * Errors of a Lambda invoke that say nothing about the function's own work: throttling (the
 * account's or the function's concurrency is exhausted) and the Lambda service failing or being
 * unreachable. The match state machine retries them with exponential backoff and jitter.
 */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
] as const;

/** Name prefix CloudWatch Logs requires of a Step Functions log group for its resource policy. */
export const VENDED_LOGS_PREFIX = '/aws/vendedlogs/states/';

export interface StatelessStackProps extends StackProps {
  readonly deploy: Deployment;
  /** Name of the deployed stateful stack whose exports this stack imports. */
  readonly statefulStackName: string;
  /** Where the handler files live (default: lambdas/ at the repository root). */
  readonly handlersDir?: string;
}

/**
 * The HTTP API's routes, read from the route table the router and the OpenAPI document use
 * (shared/api/routes.ts), so a new route cannot ship without its API Gateway route. A route
 * without roles is public; the OpenAPI document is served by the handler itself.
 */
export const PUBLIC_ROUTES: readonly string[] = [
  ...ROUTES.filter((r) => r.roles === undefined).map((r) => `${r.method} ${r.path}`),
  'GET /v1/openapi.json',
];

/** Every other route carries the Cognito JWT authorizer (the handler checks the role claim). */
export const AUTHORIZED_ROUTES: readonly string[] = ROUTES.filter((r) => r.roles !== undefined).map(
  (r) => `${r.method} ${r.path}`,
);

export class StatelessStack extends Stack {
  readonly functions: Record<LambdaHandlerName, HouseFunction>;
  readonly api: apigwv2.HttpApi;
  readonly apiStage: apigwv2.HttpStage;
  readonly stateMachine: sfn.StateMachine;
  readonly ingestStateMachine: sfn.StateMachine;
  readonly maintenanceSchedule: events.Rule;
  readonly deadLetterQueues: sqs.Queue[] = [];
  readonly alarmTopic: sns.Topic;
  readonly webConsole: WebConsole;

  constructor(scope: Construct, id: string, props: StatelessStackProps) {
    super(scope, id, props);
    const { deploy } = props;
    const refs = StatefulStack.importRefs(this, props.statefulStackName);
    this.alarmTopic = this.buildAlarmTopic(deploy);

    // RuntimeConfigSchema requires every table and bucket name in every function; a name is not a
    // permission, the bind helpers below grant what each function actually does.
    const baseEnvironment: Record<string, string> = { ...deploymentEnvironment(deploy) };
    for (const ref of Object.values(refs.tables)) baseEnvironment[ref.definition.env] = ref.table.tableName;
    for (const ref of Object.values(refs.buckets))
      baseEnvironment[ref.definition.env] = ref.bucket.bucketName;

    const fn = (
      name: LambdaHandlerName,
      description: string,
      extra: Partial<ConstructorParameters<typeof HouseFunction>[2]> = {},
    ) =>
      new HouseFunction(this, `${pascal(name)}Function`, {
        entry: handlerEntry(name, props.handlersDir),
        projectRoot: REPO_ROOT,
        description,
        environment: baseEnvironment,
        ...extra,
      });

    const { audiences, jobs, ledger } = refs.tables;
    const { uploads, partnerDrops, results } = refs.buckets;

    // --- Match pipeline (Step Functions tasks) -------------------------------------------------
    // Grants follow the use cases call by call (shared/use-cases/match-pipeline.ts). failMatch runs
    // in split (its catch) and in reduce: it marks the job FAILED, deletes the match's shards/
    // (list, then delete) and writes a refusal to the Ledger's audit trail.
    const matchSplit = fn('match-split', 'Splits a hashed list into hash-prefix shards', {
      memorySize: 2048,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['match-split']),
    })
      // Streams the hashed list; ListBucket turns a missing list into 404 (not-found) instead of 403.
      .bindBucket(uploads, ['get', 'list'], 'lists/')
      // Writes the shards; failMatch lists and deletes them.
      .bindBucket(results, ['put', 'list', 'delete'], 'shards/')
      .bindTable(jobs, 'readWrite')
      // failMatch: the match-refused audit entry (PutItem only; nothing read).
      .bindTable(ledger, 'write');
    const matchShard = fn('match-shard', 'Matches one shard against the partner audiences', {
      memorySize: 2048,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['match-shard']),
    })
      // Reads its shard and deletes it once the tally is written.
      .bindBucket(results, ['get', 'delete', 'list'], 'shards/')
      // Its tally (true counts and the shard's list fingerprint; nothing per person).
      .bindBucket(results, 'put', 'tallies/')
      // The partner's membership filter, pinned with the snapshot (reads it surely need not make).
      .bindBucket(results, ['get', 'list'], 'filters/')
      .bindTable(audiences, 'read')
      // loadMatch and the shardDone counter.
      .bindTable(jobs, 'readWrite')
      .bindSecret(refs.pepper);
    const matchReduce = fn(
      'match-reduce',
      'Adds shard tallies, applies the privacy rules, writes the result',
      {
        memorySize: 1024,
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['match-reduce']),
      },
    )
      .bindBucket(results, ['get', 'list', 'delete'], 'tallies/')
      // failMatch sweeps the match's remaining shards.
      .bindBucket(results, ['list', 'delete'], 'shards/')
      .bindBucket(results, 'put', 'results/')
      // The match, and an earlier match's result on a replay.
      .bindTable(jobs, 'readWrite')
      // Budget spends and refunds (conditional updates, reads), audit entries, the release index.
      .bindTable(ledger, 'readWrite');

    this.stateMachine = this.buildMatchStateMachine(refs, deploy, matchSplit, matchShard, matchReduce);

    // --- Asynchronously invoked functions (retried, then dead-lettered) ------------------------
    const dlq = (name: string) => {
      const queue = new sqs.Queue(this, `${name}Dlq`, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        removalPolicy: RemovalPolicy.DESTROY,
      });
      this.deadLetterQueues.push(queue);
      acknowledge(
        queue,
        'Serverless-SQSRedrivePolicy',
        `${name}Dlq is itself a dead-letter queue, the end of the line for events that failed every retry; its depth is alarmed and an operator redrives it by hand.`,
      );
      return queue;
    };
    const listUpload = fn('list-upload', 'Hashes a raw list server-side and deletes the raw object', {
      memorySize: 2048,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['list-upload']),
      deadLetterQueue: dlq('ListUpload'),
      retryAttempts: ASYNC_ATTEMPTS - 1,
      maxEventAge: Duration.hours(6),
    })
      .bindBucket(uploads, ['get', 'delete', 'list'], TRIGGERS.rawListPrefix)
      .bindBucket(uploads, 'put', 'lists/')
      .bindTable(jobs, 'readWrite');
    // --- Partner ingest: planned here, then the ingest state machine (shared/use-cases/ingest-*.ts) ---
    // The steps after the plan: split ranges, people units and identifier parts (Distributed Map
    // items), the join, the gate, finish and fail. The split reads the drop by byte ranges and the
    // join deletes it; they merge member items, write manifests and filters under the catalog's key
    // id, sweep retired versions and keys (the whole manifests/ prefix), and publish the catalog
    // sizes; each ends the ingest when it is its last (drop and work files deleted, lock released).
    const ingestStep = fn('ingest-step', 'Runs one step of a partner ingest after its plan', {
      memorySize: 2048,
      // A split range spills its people records (about half its bytes; ranges grow past 256 MiB
      // only for files over 16 GiB, MAX_RANGES) before writing them as one object.
      ephemeralStorageSize: Size.gibibytes(4),
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS['ingest-step']),
    })
      .bindBucket(results, ['get', 'put', 'delete', 'list'], ['manifests/', 'filters/', 'ingest/'])
      .bindBucket(partnerDrops, ['get', 'delete'], TRIGGERS.partnerDropPrefix)
      .bindTable(audiences, 'readWrite')
      .bindTable(jobs, 'readWrite')
      // Published catalog sizes: the catalog budget spend (conditional updates, reads) and its audit entry.
      .bindTable(ledger, 'readWrite')
      .bindSecret(refs.pepper);
    this.ingestStateMachine = this.buildIngestStateMachine(deploy, ingestStep);
    // The S3 event: the upload marked INGESTING, the partner lock taken, the drop's header read and
    // its data cut into byte ranges at line starts (a few small ranged reads), the plan written
    // (ingest/), the state machine started. A plan that fails ends the ingest here (drop and work
    // files deleted, lock released).
    const ingest = fn('ingest', 'Plans a partner audience drop and starts its ingest state machine', {
      memorySize: 2048,
      timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.ingest),
      deadLetterQueue: dlq('Ingest'),
      retryAttempts: ASYNC_ATTEMPTS - 1,
      maxEventAge: Duration.hours(6),
    })
      .bindBucket(partnerDrops, ['get', 'delete', 'list'], TRIGGERS.partnerDropPrefix)
      .bindBucket(results, ['get', 'put', 'delete', 'list'], 'ingest/')
      // The catalog (profile, key id, versions) and the partner lock.
      .bindTable(audiences, 'readWrite')
      .bindTable(jobs, 'readWrite')
      // A partner's first ingest takes the pepper's current key id.
      .bindSecret(refs.pepper)
      .bindStateMachine(this.ingestStateMachine, 'INGEST_STATE_MACHINE_ARN');

    // --- Maintenance: re-keying after a pepper rotation, hourly sweeps (asynchronous) ------------
    // shared/use-cases/rotate-pepper.ts: partner locks, catalogs and member items in Audiences
    // (read, copied under the new key id, deleted under the retired one), manifests read under the
    // old key id and written under the new one, swept manifests deleted.
    const maintenance = fn(
      'maintenance',
      'Re-keys partners after a pepper rotation; sweeps retired versions',
      {
        memorySize: 2048,
        timeout: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.maintenance),
        deadLetterQueue: dlq('Maintenance'),
        // Re-keying, sweeps and recovery are idempotent and take the partner lock: a retry is safe.
        retryAttempts: ASYNC_ATTEMPTS - 1,
        maxEventAge: Duration.hours(6),
      },
    )
      .bindBucket(results, ['get', 'put', 'delete', 'list'], ['manifests/', 'filters/', 'ingest/'])
      .bindTable(audiences, 'readWrite')
      .bindSecret(refs.pepper)
      // Recovery (shared/use-cases/recover-jobs.ts), in every sweep: the Jobs records in flight
      // (a Scan, below), raw lists hashed again or deleted with their partial hashed list, drops
      // ingested at last (what ingest may do) or deleted, the shards, tallies and unreleased result
      // files of dead matches deleted.
      .bindTable(jobs, 'readWrite')
      .bindBucket(uploads, ['get', 'delete', 'list'], TRIGGERS.rawListPrefix)
      .bindBucket(uploads, ['get', 'put', 'delete', 'list'], 'lists/')
      .bindBucket(partnerDrops, ['get', 'delete', 'list'], TRIGGERS.partnerDropPrefix)
      .bindBucket(results, ['list', 'delete'], ['shards/', 'tallies/', 'results/'])
      // A drop ingested at last publishes its catalog sizes (the catalog budget and its audit entry)...
      .bindTable(ledger, 'readWrite')
      // ... after its plan, through the ingest state machine.
      .bindStateMachine(this.ingestStateMachine, 'INGEST_STATE_MACHINE_ARN');
    maintenance.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [jobs.table.tableArn] }),
    );
    const scheduleDlq = dlq('MaintenanceSchedule');
    acknowledge(
      scheduleDlq,
      'AwsSolutions-SQS3',
      "MaintenanceScheduleDlq is the dead-letter queue of the hourly schedule's EventBridge target (cdk-nag recognises only Lambda and SQS redrive DLQs); its depth is alarmed.",
    );
    this.maintenanceSchedule = new events.Rule(this, 'MaintenanceSchedule', {
      description:
        'Hourly sweep: recovery of interrupted jobs, retired segment versions and pepper keys past their grace period, retention of lists and matches',
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [
        new eventsTargets.LambdaFunction(maintenance, {
          event: events.RuleTargetInput.fromObject({ action: 'sweep' }),
          // The next run is an hour away: a delivery older than that is pointless.
          maxEventAge: Duration.hours(1),
          retryAttempts: 2,
          // A schedule that could not invoke the function at all leaves its event here (alarmed).
          deadLetterQueue: scheduleDlq,
        }),
      ],
    });

    // Notifications on imported buckets: the notification custom resource lives in this stack,
    // so the stateful stack never depends on the stateless one.
    uploads.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(listUpload), {
      prefix: TRIGGERS.rawListPrefix,
    });
    partnerDrops.bucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(ingest), {
      prefix: TRIGGERS.partnerDropPrefix,
    });
    this.acknowledgeNotificationsHandler();

    // --- HTTP API ------------------------------------------------------------------------------
    const api = fn('api', 'HTTP API /v1', { memorySize: 1024, timeout: Duration.seconds(29) })
      .bindTable(jobs, 'readWrite')
      // Budget and audit reads; the operator's grants (conditional updates), deletion audit
      // entries and forgetting a deleted match's release entry. Matches are charged by match-reduce.
      .bindTable(ledger, 'readWrite')
      // Partner erasure and segment deletion: member items, the catalog and the partner lock.
      .bindTable(audiences, 'readWrite')
      // ... and the segment manifests they prune (erasure) or sweep (a deleted segment).
      .bindBucket(results, ['get', 'put', 'delete'], 'manifests/')
      // Presigned uploads, and DELETE /v1/lists/{id} removes both objects of a list.
      .bindBucket(uploads, ['put', 'delete'], ['lists/', TRIGGERS.rawListPrefix])
      // HeadObject: has the hashed list been uploaded before a match starts?
      .bindBucket(uploads, ['get', 'list'], 'lists/')
      .bindBucket(partnerDrops, 'put', TRIGGERS.partnerDropPrefix)
      .bindBucket(results, 'get', 'results/')
      // DELETE /v1/matches/{id}: every format of the result, and leftovers of a crashed run.
      .bindBucket(results, ['list', 'delete'], ['results/', 'shards/', 'tallies/'])
      // POST /v1/admin/pepper/rekey reads the ring's current key id (fresh) before starting re-keying.
      .bindSecret(refs.pepper)
      .bindStateMachine(this.stateMachine)
      // ... and invokes the maintenance function asynchronously (InvocationType Event).
      .bindFunction(maintenance);

    this.functions = {
      api,
      'list-upload': listUpload,
      ingest,
      'ingest-step': ingestStep,
      'match-split': matchSplit,
      'match-shard': matchShard,
      'match-reduce': matchReduce,
      maintenance,
    };

    this.webConsole = new WebConsole(this, 'WebConsole', {
      userPool: refs.userPool,
      domainPrefix: this.node.tryGetContext('consoleDomainPrefix'),
    });
    const { httpApi, stage } = this.buildHttpApi(refs, api, this.webConsole);
    this.api = httpApi;
    this.apiStage = stage;

    // --- Alarms --------------------------------------------------------------------------------
    for (const f of Object.values(this.functions)) f.addStandardAlarms();
    for (const queue of this.deadLetterQueues) {
      queue
        .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' })
        .createAlarm(queue, 'DepthAlarm', {
          alarmDescription: `${queue.node.id} holds events that failed every retry`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        });
    }
    [
      this.stateMachine
        .metricFailed({ period: Duration.minutes(5), statistic: 'Sum' })
        .createAlarm(this, 'MatchFailedAlarm', {
          alarmDescription: 'A match execution failed (the job was marked FAILED)',
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      this.ingestStateMachine
        .metricFailed({ period: Duration.minutes(5), statistic: 'Sum' })
        .createAlarm(this, 'IngestFailedAlarm', {
          alarmDescription:
            'An ingest execution failed (a step failed after its retries: the ingest was marked FAILED)',
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      this.ingestStateMachine
        .metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' })
        .createAlarm(this, 'IngestTimedOutAlarm', {
          alarmDescription:
            'An ingest execution timed out (recovery ends the ingest once its record is stale)',
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      this.stateMachine
        .metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' })
        .createAlarm(this, 'MatchTimedOutAlarm', {
          alarmDescription: 'A match execution timed out',
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'FailedInvocations',
        dimensionsMap: { RuleName: this.maintenanceSchedule.ruleName },
        period: Duration.minutes(5),
        statistic: 'Sum',
      }).createAlarm(this, 'MaintenanceScheduleFailedAlarm', {
        alarmDescription: 'The hourly maintenance schedule could not invoke the maintenance function',
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      httpApi
        .metricServerError({ period: Duration.minutes(5), statistic: 'Sum' })
        .createAlarm(this, 'Api5xxAlarm', {
          alarmDescription: 'The HTTP API returned 5xx responses',
          threshold: 5,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    ];
    this.notifyEveryAlarm(deploy);

    new CfnOutput(this, 'ApiUrl', { value: stage.url, description: 'HTTP API base URL (append v1/...)' });
    new CfnOutput(this, 'MatchStateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'IngestStateMachineArn', { value: this.ingestStateMachine.stateMachineArn });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.alarmTopic.topicArn,
      description: 'Every alarm notifies this topic (subscribe with -c alarmEmail=... or in SNS)',
    });
    new CfnOutput(this, 'MaintenanceFunctionName', {
      value: maintenance.functionName,
      description: 'Re-keying and sweeps (hourly schedule; invoke with {"action":"sweep"} to sweep now)',
    });
    new CfnOutput(this, 'UserPoolId', {
      value: refs.userPool.userPoolId,
      description: 'Cognito user pool id',
    });
    new CfnOutput(this, 'UserPoolClientId', { value: refs.userPoolClient.userPoolClientId });
    for (const ref of Object.values(refs.buckets)) {
      new CfnOutput(this, `${ref.definition.id}BucketName`, { value: ref.bucket.bucketName });
    }
  }

  /**
   * split -> Distributed Map over the shard numbers split returns -> reduce, all inside one
   * Parallel whose Catch marks the job FAILED straight in DynamoDB (no Lambda needed to fail).
   *
   * Items come from split's `shards` array rather than an S3 ItemReader listing shards/{matchId}/:
   * at most 256 shard numbers fit easily in the state payload; the set is exactly what split
   * wrote in this execution (a listing could pick up leftovers of an earlier, retried run); and
   * the state machine role needs no s3:ListBucket on the results bucket.
   */
  private buildMatchStateMachine(
    refs: StatefulRefs,
    deploy: Deployment,
    split: HouseFunction,
    shard: HouseFunction,
    reduce: HouseFunction,
  ): sfn.StateMachine {
    // Every task of a match gets the match's own key, read from the execution's state.
    const matchJob = {
      tenantId: sfn.JsonPath.stringAt('$.tenantId'),
      matchId: sfn.JsonPath.stringAt('$.matchId'),
    };
    const splitTask = new tasks.LambdaInvoke(this, 'SplitList', {
      lambdaFunction: split,
      payload: sfn.TaskInput.fromObject(matchJob),
      // -> { tenantId, matchId, shards: number[] }
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    retryTransientLambdaErrors(splitTask);

    const shardTask = new tasks.LambdaInvoke(this, 'MatchOneShard', {
      lambdaFunction: shard,
      payload: sfn.TaskInput.fromObject({ ...matchJob, shard: sfn.JsonPath.numberAt('$.shard') }),
      // The tally is in S3 (tallies/{matchId}/NNN.json); nothing comes back through the map.
      resultPath: sfn.JsonPath.DISCARD,
      retryOnServiceExceptions: false,
    });
    // Shard steps are idempotent, so a throttled or lost invoke is simply run again.
    retryTransientLambdaErrors(shardTask);
    const shardMap = new sfn.DistributedMap(this, 'Shards', {
      itemsPath: '$.shards',
      itemSelector: { ...matchJob, shard: sfn.JsonPath.numberAt('$$.Map.Item.Value') },
      maxConcurrency: deploy.maxShardConcurrency,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      resultPath: sfn.JsonPath.DISCARD,
      label: 'Shards',
    });
    shardMap.itemProcessor(shardTask);

    const reduceTask = new tasks.LambdaInvoke(this, 'ReduceTallies', {
      lambdaFunction: reduce,
      payload: sfn.TaskInput.fromObject(matchJob),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    retryTransientLambdaErrors(reduceTask);

    const markFailed = new tasks.DynamoUpdateItem(this, 'MarkJobFailed', {
      table: refs.tables.jobs.table,
      key: {
        pk: tasks.DynamoAttributeValue.fromString(
          sfn.JsonPath.format('tenant#{}', sfn.JsonPath.stringAt('$.tenantId')),
        ),
        sk: tasks.DynamoAttributeValue.fromString(
          sfn.JsonPath.format('match#{}', sfn.JsonPath.stringAt('$.matchId')),
        ),
      },
      // The job store keeps the job under `record`. Only a job still in flight is marked: one that
      // split or reduce already failed (with its own code) or released stays as it is.
      conditionExpression: 'attribute_exists(pk) AND #record.#status IN (:queued, :running)',
      updateExpression: 'SET #record.#status = :failed, #record.errorCode = :code, #record.updatedAt = :now',
      expressionAttributeNames: { '#record': 'record', '#status': 'status' },
      expressionAttributeValues: {
        ':failed': tasks.DynamoAttributeValue.fromString('FAILED'),
        ':queued': tasks.DynamoAttributeValue.fromString('QUEUED'),
        ':running': tasks.DynamoAttributeValue.fromString('RUNNING'),
        ':code': tasks.DynamoAttributeValue.fromString('match-failed'),
        ':now': tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt('$$.State.EnteredTime')),
      },
      resultPath: sfn.JsonPath.DISCARD,
    });

    const flow = new sfn.Parallel(this, 'Match', { resultPath: sfn.JsonPath.DISCARD });
    flow.branch(splitTask.next(shardMap).next(reduceTask));
    flow.addCatch(
      markFailed.next(new sfn.Fail(this, 'MatchFailed', { error: 'MatchFailed', cause: 'match-failed' })),
      {
        errors: ['States.ALL'],
        resultPath: '$.error',
      },
    );

    const logGroup = new logs.LogGroup(this, 'MatchStateMachineLogs', {
      // Under the vended-logs prefix, CloudWatch Logs' resource policy for Step Functions delivery
      // stays small however many state machines log; the stack name keeps stages apart.
      logGroupName: `${VENDED_LOGS_PREFIX}${this.stackName}/match`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stateMachine = new sfn.StateMachine(this, 'MatchStateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(flow.next(new sfn.Succeed(this, 'MatchSucceeded'))),
      timeout: Duration.seconds(MATCH_TIMEOUT_SECONDS),
      tracingEnabled: true,
      // ALL events, but no execution data: payloads are ids only, yet error causes are free text.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });

    // The Jobs table is encrypted with the customer-managed key: UpdateItem needs the key, via DynamoDB only.
    stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [refs.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${this.region}.amazonaws.com` } },
      }),
    );

    acknowledgeStateMachine(stateMachine, [split, shard, reduce]);
    return stateMachine;
  }

  /**
   * The steps of a partner ingest after its plan (which the ingest function makes before starting
   * this): a Distributed Map over the drop's byte ranges (the split), the join (the whole file's rows
   * and rejections, the people units, the drop deleted), a Distributed Map over the people units,
   * the gate on the whole file's counts
   * (which ends a refused file or a dry run), a Distributed Map over the identifier parts the gate
   * returns, and finish (publish once, flip the catalog in one conditional write, end the ingest),
   * inside one Parallel whose Catch runs the fail step: the ingest FAILED with the step's error code,
   * its work files deleted, its lock released; the live versions were never touched. Every step is
   * idempotent, so throttled or lost invokes are simply run again.
   */
  private buildIngestStateMachine(deploy: Deployment, step: HouseFunction): sfn.StateMachine {
    const job = {
      partnerId: sfn.JsonPath.stringAt('$.partnerId'),
      audienceId: sfn.JsonPath.stringAt('$.audienceId'),
    };
    const task = (
      id: string,
      payload: Record<string, unknown>,
      extra: Partial<tasks.LambdaInvokeProps> = {},
    ) => {
      const t = new tasks.LambdaInvoke(this, id, {
        lambdaFunction: step,
        payload: sfn.TaskInput.fromObject(payload),
        resultPath: sfn.JsonPath.DISCARD,
        retryOnServiceExceptions: false,
        ...extra,
      });
      retryTransientLambdaErrors(t);
      return t;
    };
    const map = (id: string, itemsPath: string, itemStep: 'split' | 'people' | 'identifiers') => {
      const m = new sfn.DistributedMap(this, id, {
        itemsPath,
        itemSelector: { ...job, item: sfn.JsonPath.numberAt('$$.Map.Item.Value') },
        maxConcurrency: deploy.maxShardConcurrency,
        mapExecutionType: sfn.StateMachineType.STANDARD,
        resultPath: sfn.JsonPath.DISCARD,
        label: id,
      });
      // Counts and runs go to S3 (ingest/); nothing comes back through the map.
      m.itemProcessor(task(`${id}Item`, { ...job, step: itemStep, item: sfn.JsonPath.numberAt('$.item') }));
      return m;
    };
    const gate = task(
      'IngestGate',
      { ...job, step: 'gate' },
      {
        // -> { done, parts }: done when the gate ended the ingest (a refused file, a dry run).
        resultSelector: { 'done.$': '$.Payload.done', 'parts.$': '$.Payload.parts' },
        resultPath: '$.gate',
      },
    );
    const join = task(
      'IngestJoin',
      { ...job, step: 'join' },
      // -> { units }: the people units to map over.
      { resultSelector: { 'units.$': '$.Payload.units' }, resultPath: '$.join' },
    );
    const finish = task('IngestFinish', { ...job, step: 'finish' });
    const fail = task('IngestFail', { ...job, step: 'fail', error: sfn.JsonPath.objectAt('$.error') });

    const flow = new sfn.Parallel(this, 'Ingest', { resultPath: sfn.JsonPath.DISCARD });
    flow.branch(
      map('SplitRanges', '$.ranges', 'split')
        .next(join)
        .next(map('PeopleUnits', '$.join.units', 'people'))
        .next(gate)
        .next(
          new sfn.Choice(this, 'GateEndedIngest')
            .when(
              sfn.Condition.booleanEquals('$.gate.done', true),
              new sfn.Succeed(this, 'IngestEndedAtGate'),
            )
            .otherwise(map('IdentifierParts', '$.gate.parts', 'identifiers').next(finish)),
        ),
    );
    flow.addCatch(
      fail.next(new sfn.Fail(this, 'IngestFailed', { error: 'IngestFailed', cause: 'ingest-failed' })),
      { errors: ['States.ALL'], resultPath: '$.error' },
    );
    const logGroup = new logs.LogGroup(this, 'IngestStateMachineLogs', {
      logGroupName: `${VENDED_LOGS_PREFIX}${this.stackName}/ingest`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stateMachine = new sfn.StateMachine(this, 'IngestStateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(flow.next(new sfn.Succeed(this, 'IngestSucceeded'))),
      // Stopped at its timeout (no Catch runs then): recovery ends the ingest once its record is stale.
      timeout: Duration.seconds(INGEST_TIMEOUT_SECONDS),
      tracingEnabled: true,
      // ALL events, but no execution data: payloads are ids only, yet error causes are free text.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    acknowledgeStateMachine(stateMachine, [step]);
    return stateMachine;
  }

  private buildHttpApi(
    refs: StatefulRefs,
    handler: HouseFunction,
    webConsole: WebConsole,
  ): { httpApi: apigwv2.HttpApi; stage: apigwv2.HttpStage } {
    const authorizer = new HttpUserPoolAuthorizer('CognitoAuthorizer', refs.userPool, {
      userPoolClients: [refs.userPoolClient, webConsole.client],
      identitySource: ['$request.header.Authorization'],
    });
    const httpApi = new apigwv2.HttpApi(this, 'Api', {
      description: 'Privacy-safe audience onboarding /v1',
      createDefaultStage: false,
      defaultAuthorizer: authorizer,
      // The web console calls from its CloudFront origin: that origin only, bearer tokens, no cookies.
      corsPreflight: {
        allowOrigins: [webConsole.origin],
        allowMethods: [apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST],
        allowHeaders: ['authorization', 'content-type'],
        maxAge: Duration.minutes(10),
      },
    });
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        // Request metadata only: no query strings, bodies or tokens.
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.responseLatency',
            integrationLatencyMs: '$context.integrationLatency',
            sourceIp: '$context.identity.sourceIp',
            authorizerError: '$context.authorizer.error',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const integration = new HttpLambdaIntegration('ApiIntegration', handler);
    const route = (routeKey: string, authorizer?: apigwv2.IHttpRouteAuthorizer) => {
      const [method, path] = routeKey.split(' ') as [string, string];
      return httpApi.addRoutes({
        path,
        methods: [method as apigwv2.HttpMethod],
        integration,
        ...(authorizer ? { authorizer } : {}),
      });
    };
    for (const routeKey of AUTHORIZED_ROUTES) route(routeKey);
    for (const routeKey of PUBLIC_ROUTES) {
      for (const r of route(routeKey, new apigwv2.HttpNoneAuthorizer())) {
        acknowledge(
          r,
          'AwsSolutions-APIG4',
          `${routeKey} is public by design: a liveness probe or the OpenAPI document, serving no tenant data.`,
        );
      }
    }
    return { httpApi, stage };
  }

  /**
   * The topic every alarm notifies: encrypted with its own KMS key (CloudWatch may use it to
   * publish), TLS-only, with the operator's e-mail subscribed when `alarmEmail` is set.
   */
  private buildAlarmTopic(deploy: Deployment): sns.Topic {
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Audience onboarding: alarm notifications',
      enableKeyRotation: true,
      pendingWindow: Duration.days(7),
      // Encrypts only notifications in transit through SNS: nothing at rest outlives the stack.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Audience onboarding (${deploy.stage}) alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsOnly',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    if (deploy.alarmEmail) {
      const subscription = topic.addSubscription(new snsSubscriptions.EmailSubscription(deploy.alarmEmail));
      acknowledge(
        subscription,
        'Serverless-SNSRedrivePolicy',
        'An e-mail notification that SNS cannot deliver after its retries would land in a dead-letter queue whose only alarm notifies this same topic; the alarm itself stays in ALARM in CloudWatch, where the operator sees it.',
      );
    }
    return topic;
  }

  /** Every alarm of the stack notifies the alarm topic (and the existing `alarmTopicArn`, if set). */
  private notifyEveryAlarm(deploy: Deployment): void {
    const actions: cloudwatch.IAlarmAction[] = [new cwActions.SnsAction(this.alarmTopic)];
    if (deploy.alarmTopicArn) {
      actions.push(
        new cwActions.SnsAction(sns.Topic.fromTopicArn(this, 'ExistingAlarmTopic', deploy.alarmTopicArn)),
      );
    }
    for (const c of this.node.findAll()) {
      if (c instanceof cloudwatch.Alarm) c.addAlarmAction(...actions);
    }
  }

  /** The CDK-provided handler that writes bucket notification configurations. */
  private acknowledgeNotificationsHandler(): void {
    const handler = this.node.tryFindChild('BucketNotificationsHandler050a0587b7544547bf325f094a3db834');
    if (!handler) throw new Error('the CDK bucket-notifications handler moved: update its acknowledgement');
    acknowledge(
      handler,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "CDK's own bucket-notifications custom resource handler (not configurable) uses the basic execution policy for its logs; it runs only at deploy time and its S3 grants are limited to the two trigger buckets.",
    );
  }
}

/** Throttling and Lambda service errors, retried: 2 s, then doubling, capped at a minute, with jitter. */
function retryTransientLambdaErrors(task: tasks.LambdaInvoke): void {
  task.addRetry({
    errors: [...LAMBDA_TRANSIENT_ERRORS],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.minutes(1),
    jitterStrategy: sfn.JitterType.FULL,
  });
}

/** cdk-nag acknowledgements every state machine of the stack needs. */
function acknowledgeStateMachine(stateMachine: sfn.StateMachine, functions: HouseFunction[]): void {
  for (const f of functions) {
    acknowledgeWildcardResource(
      stateMachine.role,
      `${f.functionArn}:*`,
      `Step Functions' LambdaInvoke grant covers the versions and aliases of ${f.node.id} (ARN:*); it is limited to that one function.`,
    );
  }
  // Distributed Map: start, describe and stop this state machine's own child executions.
  acknowledgeWildcardResourcesIn(
    stateMachine.node.findChild('DistributedMapPolicy'),
    /:states:.*:execution:/,
    'The Distributed Map runs each item (a shard, a people unit, an identifier part) as a child execution of this same state machine; execution ARNs are only known at run time, so they are named by the state machine name plus a wildcard.',
  );
  acknowledge(
    stateMachine.role,
    'AwsSolutions-IAM5[Resource::*]',
    'Only for CloudWatch Logs vended delivery (logs:CreateLogDelivery and friends) and X-Ray (PutTraceSegments, GetSamplingRules): these actions do not support resource-level permissions.',
  );
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}
