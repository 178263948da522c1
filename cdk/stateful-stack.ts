/**
 * Everything that holds data or identity, retained when the stack is deleted: the KMS key, the
 * buckets, the tables, the pepper and the Cognito user pool. Built from shared/infra/definitions.ts
 * so the names and keys are the ones the embedded stack uses.
 *
 * The stateless stack reads these through named exports (Fn::ImportValue) rather than automatic
 * cross-stack references: the exports are a stable, reviewable contract, and cdk-nag finding ids
 * computed from them are deterministic (see nag.ts).
 */
import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { BUCKETS, TABLES } from '../shared/infra/definitions.ts';
import type { DataBucket, DataTable } from './constructs/house-function.ts';
import { acknowledge } from './nag.ts';
import type { DeployContext } from './privacy-context.ts';
import { secureBucketProps, secureTableProps } from './secure-defaults.ts';

type TableKey = keyof typeof TABLES;
type BucketKey = keyof typeof BUCKETS;

/**
 * Prefixes of the results bucket holding one match's or one ingest's intermediate files (shards,
 * shard tallies, an ingest's people shards and identifier runs). The pipelines delete them when
 * the job ends; a 1-day expiry is the
 * backstop for an execution that died in between.
 */
export const INTERMEDIATE_PREFIXES = ['shards/', 'tallies/', 'ingest/'] as const;
/** Prefix of the released results, kept for the deploy's retentionDays. */
export const RESULTS_PREFIX = 'results/';
/**
 * Prefix of the ingest manifests (keyed member values of every live segment version). Never
 * expired by age: the catalog refers to them until a sweep deletes them.
 */
export const MANIFESTS_PREFIX = 'manifests/';

/** The export names of the stateful stack: the contract the stateless stack imports. */
export const statefulExport = {
  keyArn: (stack: string) => `${stack}-DataKeyArn`,
  pepperSecretArn: (stack: string) => `${stack}-PepperSecretArn`,
  userPoolId: (stack: string) => `${stack}-UserPoolId`,
  userPoolClientId: (stack: string) => `${stack}-UserPoolClientId`,
  tableName: (stack: string, key: TableKey) => `${stack}-${TABLES[key].id}TableName`,
  tableArn: (stack: string, key: TableKey) => `${stack}-${TABLES[key].id}TableArn`,
  bucketName: (stack: string, key: BucketKey) => `${stack}-${BUCKETS[key].id}BucketName`,
  bucketArn: (stack: string, key: BucketKey) => `${stack}-${BUCKETS[key].id}BucketArn`,
};

export interface StatefulStackProps extends StackProps {
  readonly deploy: DeployContext;
}

/** The stateful resources as seen from another stack. */
export interface StatefulRefs {
  readonly key: kms.IKey;
  readonly tables: Record<TableKey, DataTable>;
  readonly buckets: Record<BucketKey, DataBucket>;
  readonly pepper: secretsmanager.ISecret;
  readonly userPool: cognito.IUserPool;
  readonly userPoolClient: cognito.IUserPoolClient;
}

export class StatefulStack extends Stack {
  readonly key: kms.Key;
  readonly accessLogs: s3.Bucket;
  readonly buckets: Record<BucketKey, s3.Bucket>;
  readonly tables: Record<TableKey, dynamodb.Table>;
  readonly pepper: secretsmanager.Secret;
  readonly userPool: cognito.UserPool;
  readonly userPoolClient: cognito.UserPoolClient;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { deploy } = props;

