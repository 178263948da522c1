import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAMBDA_HANDLERS } from '../../cdk/handlers.ts';
import { INTERMEDIATE_PREFIXES, MANIFESTS_PREFIX, RESULTS_PREFIX } from '../../cdk/stateful-stack.ts';
import { AUTHORIZED_ROUTES, LAMBDA_TRANSIENT_ERRORS, PUBLIC_ROUTES } from '../../cdk/stateless-stack.ts';
import { ROUTES } from '../../shared/api/routes.ts';
import { PRIVACY_SETTINGS } from '../../shared/domain/privacy/privacy-params.ts';
import {
  ASYNC_ATTEMPTS,
  BUCKETS,
  FUNCTION_TIMEOUT_SECONDS,
  INGEST_TIMEOUT_SECONDS,
  MATCH_TIMEOUT_SECONDS,
  TABLES,
  TRIGGERS,
} from '../../shared/infra/definitions.ts';
import { RuntimeConfigSchema } from '../../shared/infra/runtime-config.ts';
import { LIVENESS_BOUNDS_SECONDS } from '../../shared/use-cases/job-liveness.ts';
import { type SynthesizedApp, synthForTest } from './synth.ts';

// CloudFormation JSON is untyped by nature; these tests navigate it as such.
// biome-ignore lint/suspicious/noExplicitAny: template JSON
type Json = any;

type Resource = {
  Type: string;
  Properties?: Record<string, Json>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};
type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Json>;
};

// Non-default values, so each assertion proves the setting flows from context to template.
const CONTEXT = { minSegmentSize: 80, retentionDays: 45, rhoPerMatch: '0.02', maxShardConcurrency: 8 };

let app: SynthesizedApp;
let stateful: Record<string, Resource>;
let stateless: Record<string, Resource>;

