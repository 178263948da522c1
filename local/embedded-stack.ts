/**
 * The embedded stack: the whole service on one machine. s3rver and dynalite on loopback, the
 * buckets and tables from the CDK definitions, the Lambda handlers behind a local HTTP API,
 * S3 object-created events delivered to the same functions, and matches and the map steps of
 * partner ingests run on worker threads.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PutBucketCorsCommand, S3Client } from '@aws-sdk/client-s3';
import { buildConsole } from '../console/build.ts';
import type { Role } from '../shared/domain/principal.ts';
import { BUCKETS, TRIGGERS } from '../shared/infra/definitions.ts';
import { privacySettingsOf } from '../shared/infra/runtime-config.ts';
import { consoleFiles } from './console-server.ts';
import { type DevToken, DevTokens } from './dev-tokens.ts';
import { startEmbeddedInfra } from './embedded-infra.ts';
import { startHttpBridge } from './http-bridge.ts';
import { LocalIngestRunner, LocalMatchRunner, ShardWorkerPool } from './local-runner.ts';

export interface EmbeddedStackOptions {
  /** Where data lives; default `.onboard/` in the working directory (gitignored). */
  dataDir?: string;
  /** DynamoDB data in memory and S3 objects removed on stop: for tests. */
  ephemeral?: boolean;
  /** API port; 0 picks a free one. */
  port?: number;
  /** Extra function environment (privacy settings, shard count...). */
  env?: Record<string, string>;
  /** Shard worker threads. */
  workers?: number;
  /** Serve the web console at the root of the API's URL (default true). */
  console?: boolean;
  /** How often the sweep (recovery, retired versions) runs after the one at start; 0: never (tests). */
  sweepEveryMs?: number;
}

export interface EmbeddedStack {
  apiUrl: string;
  s3Endpoint: string;
  dynamoEndpoint: string;
  dataDir: string;
  tokens: DevTokens;
  env: Record<string, string>;
  /** A dev token for a tenant and role (issued if new). */
  token(tenantId: string, role: Role): string;
  /** Resolves when no S3 event or match is still being processed. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_DATA_DIR = '.onboard';
export const STACK_FILE = 'stack.json';
/** The embedded stack sweeps (recovery, retired versions) at start and then this often. */
export const SWEEP_INTERVAL_MS = 60_000;

export async function startEmbeddedStack(options: EmbeddedStackOptions = {}): Promise<EmbeddedStack> {
  // Settings fail fast, before anything starts: a bad value never becomes a 500 on every route.
  privacySettingsOf({ ...process.env, ...options.env });
  // So does the console build: nothing is running yet if it fails.
  const consoleAssets = options.console === false ? undefined : await buildConsole();
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const infra = await startEmbeddedInfra({
    dataDir,
    inMemory: options.ephemeral ?? false,
    resetOnClose: options.ephemeral ?? false,
  });
  const env = {
    POWERTOOLS_SERVICE_NAME: 'onboard',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO',
    ...infra.env,
    ...options.env,
    // This start of the stack, recorded on the jobs and locks it works on: whatever a previous
    // start left in flight is known dead, and recovered by the sweep that runs right away.
    ONBOARD_INSTANCE_ID: randomUUID(),
  };
  // The handlers read their configuration from the environment, as in Lambda.
  Object.assign(process.env, env);
  const { resetAwsClients } = await import('../shared/adapters/aws-clients.ts');
  const { resetRuntime, useLocalIngestRunner, useLocalMaintenance, useLocalMatchRunner, useCaseContext } =
    await import('../shared/adapters/runtime.ts');
  resetAwsClients();
  resetRuntime();

  const [api, ingest, listUpload, split, reduce, pipeline, maintenance] = await Promise.all([
    import('../lambdas/api.ts'),
    import('../lambdas/ingest.ts'),
    import('../lambdas/list-upload.ts'),
    import('../lambdas/match-split.ts'),
    import('../lambdas/match-reduce.ts'),
    import('../shared/use-cases/match-pipeline.ts'),
    import('../lambdas/maintenance.ts'),
  ]);

  const pool = new ShardWorkerPool(options.workers, { ...process.env });
  const runner = new LocalMatchRunner(pool, split.handler, reduce.handler, (job, error) =>
    pipeline.failMatch(useCaseContext(), job, error),
  );
  useLocalMatchRunner(runner);
  // An ingest's people units and identifier parts run on the same worker threads.
  useLocalIngestRunner(new LocalIngestRunner(pool));

  // Maintenance runs in-process, like the asynchronous invocation it stands for, plus a sweep timer.
  const events = new Set<Promise<void>>();
  const background = (work: Promise<unknown>) => {
    const done: Promise<void> = work
      .then(() => undefined)
      .catch((error: unknown) => {
        process.stderr.write(
          `embedded stack: background work failed: ${error instanceof Error ? error.name : 'error'}\n`,
        );
      })
      .finally(() => events.delete(done));
    events.add(done);
  };
  useLocalMaintenance({ start: async (action) => background(maintenance.handler({ action })) });
  const every = options.sweepEveryMs ?? SWEEP_INTERVAL_MS;
  const sweeper =
    every > 0 ? setInterval(() => background(maintenance.handler({ action: 'sweep' })), every) : undefined;
  sweeper?.unref();

  // S3 notifications: object-created under a trigger prefix invokes the function, as in the CDK app.
  const bucketOf = (id: string) => infra.env[Object.values(BUCKETS).find((b) => b.id === id)?.env as string];
  const targets = [
    { bucket: bucketOf(BUCKETS.uploads.id), prefix: TRIGGERS.rawListPrefix, handler: listUpload.handler },
    {
      bucket: bucketOf(BUCKETS.partnerDrops.id),
      prefix: TRIGGERS.partnerDropPrefix,
      handler: ingest.handler,
    },
  ];
  infra.s3Server.on(
    'event',
    (event: {
      Records: {
        eventName: string;
        s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string } };
      }[];
    }) => {
      for (const record of event.Records) {
        if (!record.eventName.startsWith('ObjectCreated:')) continue;
        const target = targets.find(
          (t) => t.bucket === record.s3.bucket.name && record.s3.object.key.startsWith(t.prefix),
        );
        if (!target) continue;
        background(target.handler(s3Event(record.eventName, record.s3.bucket.name, record.s3.object)));
      }
    },
  );

  const tokens = options.ephemeral
    ? new DevTokens()
    : DevTokens.loadOrCreate(join(dataDir, 'dev-tokens.json'));
  const statics = consoleAssets === undefined ? undefined : consoleFiles(consoleAssets, infra.s3Endpoint);
  const http = await startHttpBridge(api.handler, tokens, options.port ?? 0, '127.0.0.1', statics);
  if (statics)
    await allowConsoleUploads(infra.s3Endpoint, http.url, [
      infra.env[BUCKETS.uploads.env],
      infra.env[BUCKETS.partnerDrops.env],
    ]);
  // Recovery of what a previous start left (resumed or FAILED `interrupted`), in the background:
  // new work carries this start's id and is never mistaken for it.
  background(maintenance.handler({ action: 'sweep' }));

  const stack: EmbeddedStack = {
    apiUrl: http.url,
    s3Endpoint: infra.s3Endpoint,
    dynamoEndpoint: infra.dynamoEndpoint,
    dataDir,
    tokens,
    env,
    token: (tenantId, role) => (tokens.find(tenantId, role) ?? tokens.issue(tenantId, role)).token,
    async idle() {
      for (;;) {
        await runner.idle();
        if (events.size === 0) break;
        await Promise.allSettled([...events]);
      }
    },
    async stop() {
      clearInterval(sweeper);
      await stack.idle();
      useLocalMatchRunner(undefined);
      useLocalIngestRunner(undefined);
      useLocalMaintenance(undefined);
      await http.close();
      await pool.close();
      await infra.stop();
      resetAwsClients();
      resetRuntime();
    },
  };
  if (!options.ephemeral) {
    writeFileSync(
      join(dataDir, STACK_FILE),
      JSON.stringify({ apiUrl: http.url, pid: process.pid, tokens: tokens.all() }, null, 2),
      {
        mode: 0o600,
      },
    );
  }
  return stack;
}