    this.key = new kms.Key(this, 'DataKey', {
      description: 'Audience onboarding: tables, buckets and the pepper secret',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // S3 server access logging only delivers to SSE-S3 buckets, hence no KMS key here. cdk-nag
    // recognises it as the log destination of the other buckets (no S1 finding to acknowledge).
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', secureBucketProps({ expireAfterDays: 365 }));

    const dataBucket = (key: BucketKey, extra: Partial<Parameters<typeof secureBucketProps>[0]>) =>
      new s3.Bucket(
        this,
        BUCKETS[key].id,
        secureBucketProps({
          encryptionKey: this.key,
          serverAccessLogsBucket: this.accessLogs,
          serverAccessLogsPrefix: `${BUCKETS[key].id.toLowerCase()}/`,
          ...extra,
        }),
      );
    this.buckets = {
      uploads: dataBucket('uploads', { expireAfterDays: BUCKETS.uploads.expireAfterDays }),
      partnerDrops: dataBucket('partnerDrops', { expireAfterDays: BUCKETS.partnerDrops.expireAfterDays }),
      // The results are the product: versioned so an overwrite or delete can be undone in the retention window.
      results: dataBucket('results', {
        versioned: true,
        prefixExpirations: [
          // A backstop: the maintenance sweep deletes each match's files at the retention age.
          { prefix: RESULTS_PREFIX, days: deploy.retentionDays + 1 },
          ...INTERMEDIATE_PREFIXES.map((prefix) => ({ prefix, days: 1 })),
        ],
        // Swept manifests and overwritten objects stay recoverable for the retention window, then go.
        noncurrentVersionsExpireAfterDays: deploy.retentionDays,
        // ... except manifests: an erasure rewrites them, and the old version (keyed values of the
        // erased people) must not stay recoverable for weeks.
        noncurrentPrefixExpirations: [{ prefix: 'manifests/', days: 1 }],
      }),
    };

    this.tables = {
      audiences: new dynamodb.Table(
        this,
        TABLES.audiences.id,
        secureTableProps({ definition: TABLES.audiences, encryptionKey: this.key }),
      ),
      jobs: new dynamodb.Table(
        this,
        TABLES.jobs.id,
        secureTableProps({ definition: TABLES.jobs, encryptionKey: this.key }),
      ),
      ledger: new dynamodb.Table(
        this,
        TABLES.ledger.id,
        secureTableProps({ definition: TABLES.ledger, encryptionKey: this.key }),
      ),
    };

    // The pepper ring, generated by Secrets Manager so its value never appears in a template:
    // {"current":"k1","k1":"<44 base64-alphabet characters>"}.
    this.pepper = new secretsmanager.Secret(this, 'Pepper', {
      description: 'Pepper ring for HMAC-SHA256 of identifier digests at rest (docs/privacy.md, rule 6)',
      encryptionKey: this.key,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ current: 'k1' }),
        generateStringKey: 'k1',
        passwordLength: 44,
        excludePunctuation: true,
        includeSpace: false,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.pepper,
      'AwsSolutions-SMG4',
      'The pepper keys every stored audience member; a scheduled rotation would orphan them. It is rotated by the operator by adding a key id to the ring and re-keying (docs/deploying.md), never on a timer.',
    );

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      // Tenants and roles are assigned by the operator, never self-declared.
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      standardAttributes: { email: { required: true, mutable: true } },
      customAttributes: {
        tenant_id: new cognito.StringAttribute({ minLen: 1, maxLen: 64, mutable: false }),
        role: new cognito.StringAttribute({ minLen: 5, maxLen: 10, mutable: true }),
      },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.userPool,
      'AwsSolutions-COG8',
      'The Plus feature plan (threat protection) is billed per monthly active user; the pool has no self sign-up, requires TOTP MFA and a strong password policy. Operators who want adaptive authentication can switch the plan.',
    );