const ofType = (resources: Record<string, Resource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Every IAM statement of a template, wherever it lives (policies, roles, resource policies). */
function statementsOf(resources: Record<string, Resource>): { owner: string; statement: Statement }[] {
  const out: { owner: string; statement: Statement }[] = [];
  for (const [id, r] of Object.entries(resources)) {
    const docs = [
      r.Properties?.PolicyDocument,
      r.Properties?.KeyPolicy,
      ...(r.Type === 'AWS::IAM::Role' ? (r.Properties?.Policies ?? []) : []).map(
        (p: Json) => p.PolicyDocument,
      ),
    ].filter(Boolean);
    for (const doc of docs)
      for (const statement of doc.Statement as Statement[]) out.push({ owner: id, statement });
  }
  return out;
}

const isAccountRoot = (statement: Statement & { Principal?: Json }) =>
  JSON.stringify(statement.Principal?.AWS ?? '').endsWith('":root"]]}');

/** The house functions (the CDK bucket-notifications handler is CDK's own, not ours). */
const houseFunctions = () =>
  ofType(stateless, 'AWS::Lambda::Function').filter(([id]) => !id.startsWith('BucketNotificationsHandler'));

const fnNamed = (prefix: string) => {
  const found = houseFunctions().find(([id]) => id.startsWith(prefix));
  if (!found) throw new Error(`no function ${prefix}`);
  return found;
};

beforeAll(() => {
  app = synthForTest(CONTEXT);
  stateful = app.statefulTemplate.toJSON().Resources;
  stateless = app.statelessTemplate.toJSON().Resources;
});

describe('stateful stack: data at rest', () => {
  it('has one customer-managed KMS key with rotation, retained', () => {
    app.statefulTemplate.resourceCountIs('AWS::KMS::Key', 1);
    app.statefulTemplate.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
    });
  });

  it('retains every stateful resource on delete', () => {
    const stateTypes = [
      'AWS::S3::Bucket',
      'AWS::DynamoDB::Table',
      'AWS::SecretsManager::Secret',
      'AWS::Cognito::UserPool',
      'AWS::KMS::Key',
    ];
    for (const type of stateTypes) {
      for (const [id, r] of ofType(stateful, type)) {
        expect(r.DeletionPolicy, `${id} DeletionPolicy`).toBe('Retain');
        expect(r.UpdateReplacePolicy, `${id} UpdateReplacePolicy`).toBe('Retain');
      }
    }
  });

  it('builds one bucket per definition plus the access-log bucket, all private, TLS-only and encrypted', () => {
    const buckets = ofType(stateful, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(Object.keys(BUCKETS).length + 1);
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties?.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties?.BucketEncryption?.ServerSideEncryptionConfiguration, id).toBeDefined();
      // enforceSSL: a Deny on aws:SecureTransport=false in this bucket's policy.
      const policy = ofType(stateful, 'AWS::S3::BucketPolicy').find(
        ([, p]) => p.Properties?.Bucket?.Ref === id,
      );
      expect(policy, `${id} has a bucket policy`).toBeDefined();
      expect(policy?.[1].Properties?.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('encrypts the data buckets with the KMS key and logs their access to the log bucket', () => {
    const logBucket = ofType(stateful, 'AWS::S3::Bucket').find(([id]) => id.startsWith('AccessLogs'));
    expect(
      logBucket?.[1].Properties?.BucketEncryption.ServerSideEncryptionConfiguration[0]
        .ServerSideEncryptionByDefault,
    ).toEqual({
      SSEAlgorithm: 'AES256',
    });
    for (const def of Object.values(BUCKETS)) {
      app.statefulTemplate.hasResourceProperties('AWS::S3::Bucket', {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() },
            },
          ],
        },
        LoggingConfiguration: {
          DestinationBucketName: { Ref: logBucket?.[0] },
          LogFilePrefix: `${def.id.toLowerCase()}/`,
        },
      });
    }
  });

  it('expires uploads and partner drops after the days in BUCKETS', () => {
    for (const def of [BUCKETS.uploads, BUCKETS.partnerDrops]) {
      app.statefulTemplate.hasResourceProperties('AWS::S3::Bucket', {
        LoggingConfiguration: { LogFilePrefix: `${def.id.toLowerCase()}/` },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ Status: 'Enabled', ExpirationInDays: def.expireAfterDays }),
          ]),
        },
      });
    }
  });

  it('versions the results bucket and keeps results a day past the retentionDays context (45): the sweep deletes them at 45, the lifecycle is a backstop', () => {
    app.statefulTemplate.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { LogFilePrefix: `${BUCKETS.results.id.toLowerCase()}/` },
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Prefix: RESULTS_PREFIX,
            ExpirationInDays: 46,
            NoncurrentVersionExpiration: { NoncurrentDays: 46 },
          }),
          // What an erasure rewrote is not kept recoverable for weeks.
          Match.objectLike({ Prefix: 'manifests/', NoncurrentVersionExpiration: { NoncurrentDays: 1 } }),
        ]),
      },
    });
  });

  const resultsRules = (): Json[] => {
    const [, bucket] = ofType(stateful, 'AWS::S3::Bucket').find(
      ([, b]) => b.Properties?.LoggingConfiguration?.LogFilePrefix === `${BUCKETS.results.id.toLowerCase()}/`,
    ) as [string, Resource];
    return bucket.Properties?.LifecycleConfiguration.Rules;
  };

  it('expires the transient match files (shards, tallies) after 1 day as a backstop', () => {
    expect([...INTERMEDIATE_PREFIXES].sort()).toEqual(['ingest/', 'shards/', 'tallies/']);
    for (const prefix of INTERMEDIATE_PREFIXES) {
      expect(resultsRules(), prefix).toContainEqual(
        expect.objectContaining({
          Prefix: prefix,
          Status: 'Enabled',
          ExpirationInDays: 1,
          NoncurrentVersionExpiration: { NoncurrentDays: 1 },
        }),
      );
    }
  });

  it('never expires live manifests by age, but drops noncurrent versions (swept manifests) after 45 days', () => {
    const rules = resultsRules();
    // No rule with a current-version expiration may cover manifests/ (whole bucket or its prefix).
    const expiring = rules.filter(
      (r) => r.ExpirationInDays !== undefined && (!r.Prefix || MANIFESTS_PREFIX.startsWith(r.Prefix)),
    );
    expect(expiring).toEqual([]);
    expect(rules).toContainEqual(
      expect.objectContaining({ Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 45 } }),
    );
    expect(
      rules.some((r) => !r.Prefix && r.NoncurrentVersionExpiration?.NoncurrentDays === 45),
      'a bucket-wide noncurrent-version rule',
    ).toBe(true);
  });

  it('builds every table from TABLES: keys, TTL, PITR, KMS, on-demand, deletion protection', () => {
    app.statefulTemplate.resourceCountIs('AWS::DynamoDB::Table', Object.keys(TABLES).length);
    for (const def of Object.values(TABLES)) {
      const keySchema: { AttributeName: string; KeyType: string }[] = [
        { AttributeName: def.partitionKey, KeyType: 'HASH' },
      ];
      if ('sortKey' in def) keySchema.push({ AttributeName: def.sortKey, KeyType: 'RANGE' });
      app.statefulTemplate.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: keySchema,
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: Match.anyValue() },
        DeletionProtectionEnabled: true,
        ...('ttlAttribute' in def
          ? { TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true } }
          : { TimeToLiveSpecification: Match.absent() }),
      });
    }
  });

  it('generates the pepper in Secrets Manager, encrypted with the key (never in the template)', () => {
    app.statefulTemplate.hasResourceProperties('AWS::SecretsManager::Secret', {
      KmsKeyId: Match.anyValue(),
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'k1', PasswordLength: 44 }),
      SecretString: Match.absent(),
    });
  });

  it('has a Cognito pool with admin-only sign-up, MFA and the tenant and role attributes', () => {
    app.statefulTemplate.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: 'ON',
      Schema: Match.arrayWith([
        Match.objectLike({ Name: 'tenant_id', AttributeDataType: 'String', Mutable: false }),
        Match.objectLike({ Name: 'role', AttributeDataType: 'String', Mutable: true }),
      ]),
    });
  });

  it('lets the CLI sign in with a password or SRP, refresh, and revoke its refresh token (onboard login/logout)', () => {
    const [[, client]] = ofType(stateful, 'AWS::Cognito::UserPoolClient') as [[string, Resource]];
    expect([...(client.Properties?.ExplicitAuthFlows ?? [])].sort()).toEqual([
      'ALLOW_REFRESH_TOKEN_AUTH',
      'ALLOW_USER_PASSWORD_AUTH',
      'ALLOW_USER_SRP_AUTH',
    ]);
    expect(client.Properties?.EnableTokenRevocation).toBe(true);
  });

  it('does not let users write their own tenant or role', () => {
    const [[, client]] = ofType(stateful, 'AWS::Cognito::UserPoolClient') as [[string, Resource]];
    expect(client.Properties?.GenerateSecret).toBe(false);
    expect(client.Properties?.WriteAttributes).toEqual(['email']);
    expect(client.Properties?.ReadAttributes).toEqual(
      expect.arrayContaining(['custom:tenant_id', 'custom:role']),
    );
  });
});

