/**
 * The AWS SDK v3 clients, built once per process and only when first used (a function that never
 * starts an execution never loads the Step Functions client). In AWS they use the function's role;
 * in the embedded stack AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB point the very same clients
 * at s3rver and dynalite on loopback.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';

export interface AwsClients {
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly secrets: SecretsManagerClient;
  readonly sfn: SFNClient;
  readonly lambda: LambdaClient;
}

let cached: Partial<{ -readonly [K in keyof AwsClients]: AwsClients[K] }> = {};

export function awsClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return {
    get dynamodb() {
      cached.dynamodb ??= new DynamoDBClient({ region, maxAttempts: 5 });
      return cached.dynamodb;
    },
    get s3() {
      // s3rver only speaks path-style addressing.
      cached.s3 ??= new S3Client({ region, forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3) });
      return cached.s3;
    },
    get secrets() {
      cached.secrets ??= new SecretsManagerClient({ region });
      return cached.secrets;
    },
    get sfn() {
      cached.sfn ??= new SFNClient({ region });
      return cached.sfn;
    },
    get lambda() {
      cached.lambda ??= new LambdaClient({ region });
      return cached.lambda;
    },
  };
}

/** Drops the cached clients (the embedded stack restarts on other ports in tests). */
export function resetAwsClients(): void {
  for (const client of Object.values(cached)) client?.destroy();
  cached = {};
}