    this.userPoolClient = this.userPool.addClient('CliClient', {
      generateSecret: false,
      // `onboard login`: password or SRP, then TOTP; refresh tokens always work.
      authFlows: { userPassword: true, userSrp: true },
      // `onboard logout` revokes its refresh token (RevokeToken needs this, said explicitly).
      enableTokenRevocation: true,
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      readAttributes: new cognito.ClientAttributes()
        .withStandardAttributes({ email: true, emailVerified: true })
        .withCustomAttributes('tenant_id', 'role'),
      // Users must never be able to rewrite their own tenant or role.
      writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ email: true }),
    });

    this.exportAll();
  }

  /** Outputs for the operator, exported for the stateless stack. */
  private exportAll(): void {
    const out = (id: string, value: string, exportName: string, description: string) =>
      new CfnOutput(this, id, { value, exportName, description });
    const s = this.stackName;
    out('DataKeyArn', this.key.keyArn, statefulExport.keyArn(s), 'KMS key of the data at rest');
    out('PepperSecretArn', this.pepper.secretArn, statefulExport.pepperSecretArn(s), 'Pepper ring secret');
    out('UserPoolId', this.userPool.userPoolId, statefulExport.userPoolId(s), 'Cognito user pool id');
    out(
      'UserPoolClientId',
      this.userPoolClient.userPoolClientId,
      statefulExport.userPoolClientId(s),
      'Cognito app client id (CLI, no secret)',
    );
    for (const key of Object.keys(TABLES) as TableKey[]) {
      const table = this.tables[key];
      out(
        `${TABLES[key].id}TableName`,
        table.tableName,
        statefulExport.tableName(s, key),
        TABLES[key].purpose,
      );
      out(
        `${TABLES[key].id}TableArn`,
        table.tableArn,
        statefulExport.tableArn(s, key),
        `${TABLES[key].id} table ARN`,
      );
    }
    for (const key of Object.keys(BUCKETS) as BucketKey[]) {
      const bucket = this.buckets[key];
      out(
        `${BUCKETS[key].id}BucketName`,
        bucket.bucketName,
        statefulExport.bucketName(s, key),
        BUCKETS[key].purpose,
      );
      out(
        `${BUCKETS[key].id}BucketArn`,
        bucket.bucketArn,
        statefulExport.bucketArn(s, key),
        `${BUCKETS[key].id} bucket ARN`,
      );
    }
    new CfnOutput(this, 'AccessLogsBucketName', {
      value: this.accessLogs.bucketName,
      description: 'S3 server access logs of the data buckets',
    });
  }

  /** Imports the stateful resources into another stack through the named exports. */
  static importRefs(scope: Construct, statefulStackName: string): StatefulRefs {
    const imp = (name: string) => Fn.importValue(name);
    const s = statefulStackName;
    const key = kms.Key.fromKeyArn(scope, 'DataKey', imp(statefulExport.keyArn(s)));
    const table = (k: TableKey): DataTable => ({
      definition: TABLES[k],
      table: dynamodb.Table.fromTableAttributes(scope, `${TABLES[k].id}Table`, {
        // Name derived from the ARN by CDK (only one of the two may be given).
        tableArn: imp(statefulExport.tableArn(s, k)),
        encryptionKey: key,
      }),
    });
    const bucket = (k: BucketKey): DataBucket => ({
      definition: BUCKETS[k],
      bucket: s3.Bucket.fromBucketAttributes(scope, `${BUCKETS[k].id}Bucket`, {
        bucketArn: imp(statefulExport.bucketArn(s, k)),
        bucketName: imp(statefulExport.bucketName(s, k)),
        encryptionKey: key,
      }),
    });
    const userPool = cognito.UserPool.fromUserPoolId(scope, 'UserPool', imp(statefulExport.userPoolId(s)));
    return {
      key,
      tables: { audiences: table('audiences'), jobs: table('jobs'), ledger: table('ledger') },
      buckets: {
        uploads: bucket('uploads'),
        partnerDrops: bucket('partnerDrops'),
        results: bucket('results'),
      },
      pepper: secretsmanager.Secret.fromSecretAttributes(scope, 'Pepper', {
        secretCompleteArn: imp(statefulExport.pepperSecretArn(s)),
        encryptionKey: key,
      }),
      userPool,
      userPoolClient: cognito.UserPoolClient.fromUserPoolClientId(
        scope,
        'UserPoolClient',
        imp(statefulExport.userPoolClientId(s)),
      ),
    };
  }
}