describe('stateless stack: functions', () => {
  it('has the eight house functions, each Node 22 on ARM64 with its own log group and retention', () => {
    expect(LAMBDA_HANDLERS).toHaveLength(8);
    expect(houseFunctions()).toHaveLength(8);
    expect(
      houseFunctions()
        .map(([id]) => id.replace(/Function.*/, ''))
        .sort(),
    ).toEqual([
      'Api',
      'Ingest',
      'IngestStep',
      'ListUpload',
      'Maintenance',
      'MatchReduce',
      'MatchShard',
      'MatchSplit',
    ]);
    const logGroups = Object.fromEntries(ofType(stateless, 'AWS::Logs::LogGroup'));
    for (const [id, fn] of houseFunctions()) {
      expect(fn.Properties?.Runtime, id).toBe('nodejs22.x');
      expect(fn.Properties?.Architectures, id).toEqual(['arm64']);
      expect(fn.Properties?.Handler, id).toBe('index.handler');
      const logGroupId = fn.Properties?.LoggingConfig?.LogGroup?.Ref;
      expect(logGroups[logGroupId]?.Properties?.RetentionInDays, `${id} log retention`).toBeGreaterThan(0);
    }
  });

  it('gives every log group a retention', () => {
    for (const [id, lg] of ofType(stateless, 'AWS::Logs::LogGroup')) {
      expect(lg.Properties?.RetentionInDays, id).toBeGreaterThan(0);
    }
  });

  it('sets exactly the runtime-config variables, with the deploy context values', () => {
    const known = new Set([
      ...Object.keys(RuntimeConfigSchema.shape),
      ...Object.values(PRIVACY_SETTINGS).map((s) => s.env),
      'NODE_OPTIONS',
    ]);
    const required = [...Object.values(TABLES), ...Object.values(BUCKETS)].map((d) => d.env);
    for (const [id, fn] of houseFunctions()) {
      const env = fn.Properties?.Environment?.Variables as Record<string, unknown>;
      for (const key of Object.keys(env)) expect(known, `${id} sets unknown ${key}`).toContain(key);
      for (const key of required) expect(env, `${id} lacks ${key}`).toHaveProperty(key);
      expect(env.MIN_SEGMENT_SIZE).toBe('80');
      expect(env.RHO_PER_MATCH).toBe('0.02');
      // A deployment never carries the unsafe switch on.
      expect(env.UNSAFE_NOISE_OFF_FOR_TESTS).toBe('false');
      expect(env.RETENTION_DAYS).toBe('45');
      expect(env.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });

  it('gives the pepper only to the functions that key identifiers, the match state machine only to the API, the ingest one to ingest and maintenance', () => {
    const withPepper = houseFunctions()
      .filter(([, fn]) => fn.Properties?.Environment?.Variables?.PEPPER_SECRET_ID)
      .map(([id]) => id.replace(/Function.*/, ''));
    expect(withPepper.sort()).toEqual(['Api', 'Ingest', 'IngestStep', 'Maintenance', 'MatchShard']);
    const withSfn = houseFunctions()
      .filter(([, fn]) => fn.Properties?.Environment?.Variables?.MATCH_STATE_MACHINE_ARN)
      .map(([id]) => id.replace(/Function.*/, ''));
    expect(withSfn).toEqual(['Api']);
    // The ingest function starts an execution after the plan; recovery does when it ingests a drop at last.
    const withIngestSfn = houseFunctions()
      .filter(([, fn]) => fn.Properties?.Environment?.Variables?.INGEST_STATE_MACHINE_ARN)
      .map(([id]) => id.replace(/Function.*/, ''));
    expect(withIngestSfn.sort()).toEqual(['Ingest', 'Maintenance']);
  });

  it('tells only the API the maintenance function name (it starts re-keying asynchronously)', () => {
    const [maintenanceId] = fnNamed('MaintenanceFunction');
    const withMaintenance = houseFunctions().filter(
      ([, fn]) => fn.Properties?.Environment?.Variables?.MAINTENANCE_FUNCTION_NAME,
    );
    expect(withMaintenance.map(([id]) => id.replace(/Function.*/, ''))).toEqual(['Api']);
    expect(withMaintenance[0]?.[1].Properties?.Environment.Variables.MAINTENANCE_FUNCTION_NAME).toEqual({
      Ref: maintenanceId,
    });
  });

  it('runs maintenance for up to 15 minutes, retried twice and dead-lettered like the S3-triggered ones', () => {
    const [id, fn] = fnNamed('MaintenanceFunction');
    expect(fn.Properties?.Timeout).toBe(900);
    expect(fn.Properties?.Environment?.Variables?.PEPPER_SECRET_ID).toBeDefined();
    app.statelessTemplate.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: id },
      MaximumRetryAttempts: 2,
    });
  });

  it('runs each function for the timeout recovery derives its liveness bounds from', () => {
    const pascalName = (name: string) => name.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase());
    for (const [name, seconds] of Object.entries(FUNCTION_TIMEOUT_SECONDS)) {
      expect(fnNamed(`${pascalName(name)}Function`)[1].Properties?.Timeout, name).toBe(seconds);
    }
    for (const name of ['ListUpload', 'Ingest', 'Maintenance']) {
      app.statelessTemplate.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: fnNamed(`${name}Function`)[0] },
        MaximumRetryAttempts: ASYNC_ATTEMPTS - 1,
      });
    }
    // A job is declared dead only once no attempt of its function can still be running.
    expect(LIVENESS_BOUNDS_SECONDS.hashing).toBeGreaterThan(FUNCTION_TIMEOUT_SECONDS['list-upload']);
    expect(LIVENESS_BOUNDS_SECONDS.ingesting).toBeGreaterThan(FUNCTION_TIMEOUT_SECONDS.ingest);
    expect(LIVENESS_BOUNDS_SECONDS.match).toBeGreaterThan(
      MATCH_TIMEOUT_SECONDS + FUNCTION_TIMEOUT_SECONDS['match-split'],
    );
    expect(LIVENESS_BOUNDS_SECONDS.rawListUnclaimed).toBeGreaterThan(
      ASYNC_ATTEMPTS * FUNCTION_TIMEOUT_SECONDS['list-upload'],
    );
    expect(LIVENESS_BOUNDS_SECONDS.dropUnclaimed).toBeGreaterThan(
      ASYNC_ATTEMPTS * FUNCTION_TIMEOUT_SECONDS.ingest,
    );
  });

  it('uses no AWS managed policies on the function roles (logs are granted on their own log group)', () => {
    for (const [id, fn] of houseFunctions()) {
      const roleId = fn.Properties?.Role?.['Fn::GetAtt']?.[0];
      expect(stateless[roleId]?.Properties?.ManagedPolicyArns, `${id} role`).toBeUndefined();
    }
  });
});

