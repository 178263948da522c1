/**
 * The AWS SDK v3 clients, built once per process. In AWS they use the function's role; in the
 * embedded stack AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB point the very same clients at
 * s3rver and dynalite on loopback.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';

export interface AwsClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  secrets: SecretsManagerClient;
  sfn: SFNClient;
  lambda: LambdaClient;
}

let cached: AwsClients | undefined;

export function awsClients(env: NodeJS.ProcessEnv = process.env): AwsClients {
  if (cached) return cached;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  cached = {
    dynamodb: new DynamoDBClient({ region, maxAttempts: 5 }),
    // s3rver only speaks path-style addressing.
    s3: new S3Client({ region, forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3) }),
    secrets: new SecretsManagerClient({ region }),
    sfn: new SFNClient({ region }),
    lambda: new LambdaClient({ region }),
  };
  return cached;
}

/** Drops the cached clients (the embedded stack restarts on other ports in tests). */
export function resetAwsClients(): void {
  cached?.dynamodb.destroy();
  cached?.s3.destroy();
  cached = undefined;
}
