/**
 * The storage half of the embedded stack: s3rver (S3 API) and dynalite (DynamoDB API) on loopback,
 * with the buckets and tables created from the same definitions the CDK app uses.
 */

import { fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import S3rver from 's3rver';
import { BUCKETS, TABLES, type TableDefinition } from '../shared/infra/definitions.ts';

export interface EmbeddedInfraOptions {
  /** Folder for s3rver objects, dynalite's LevelDB and the pepper file. */
  dataDir: string;
  /** Keep DynamoDB data in memory (tests) instead of LevelDB under dataDir. */
  inMemory?: boolean;
  /** Remove S3 objects when the stack stops (tests). */
  resetOnClose?: boolean;
  /** Name prefix, so two stacks never share a table or bucket name. */
  prefix?: string;
}

export interface EmbeddedInfra {
  s3Endpoint: string;
  dynamoEndpoint: string;
  s3Server: S3rver;
  /** Environment for the functions: names, endpoints, dummy credentials, the pepper file. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export const tableName = (prefix: string, def: TableDefinition) => `${prefix}-${def.id.toLowerCase()}`;
export const bucketName = (prefix: string, id: string) => `${prefix}-${id.toLowerCase()}`;

export async function startEmbeddedInfra(options: EmbeddedInfraOptions): Promise<EmbeddedInfra> {
  const prefix = options.prefix ?? 'onboard';
  mkdirSync(join(options.dataDir, 's3'), { recursive: true });

  const s3Server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: join(options.dataDir, 's3'),
    resetOnClose: options.resetOnClose ?? false,
    configureBuckets: Object.values(BUCKETS).map((b) => ({ name: bucketName(prefix, b.id) })),
  });
  const s3Address = await s3Server.run();

  const dynamo = await startDynalite(options.inMemory ? undefined : join(options.dataDir, 'dynamodb'));
  const dynamoPort = dynamo.port;

  const s3Endpoint = `http://127.0.0.1:${s3Address.port}`;
  const dynamoEndpoint = `http://127.0.0.1:${dynamoPort}`;
  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    PEPPER_FILE: join(options.dataDir, 'pepper.json'),
  };
  for (const def of Object.values(TABLES)) env[def.env] = tableName(prefix, def);
  for (const def of Object.values(BUCKETS)) env[def.env] = bucketName(prefix, def.id);

  await createTables(dynamoEndpoint, prefix);

  return {
    s3Endpoint,
    dynamoEndpoint,
    s3Server,
    env,
    async stop() {
      await s3Server.close();
      await dynamo.stop();
    },
  };
}

/** dynalite in a child process: DynamoDB work gets its own core, as it has in AWS. */
async function startDynalite(path: string | undefined): Promise<{ port: number; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL('./dynalite-process.mjs', import.meta.url)), path ? [path] : [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dynalite exited with code ${code}`)));
  });
  child.unref();
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        // Unreferenced while running (it must not keep a process alive), but awaited here: with
        // nothing else left the event loop would end before 'exit' and leave this await unsettled.
        child.ref();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function createTables(endpoint: string, prefix: string): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    const existing = new Set((await client.send(new ListTablesCommand({}))).TableNames ?? []);
    for (const def of Object.values(TABLES) as TableDefinition[]) {
      const name = tableName(prefix, def);
      if (existing.has(name)) continue;
      await client.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: def.partitionKey, AttributeType: 'S' },
            ...(def.sortKey ? [{ AttributeName: def.sortKey, AttributeType: 'S' as const }] : []),
          ],
          KeySchema: [
            { AttributeName: def.partitionKey, KeyType: 'HASH' },
            ...(def.sortKey ? [{ AttributeName: def.sortKey, KeyType: 'RANGE' as const }] : []),
          ],
        }),
      );
    }
  } finally {
    client.destroy();
  }
}