describe('IAM: least privilege', () => {
  it('has no wildcard action in any policy statement of either stack', () => {
    const all = [...statementsOf(stateful), ...statementsOf(stateless)];
    expect(all.length).toBeGreaterThan(20);
    const wildcards = all
      .filter(({ statement }) => statement.Effect === 'Allow')
      // The key policy's statements name the account root only: they delegate to IAM policies (the
      // default kms:* and the Secret construct's redundant via-Secrets-Manager grant), and every IAM
      // policy is scanned here.
      .filter(
        ({ owner, statement }) =>
          !((stateful[owner] ?? stateless[owner])?.Type === 'AWS::KMS::Key' && isAccountRoot(statement)),
      )
      .flatMap(({ owner, statement }) =>
        asArray(statement.Action)
          .filter((a) => a.includes('*'))
          .map((a) => `${owner}: ${a}`),
      );
    expect(wildcards).toEqual([]);
  });

  it('never grants data actions on Resource "*"', () => {
    const data = /^(dynamodb|s3|kms|secretsmanager|states):/;
    // In a key policy, Resource "*" is the key itself.
    const offenders = statementsOf(stateless)
      .filter(({ owner }) => stateless[owner]?.Type !== 'AWS::KMS::Key')
      .filter(({ statement }) => statement.Effect === 'Allow' && asArray(statement.Resource).includes('*'))
      .flatMap(({ owner, statement }) =>
        asArray(statement.Action)
          .filter((a) => data.test(a))
          .map((a) => `${owner}: ${a}`),
      );
    expect(offenders).toEqual([]);
  });

  it('scopes every object grant of a house function to a key prefix', () => {
    const objectStatements = statementsOf(stateless).filter(
      ({ owner, statement }) =>
        owner.includes('FunctionRole') &&
        asArray(statement.Action).some((a) => /^s3:(Get|Put|Delete)Object$/.test(a)),
    );
    expect(objectStatements.length).toBeGreaterThanOrEqual(6);
    for (const { owner, statement } of objectStatements) {
      for (const resource of asArray(statement.Resource) as Json[]) {
        const suffix = resource['Fn::Join'][1].at(-1) as string;
        expect(suffix, owner).toMatch(/^\/[a-z]+\/\*$/);
      }
    }
  });

  it('uses the KMS key only through DynamoDB, S3 or Secrets Manager', () => {
    // IAM policies only: the alarm topic key's own policy lets CloudWatch publish (tested below).
    const kmsStatements = statementsOf(stateless).filter(
      ({ owner, statement }) =>
        stateless[owner]?.Type !== 'AWS::KMS::Key' &&
        asArray(statement.Action).some((a) => a.startsWith('kms:')),
    );
    expect(kmsStatements.length).toBeGreaterThan(6);
    for (const { owner, statement } of kmsStatements) {
      expect(statement.Condition?.StringEquals?.['kms:ViaService'], owner).toBeDefined();
    }
  });

  it('imports only names the stateful stack exports', () => {
    const exported = new Set(
      Object.values(app.statefulTemplate.toJSON().Outputs as Record<string, Json>)
        .map((o) => o.Export?.Name)
        .filter(Boolean),
    );
    const imported = new Set<string>();
    JSON.stringify(stateless, (key, value) => {
      if (key === 'Fn::ImportValue') imported.add(value);
      return value;
    });
    expect(imported.size).toBeGreaterThan(10);
    for (const name of imported) expect(exported, name).toContain(name);
  });
});

/** What a function's role may do: `ACTION on EXPORT-SUFFIX[/prefix*]` (ListBucket with its prefixes). */
function grantsOf(prefix: string): string[] {
  const [, fn] = fnNamed(prefix);
  const roleId = fn.Properties?.Role?.['Fn::GetAtt']?.[0];
  const name = (resource: Json): string => {
    if (typeof resource === 'string') return resource;
    if (resource['Fn::ImportValue']) return String(resource['Fn::ImportValue']).replace(/^.*-Stateful-/, '');
    if (resource['Fn::GetAtt']) return String(resource['Fn::GetAtt'][0]).replace(/[0-9A-F]{8}$/, '');
    if (resource.Ref) return String(resource.Ref).replace(/[0-9A-F]{8}$/, '');
    if (resource['Fn::Join']) return (resource['Fn::Join'][1] as Json[]).map(name).join('');
    return JSON.stringify(resource);
  };
  const out = new Set<string>();
  for (const { owner, statement } of statementsOf(stateless)) {
    const policy = stateless[owner];
    if (policy?.Type !== 'AWS::IAM::Policy') continue;
    if (!((policy.Properties?.Roles ?? []) as Json[]).some((r) => r.Ref === roleId)) continue;
    if (statement.Effect !== 'Allow') continue;
    for (const action of asArray(statement.Action)) {
      // Logs, keys and tracing are every function's, tested on their own.
      if (/^(logs|kms|xray):/.test(action)) continue;
      for (const resource of asArray(statement.Resource)) {
        const where = statement.Condition?.StringLike?.['s3:prefix'];
        out.add(`${action} ${name(resource)}${where ? ` [${asArray(where).sort().join(',')}]` : ''}`);
      }
    }
  }
  return [...out].sort();
}

const TABLE_READ = ['BatchGetItem', 'ConditionCheckItem', 'GetItem', 'Query'];
const TABLE_WRITE = ['BatchWriteItem', 'ConditionCheckItem', 'DeleteItem', 'PutItem', 'UpdateItem'];
const table = (arn: string, access: 'read' | 'write' | 'readWrite') =>
  [...new Set([...(access !== 'write' ? TABLE_READ : []), ...(access !== 'read' ? TABLE_WRITE : [])])].map(
    (a) => `dynamodb:${a} ${arn}`,
  );
const objects = (bucketArn: string, actions: string[], prefix: string) =>
  actions.map((a) => `s3:${a} ${bucketArn}/${prefix}*`);