/** The console PUTs to presigned URLs of these buckets from its own origin: CORS for that origin only. */
async function allowConsoleUploads(s3Endpoint: string, consoleUrl: string, buckets: (string | undefined)[]) {
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    for (const bucket of buckets) {
      if (!bucket) continue;
      await s3.send(
        new PutBucketCorsCommand({
          Bucket: bucket,
          CORSConfiguration: {
            CORSRules: [
              {
                AllowedOrigins: [new URL(consoleUrl).origin],
                AllowedMethods: ['PUT'],
                AllowedHeaders: ['content-type'],
                MaxAgeSeconds: 600,
              },
            ],
          },
        }),
      );
    }
  } finally {
    s3.destroy();
  }
}

/** What `onboard dev` prints about the console: its URL and a sign-in link per dev token. */
export function consoleLines(stack: Pick<EmbeddedStack, 'apiUrl' | 'tokens'>): string[] {
  return [
    `  console   ${stack.apiUrl}/   sign in with a link below (the token stays in the # fragment):`,
    ...stack.tokens
      .all()
      .map((t) => `    ${t.role.padEnd(10)} ${t.tenantId.padEnd(16)} ${stack.apiUrl}/#token=${t.token}`),
  ];
}

function s3Event(eventName: string, bucket: string, object: { key: string; size?: number; eTag?: string }) {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName,
        userIdentity: { principalId: 'EMBEDDED' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'EMBEDDED', 'x-amz-id-2': 'EMBEDDED' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'embedded',
          bucket: { name: bucket, ownerIdentity: { principalId: 'EMBEDDED' }, arn: `arn:aws:s3:::${bucket}` },
          object: {
            // S3 events carry URL-encoded keys; the handlers decode them.
            key: encodeURIComponent(object.key).replace(/%2F/g, '/'),
            size: object.size ?? 0,
            eTag: object.eTag ?? '',
            sequencer: Date.now().toString(16).toUpperCase(),
          },
        },
      },
    ],
  };
}

export type { DevToken };