const listing = (bucketArn: string, ...prefixes: string[]) =>
  `s3:ListBucket ${bucketArn} [${prefixes
    .map((p) => `${p}*`)
    .sort()
    .join(',')}]`;
const PEPPER = 'secretsmanager:GetSecretValue PepperSecretArn';
const R = 'ResultsBucketArn';

describe('IAM: each function may do what its use cases call, nothing more', () => {
  // Read from the handlers down: lambdas/*.ts -> shared/use-cases/*.ts -> the ports' adapters.
  it('match-split: the hashed list, its shards, failMatch (shards/ and matchsets/ cleanup, Ledger audit)', () => {
    expect(grantsOf('MatchSplitFunction')).toEqual(
      [
        ...objects('UploadsBucketArn', ['GetObject'], 'lists/'),
        listing('UploadsBucketArn', 'lists/'),
        ...objects(R, ['DeleteObject', 'PutObject'], 'shards/'),
        listing(R, 'shards/'),
        ...table('JobsTableArn', 'readWrite'),
        ...table('LedgerTableArn', 'write'),
      ].sort(),
    );
  });

  it('match-shard: reads and deletes its shard, writes its tally, reads members', () => {
    expect(grantsOf('MatchShardFunction')).toEqual(
      [
        ...objects(R, ['DeleteObject', 'GetObject'], 'shards/'),
        listing(R, 'shards/'),
        ...objects(R, ['PutObject'], 'tallies/'),
        // The partner's membership filter, pinned with the snapshot.
        ...objects(R, ['GetObject'], 'filters/'),
        listing(R, 'filters/'),
        ...table('AudiencesTableArn', 'read'),
        ...table('JobsTableArn', 'readWrite'),
        PEPPER,
      ].sort(),
    );
  });

  it('match-reduce: tallies, the result, budget, release index and audit', () => {
    expect(grantsOf('MatchReduceFunction')).toEqual(
      [
        ...objects(R, ['DeleteObject', 'GetObject'], 'tallies/'),
        listing(R, 'tallies/'),
        ...objects(R, ['DeleteObject'], 'shards/'),
        listing(R, 'shards/'),
        ...objects(R, ['PutObject'], 'results/'),
        ...table('JobsTableArn', 'readWrite'),
        ...table('LedgerTableArn', 'readWrite'),
      ].sort(),
    );
  });

  it('ingest, ingest-step and maintenance: ingest plans into work files and starts the state machine; its steps read and delete the drop and write manifests and filters under any key id; maintenance recovers what ingest and hashing left', () => {
    const manifests = [
      ...['manifests/', 'filters/', 'ingest/'].flatMap((p) =>
        objects(R, ['DeleteObject', 'GetObject', 'PutObject'], p),
      ),
      listing(R, 'filters/', 'ingest/', 'manifests/'),
    ];
    expect(grantsOf('IngestFunction')).toEqual(
      [
        ...objects('PartnerDropsBucketArn', ['DeleteObject', 'GetObject'], 'audiences/'),
        listing('PartnerDropsBucketArn', 'audiences/'),
        // The plan; a plan that fails deletes it.
        ...objects(R, ['DeleteObject', 'GetObject', 'PutObject'], 'ingest/'),
        listing(R, 'ingest/'),
        // The catalog (profile, key id, versions) and the partner lock.
        ...table('AudiencesTableArn', 'readWrite'),
        ...table('JobsTableArn', 'readWrite'),
        PEPPER,
        'sqs:SendMessage IngestDlq',
        'states:StartExecution IngestStateMachine',
      ].sort(),
    );
    // The drop read by ranges and deleted (by the join, or the fail step); no dead-letter queue (the
    // state machine retries and catches).
    expect(grantsOf('IngestStepFunction')).toEqual(
      [
        ...manifests,
        ...objects('PartnerDropsBucketArn', ['DeleteObject', 'GetObject'], 'audiences/'),
        ...table('AudiencesTableArn', 'readWrite'),
        ...table('JobsTableArn', 'readWrite'),
        // Published catalog sizes: the catalog budget and its audit entry.
        ...table('LedgerTableArn', 'readWrite'),
        PEPPER,
      ].sort(),
    );
    expect(grantsOf('MaintenanceFunction')).toEqual(
      [
        ...manifests,
        ...table('AudiencesTableArn', 'readWrite'),
        PEPPER,
        'sqs:SendMessage MaintenanceDlq',
        // Recovery: the records in flight of every tenant (a Scan), raw lists hashed again or
        // deleted, drops ingested at last or deleted, a dead match's shards, tallies and results.
        ...table('JobsTableArn', 'readWrite'),
        'dynamodb:Scan JobsTableArn',
        ...objects('UploadsBucketArn', ['DeleteObject', 'GetObject'], 'raw/'),
        ...objects('UploadsBucketArn', ['DeleteObject', 'GetObject', 'PutObject'], 'lists/'),
        listing('UploadsBucketArn', 'raw/'),
        listing('UploadsBucketArn', 'lists/'),
        ...objects('PartnerDropsBucketArn', ['DeleteObject', 'GetObject'], 'audiences/'),
        listing('PartnerDropsBucketArn', 'audiences/'),
        ...['shards/', 'tallies/', 'results/'].flatMap((p) => objects(R, ['DeleteObject'], p)),
        listing(R, 'results/', 'shards/', 'tallies/'),
        ...table('LedgerTableArn', 'readWrite'),
        // A drop ingested at last goes on through the ingest state machine.
        'states:StartExecution IngestStateMachine',
      ].sort(),
    );
    // Nothing else scans a table.
    for (const fn of ['Api', 'Ingest', 'IngestStep', 'ListUpload', 'MatchReduce', 'MatchShard', 'MatchSplit'])
      expect(grantsOf(`${fn}Function`).filter((g) => g.includes('Scan'))).toEqual([]);
  });

  it('list-upload: reads and deletes the raw list, writes the hashed one, tracks the list record', () => {
    expect(grantsOf('ListUploadFunction')).toEqual(
      [
        ...objects('UploadsBucketArn', ['DeleteObject', 'GetObject'], 'raw/'),
        listing('UploadsBucketArn', 'raw/'),
        ...objects('UploadsBucketArn', ['PutObject'], 'lists/'),
        ...table('JobsTableArn', 'readWrite'),
        'sqs:SendMessage ListUploadDlq',
      ].sort(),
    );
  });

  it('api: presigned uploads and downloads, catalogs, budgets and grants, audit, deletions, erasure, match start, re-key start', () => {
    expect(grantsOf('ApiFunction')).toEqual(
      [
        ...objects('UploadsBucketArn', ['DeleteObject', 'PutObject'], 'lists/'),
        ...objects('UploadsBucketArn', ['DeleteObject', 'PutObject'], 'raw/'),
        // startMatch: HeadObject on the hashed list (ListBucket: a missing list is 404, not 403).
        ...objects('UploadsBucketArn', ['GetObject'], 'lists/'),
        listing('UploadsBucketArn', 'lists/'),
        ...objects('PartnerDropsBucketArn', ['PutObject'], 'audiences/'),
        ...objects(R, ['GetObject'], 'results/'),
        // Deleting a match: its result files and any leftovers of its run.
        ...objects(R, ['DeleteObject'], 'results/'),
        ...objects(R, ['DeleteObject'], 'shards/'),
        ...objects(R, ['DeleteObject'], 'tallies/'),
        listing(R, 'results/', 'shards/', 'tallies/'),
        // Partner erasure prunes the segment manifests; a deleted segment's are swept.
        ...objects(R, ['DeleteObject', 'GetObject', 'PutObject'], 'manifests/'),
        ...table('JobsTableArn', 'readWrite'),
        // Erasure and segment deletion: member items, the catalog and the partner lock.
        ...table('AudiencesTableArn', 'readWrite'),
        ...table('LedgerTableArn', 'readWrite'),
        PEPPER,
        'states:StartExecution MatchStateMachine',
        'lambda:InvokeFunction MaintenanceFunction',
      ].sort(),
    );
  });

  it('api: invokes exactly the maintenance function (no versions, no aliases) and nothing else', () => {
    const invokes = grantsOf('ApiFunction').filter((g) => g.startsWith('lambda:'));
    expect(invokes).toEqual(['lambda:InvokeFunction MaintenanceFunction']);
    const [maintenanceId] = fnNamed('MaintenanceFunction');
    const statements = statementsOf(stateless).filter(({ statement }) =>
      asArray(statement.Action).includes('lambda:InvokeFunction'),
    );
    const onMaintenance = statements.filter(({ statement }) =>
      JSON.stringify(statement.Resource).includes(maintenanceId),
    );
    expect(onMaintenance).toHaveLength(1);
    expect(onMaintenance[0]?.statement.Resource).toEqual({ 'Fn::GetAtt': [maintenanceId, 'Arn'] });
    // No other house function may invoke a Lambda function.
    for (const [id] of houseFunctions().filter(([id]) => !id.startsWith('ApiFunction'))) {
      expect(
        grantsOf(id).filter((g) => g.startsWith('lambda:')),
        id,
      ).toEqual([]);
    }
  });
});

describe('maintenance schedule', () => {
  it('invokes the maintenance function every hour with a sweep', () => {
    const [maintenanceId] = fnNamed('MaintenanceFunction');
    const rules = ofType(stateless, 'AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    const [[ruleId, rule]] = rules as [[string, Resource]];
    expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(1 hour)', State: 'ENABLED' });
    expect(rule.Properties?.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [maintenanceId, 'Arn'] },
        Input: JSON.stringify({ action: 'sweep' }),
      }),
    ]);
    app.statelessTemplate.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [maintenanceId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
    });
  });

  it('alarms when the schedule fails to invoke the function', () => {
    const [[ruleId]] = ofType(stateless, 'AWS::Events::Rule') as [[string, Resource]];
    app.statelessTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Events',
      MetricName: 'FailedInvocations',
      Dimensions: [{ Name: 'RuleName', Value: { Ref: ruleId } }],
    });
  });
});

describe('HTTP API', () => {
  const routes = () =>
    Object.fromEntries(
      ofType(stateless, 'AWS::ApiGatewayV2::Route').map(([, r]) => [r.Properties?.RouteKey, r.Properties]),
    );

  it('has exactly the documented routes', () => {
    expect(Object.keys(routes()).sort()).toEqual([...AUTHORIZED_ROUTES, ...PUBLIC_ROUTES].sort());
  });

  it('has one route per entry of the route table the handler serves (plus the OpenAPI document)', () => {
    const table = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(Object.keys(routes()).sort()).toEqual([...table, 'GET /v1/openapi.json'].sort());
    expect(AUTHORIZED_ROUTES).toEqual(
      expect.arrayContaining([
        'GET /v1/lists/{id}',
        'GET /v1/partners/{id}/budget',
        'POST /v1/admin/pepper/rekey',
      ]),
    );
    expect([...PUBLIC_ROUTES].sort()).toEqual(['GET /v1/health', 'GET /v1/openapi.json']);
  });

  it('puts the Cognito JWT authorizer on every route but health and openapi', () => {
    const [[authorizerId]] = ofType(stateless, 'AWS::ApiGatewayV2::Authorizer') as [[string, Resource]];
    for (const key of AUTHORIZED_ROUTES) {
      expect(routes()[key], key).toMatchObject({
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: authorizerId },
      });
    }
    for (const key of PUBLIC_ROUTES) expect(routes()[key]?.AuthorizationType, key).toBe('NONE');
  });

  it('validates Cognito tokens of this pool and its clients (CLI, web console)', () => {
    app.statelessTemplate.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: {
        Audience: [
          { 'Fn::ImportValue': Match.stringLikeRegexp('UserPoolClientId$') },
          { Ref: Match.stringLikeRegexp('^WebConsoleBrowserClient') },
        ],
        Issuer: Match.objectLike({
          'Fn::Join': Match.arrayWith([Match.arrayWith(['https://cognito-idp.'])]),
        }),
      },
    });
  });

  it('throttles the default stage and writes access logs to a log group', () => {
    app.statelessTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ApiAccessLogs'), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context.requestId'),
      },
    });
  });
});

describe('asynchronous triggers', () => {
  it('notifies list-upload on raw/ and ingest on audiences/', () => {
    const [listUploadId] = fnNamed('ListUploadFunction');
    const [ingestId] = fnNamed('IngestFunction');
    const configs = ofType(stateless, 'Custom::S3BucketNotifications').flatMap(
      ([, r]) => r.Properties?.NotificationConfiguration.LambdaFunctionConfigurations,
    );
    const rule = (prefix: string) => ({ Key: { FilterRules: [{ Name: 'prefix', Value: prefix }] } });
    expect(configs).toEqual(
      expect.arrayContaining([
        {
          Events: ['s3:ObjectCreated:*'],
          Filter: rule(TRIGGERS.rawListPrefix),
          LambdaFunctionArn: { 'Fn::GetAtt': [listUploadId, 'Arn'] },
        },
        {
          Events: ['s3:ObjectCreated:*'],
          Filter: rule(TRIGGERS.partnerDropPrefix),
          LambdaFunctionArn: { 'Fn::GetAtt': [ingestId, 'Arn'] },
        },
      ]),
    );
  });

  it('dead-letters the asynchronously invoked functions and the schedule into encrypted, TLS-only queues', () => {
    const queues = ofType(stateless, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(4);
    const [, rule] = ofType(stateless, 'AWS::Events::Rule')[0] as [string, Resource];
    expect(queues.map(([q]) => q)).toContain(
      rule.Properties?.Targets[0].DeadLetterConfig.Arn['Fn::GetAtt'][0],
    );
    for (const [id, queue] of queues) {
      expect(queue.Properties?.SqsManagedSseEnabled, id).toBe(true);
      const policy = ofType(stateless, 'AWS::SQS::QueuePolicy').find(
        ([, p]) => p.Properties?.Queues[0].Ref === id,
      );
      expect(policy?.[1].Properties?.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    for (const prefix of ['ListUploadFunction', 'IngestFunction', 'MaintenanceFunction']) {
      const [id, fn] = fnNamed(prefix);
      const target = fn.Properties?.DeadLetterConfig?.TargetArn?.['Fn::GetAtt']?.[0];
      expect(
        queues.map(([q]) => q),
        id,
      ).toContain(target);
      app.statelessTemplate.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: { Ref: id },
        MaximumRetryAttempts: 2,
      });
    }
  });
});

/** A state machine's definition, its tokens (ARNs) replaced by TOKEN. */
function definitionOf(idPrefix: string): Json {
  const [[, sm]] = ofType(stateless, 'AWS::StepFunctions::StateMachine').filter(([id]) =>
    id.startsWith(idPrefix),
  ) as [[string, Resource]];
  const parts = sm.Properties?.DefinitionString['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
}

describe('match state machine', () => {
  let definition: Json;
  beforeAll(() => {
    definition = definitionOf('MatchStateMachine');
  });

  it('runs split, a Distributed Map over split.shards, then reduce', () => {
    const match = definition.States[definition.StartAt];
    expect(match.Type).toBe('Parallel');
    const branch = match.Branches[0];
    const split = branch.States[branch.StartAt];
    expect(split.Parameters.Payload).toEqual({ 'tenantId.$': '$.tenantId', 'matchId.$': '$.matchId' });
    const map = branch.States[split.Next];
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.shards',
      MaxConcurrency: 8,
      ItemSelector: { 'tenantId.$': '$.tenantId', 'matchId.$': '$.matchId', 'shard.$': '$$.Map.Item.Value' },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' } },
    });
    const shardTask = map.ItemProcessor.States[map.ItemProcessor.StartAt];
    expect(shardTask.Parameters.Payload).toEqual({
      'tenantId.$': '$.tenantId',
      'matchId.$': '$.matchId',
      'shard.$': '$.shard',
    });
    const reduce = branch.States[map.Next];
    expect(reduce.Parameters.Payload).toEqual({ 'tenantId.$': '$.tenantId', 'matchId.$': '$.matchId' });
    expect(reduce.End).toBe(true);
  });

  it('marks the job FAILED in DynamoDB when anything in the flow fails', () => {
    const match = definition.States[definition.StartAt];
    expect(match.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'MarkJobFailed' },
    ]);
    const mark = definition.States.MarkJobFailed;
    expect(mark.Resource).toMatch(/:states:::dynamodb:updateItem$/);
    expect(mark.Parameters).toMatchObject({
      Key: {
        pk: { 'S.$': "States.Format('tenant#{}', $.tenantId)" },
        sk: { 'S.$': "States.Format('match#{}', $.matchId)" },
      },
      ConditionExpression: 'attribute_exists(pk) AND #record.#status IN (:queued, :running)',
      UpdateExpression: 'SET #record.#status = :failed, #record.errorCode = :code, #record.updatedAt = :now',
      ExpressionAttributeNames: { '#record': 'record', '#status': 'status' },
      ExpressionAttributeValues: {
        ':failed': { S: 'FAILED' },
        ':queued': { S: 'QUEUED' },
        ':running': { S: 'RUNNING' },
        ':code': { S: 'match-failed' },
        ':now': { 'S.$': '$$.State.EnteredTime' },
      },
    });
    expect(definition.States[mark.Next].Type).toBe('Fail');
  });

  it('logs ALL events (without execution data) and traces with X-Ray', () => {
    app.statelessTemplate.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false, Destinations: Match.anyValue() },
      TracingConfiguration: { Enabled: true },
    });
  });
});

describe('ingest state machine', () => {
  let definition: Json;
  beforeAll(() => {
    definition = definitionOf('IngestStateMachine');
  });
  const job = { 'partnerId.$': '$.partnerId', 'audienceId.$': '$.audienceId' };
  const TRANSIENT = expect.arrayContaining([
    expect.objectContaining({ ErrorEquals: [...LAMBDA_TRANSIENT_ERRORS], MaxAttempts: 6 }),
  ]);

  it('maps over the ranges the plan cut, joins, maps over the people units the join returns, gates, maps over the identifier parts the gate returns, then finishes', () => {
    const ingest = definition.States[definition.StartAt];
    expect(ingest.Type).toBe('Parallel');
    const branch = ingest.Branches[0];
    const split = branch.States[branch.StartAt];
    expect(split).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.ranges',
      MaxConcurrency: 8,
      ItemSelector: { ...job, 'item.$': '$$.Map.Item.Value' },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' } },
      ResultPath: null,
    });
    const range = split.ItemProcessor.States[split.ItemProcessor.StartAt];
    expect(range.Parameters.Payload).toEqual({ ...job, step: 'split', 'item.$': '$.item' });
    expect(range.Retry).toEqual(TRANSIENT);
    const join = branch.States[split.Next];
    expect(join.Parameters.Payload).toEqual({ ...job, step: 'join' });
    expect(join.ResultPath).toBe('$.join');
    expect(join.Retry).toEqual(TRANSIENT);
    const people = branch.States[join.Next];
    expect(people).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.join.units',
      MaxConcurrency: 8,
      ItemSelector: { ...job, 'item.$': '$$.Map.Item.Value' },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' } },
      ResultPath: null,
    });
    const unit = people.ItemProcessor.States[people.ItemProcessor.StartAt];
    expect(unit.Parameters.Payload).toEqual({ ...job, step: 'people', 'item.$': '$.item' });
    expect(unit.Retry).toEqual(TRANSIENT);
    const gate = branch.States[people.Next];
    expect(gate.Parameters.Payload).toEqual({ ...job, step: 'gate' });
    expect(gate.ResultPath).toBe('$.gate');
    const choice = branch.States[gate.Next];
    expect(choice.Type).toBe('Choice');
    // A refused file or a dry run: the gate ended the ingest.
    expect(choice.Choices).toEqual([
      expect.objectContaining({ Variable: '$.gate.done', BooleanEquals: true }),
    ]);
    expect(branch.States[choice.Choices[0].Next].Type).toBe('Succeed');
    const parts = branch.States[choice.Default];
    expect(parts).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.gate.parts',
      MaxConcurrency: 8,
      ItemSelector: { ...job, 'item.$': '$$.Map.Item.Value' },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' } },
    });
    const part = parts.ItemProcessor.States[parts.ItemProcessor.StartAt];
    expect(part.Parameters.Payload).toEqual({ ...job, step: 'identifiers', 'item.$': '$.item' });
    expect(part.Retry).toEqual(TRANSIENT);
    const finish = branch.States[parts.Next];
    expect(finish.Parameters.Payload).toEqual({ ...job, step: 'finish' });
    expect(finish.Retry).toEqual(TRANSIENT);
    expect(finish.End).toBe(true);
    expect(definition.TimeoutSeconds).toBe(INGEST_TIMEOUT_SECONDS);
  });

  it('runs the fail step when anything in the flow fails (FAILED, work deleted, lock released), then fails', () => {
    const ingest = definition.States[definition.StartAt];
    expect(ingest.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'IngestFail' },
    ]);
    const fail = definition.States.IngestFail;
    expect(fail.Parameters.Payload).toEqual({ ...job, step: 'fail', 'error.$': '$.error' });
    expect(fail.Retry).toEqual(TRANSIENT);
    expect(definition.States[fail.Next].Type).toBe('Fail');
  });

  it('invokes only the ingest-step function', () => {
    const [stepId] = fnNamed('IngestStepFunction');
    const [[, sm]] = ofType(stateless, 'AWS::StepFunctions::StateMachine').filter(([id]) =>
      id.startsWith('IngestStateMachine'),
    ) as [[string, Resource]];
    const refs = JSON.stringify(sm.Properties?.DefinitionString).match(/"([A-Za-z0-9]+Function[A-Z0-9]+)"/g);
    expect(new Set(refs?.map((r) => r.replace(/"/g, '')))).toEqual(new Set([stepId]));
  });
});

describe('alarms and outputs', () => {
  const alarms = () => ofType(stateless, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties ?? {});

  it('alarms on errors and throttles of every function', () => {
    for (const [id] of houseFunctions()) {
      for (const metric of ['Errors', 'Throttles']) {
        const found = alarms().some(
          (a) =>
            a.MetricName === metric && a.Namespace === 'AWS/Lambda' && a.Dimensions?.[0]?.Value?.Ref === id,
        );
        expect(found, `${metric} alarm for ${id}`).toBe(true);
      }
    }
  });

  it('alarms on dead-letter depth, failed and timed-out matches, and API 5xx', () => {
    const depth = alarms().filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(depth).toHaveLength(4);
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      expect(
        alarms().some((a) => a.MetricName === metric && a.Namespace === 'AWS/States'),
        metric,
      ).toBe(true);
    }
    expect(alarms().some((a) => a.MetricName === '5xx' && a.Namespace === 'AWS/ApiGateway')).toBe(true);
  });

  it('outputs the API URL, the user pool, its client and the bucket names', () => {
    const outputs = Object.keys(app.statelessTemplate.toJSON().Outputs);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'MaintenanceFunctionName',
        'UserPoolId',
        'UserPoolClientId',
        'UploadsBucketName',
        'PartnerDropsBucketName',
        'ResultsBucketName',
      ]),
    );
    expect(Object.keys(app.statefulTemplate.toJSON().Outputs)).toEqual(
      expect.arrayContaining(['UserPoolId', 'UserPoolClientId', 'AccessLogsBucketName', 'PepperSecretArn']),
    );
  });
});
